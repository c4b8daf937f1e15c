"""Continuous (iteration-level) batching of text generations for one causal LM.

One loop thread owns the model. At every step boundary it admits waiting requests (up to
``max_batch_size`` sequences in flight): their prompts are prefilled together, left-padded, and
their key/value caches joined to the running batch's (left-padded to a common length, so every
sequence's newest token sits in the last column). Then one decode step runs over every active
sequence at once, with an attention mask that hides the padding and position ids counted per
sequence, so a sequence's logits are those it would have alone. A sequence leaves the batch the
step it finishes (end token, stop sequence, ``max_tokens``, the model's context) or is
cancelled (a client that disconnected); cache columns no remaining sequence uses are dropped.

Each request has its own temperature, top-p, seed, stop sequences and ``max_tokens``; greedy
requests (``temperature=0``) pick the same tokens as :meth:`TextGenerator.stream` alone.
Pieces of text go to the request's consumer as they are decoded: a blocking iterator, or an
asyncio queue when the request was submitted with an event loop.

Backpressure: at most ``max_waiting`` requests wait for a place in the batch; one more is
refused with :class:`~mloop.errors.ServerBusy` (HTTP 503) rather than queued without bound.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from mloop.errors import InvalidArgument, ServerBusy
from mloop.models._generation import Generation, StepModel

__all__ = ["BatchedGenerator", "GenerationHandle"]

logger = logging.getLogger("mloop.serve.generate")

_END = object()


class GenerationHandle:
    """One submitted generation: its pieces of text as they come, its token counts and finish
    reason in :attr:`info`, and :meth:`cancel`."""

    def __init__(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: Sequence[str],
        seed: int | None,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.stop = [s for s in stop if s]
        self.seed = seed
        #: ``prompt_tokens``, ``completion_tokens``, ``finish_reason`` as they become known.
        self.info: dict[str, Any] = {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "finish_reason": "length",
        }
        self.cancelled = threading.Event()
        self._loop = loop
        self._aqueue: asyncio.Queue[Any] | None = asyncio.Queue() if loop is not None else None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done = False

    def cancel(self) -> None:
        """Stop generating: the sequence leaves the batch at the next step boundary."""
        self.cancelled.set()

    # -- the loop thread's side
    def _put(self, item: Any, outbox: _Outbox | None = None) -> None:
        """Send ``item`` now, or through ``outbox`` (one wake-up of each event loop per step
        rather than one per token)."""
        if self._done:
            return
        if item is _END or isinstance(item, BaseException):
            self._done = True
        if self._loop is None:
            self._queue.put(item)
        elif outbox is not None:
            outbox.setdefault(self._loop, []).append((self, item))
        else:
            _send(self._loop, [(self, item)])

    # -- the consumer's side
    def __iter__(self) -> Iterator[str]:
        """The pieces, blocking (for a handle submitted without an event loop)."""
        if self._loop is not None:
            raise RuntimeError("this generation was submitted for asyncio: use aiter()")
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def aiter(self) -> AsyncIterator[str]:
        """The pieces, for a handle submitted with an event loop. Pieces that arrived while
        the consumer was busy come joined as one (fewer, larger chunks when it lags)."""
        queue_ = self._aqueue
        if queue_ is None:
            raise RuntimeError("this generation was submitted without an event loop")
        last: Any = None  # the end (or an error) found while joining pieces
        while last is None:
            item = await queue_.get()
            parts: list[str] = []
            while isinstance(item, str):
                parts.append(item)
                if queue_.empty():
                    item = None
                    break
                item = queue_.get_nowait()
            last = item
            if parts:
                yield "".join(parts)
        if isinstance(last, BaseException):
            raise last

    def result(self) -> Generation:
        """The whole completion (blocking; for a handle submitted without an event loop)."""
        text = "".join(self)
        return Generation(
            text,
            self.info["prompt_tokens"],
            self.info["completion_tokens"],
            self.info["finish_reason"],
        )


#: Items for handles of asyncio consumers, by event loop, sent once a step.
_Outbox = dict[asyncio.AbstractEventLoop, list[tuple[GenerationHandle, Any]]]


def _send(loop: asyncio.AbstractEventLoop, items: list[tuple[GenerationHandle, Any]]) -> None:
    try:
        loop.call_soon_threadsafe(_deliver, items)
    except RuntimeError:  # the consumer's event loop is closed: nobody listens any more
        for handle, _ in items:
            handle.cancel()


def _deliver(items: list[tuple[GenerationHandle, Any]]) -> None:
    """On the consumers' event loop: queue each item for its handle."""
    for handle, item in items:
        assert handle._aqueue is not None
        handle._aqueue.put_nowait(item)


class _Seq:
    """A sequence in the batch: its handle, sampler and the text decoded so far."""

    __slots__ = ("decoder", "gen", "handle", "last", "length")

    def __init__(self, handle: GenerationHandle, decoder: Any, gen: Any, length: int) -> None:
        self.handle = handle
        self.decoder = decoder
        self.gen = gen
        self.length = length  # real tokens (prompt and generated) in the cache after the step
        self.last = 0  # the token to feed next


class BatchedGenerator:
    """The continuous-batching loop of one :class:`TextGenerator`.

    Args:
        generator: the model and tokenizer.
        max_batch_size: the most sequences decoded together (1: one at a time).
        max_waiting: the most requests waiting for a place; more are refused (``ServerBusy``).
        idle_s: the loop thread ends after this long with nothing to do (it starts again with
            the next request), so an unused model holds no thread.
    """

    def __init__(
        self,
        generator: StepModel,
        *,
        max_batch_size: int = 32,
        max_waiting: int = 256,
        idle_s: float = 30.0,
    ) -> None:
        if max_batch_size < 1:
            raise InvalidArgument(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_waiting < 0:
            raise InvalidArgument(f"max_waiting must be >= 0, got {max_waiting}")
        import torch

        self._torch = torch
        self.generator = generator
        self.max_batch_size = max_batch_size
        self.max_waiting = max_waiting
        self._idle_s = idle_s
        self._lock = threading.Condition()
        self._waiting: collections.deque[GenerationHandle] = collections.deque()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._active: list[_Seq] = []
        #: Whether the model's cache can be joined and split (known after the first prefill;
        #: until then, and for caches that cannot, one sequence at a time).
        self._batchable: bool | None = None
        self._admitting = 0  # taken from the queue, being prefilled (counted as in the batch)
        #: The most sequences decoded together so far.
        self.peak_batch = 0
        self._cache: Any = None
        self._mask: Any = None  # [B, T] over the cache's columns: 1 where a real token is
        config = generator.model.config
        self._limit = int(
            getattr(config, "n_positions", None)
            or getattr(config, "max_position_embeddings", None)
            or 1 << 30
        )
        eos = generator.eos_id
        self._pad_id = int(eos) if eos is not None else 0
        # Prefill needs the last position's logits only (not a [batch, prompt, vocab] tensor).
        params = inspect.signature(generator.model.forward).parameters
        self._last_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}

    # -- public
    def submit(
        self,
        prompt: str,
        *,
        max_tokens: int = 16,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> GenerationHandle:
        """Queue a generation; its pieces come through the handle (an asyncio queue when
        ``loop`` is given, else a blocking iterator).

        Raises:
            InvalidArgument: ``max_tokens`` below 1, a negative temperature, top_p outside (0, 1].
            ServerBusy: ``max_waiting`` requests are already waiting.
        """
        if max_tokens < 1:
            raise InvalidArgument("max_tokens must be at least 1")
        if temperature < 0 or not 0 < top_p <= 1:
            raise InvalidArgument("temperature must be >= 0 and top_p in (0, 1]")
        handle = GenerationHandle(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop,
            seed=seed,
            loop=loop,
        )
        with self._lock:
            if self._closed:
                raise ServerBusy("the model is being unloaded; retry")
            busy = len(self._active) + self._admitting
            if len(self._waiting) >= self.max_waiting + max(0, self.max_batch_size - busy):
                raise ServerBusy(
                    f"{len(self._waiting)} generations are waiting for this model (the most "
                    f"is {self.max_waiting}); retry later",
                    details={"waiting": len(self._waiting), "max_waiting": self.max_waiting},
                )
            self._waiting.append(handle)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mloop-generate", daemon=True
                )
                self._thread.start()
            self._lock.notify()
        return handle

    def stats(self) -> dict[str, int]:
        """Sequences in the batch, requests waiting, the largest batch so far (a snapshot)."""
        with self._lock:
            return {
                "active": len(self._active) + self._admitting,
                "waiting": len(self._waiting),
                "peak_batch": self.peak_batch,
            }

    def close(self) -> None:
        """Stop the loop: waiting and active generations end with ``ServerBusy``. A later
        :meth:`submit` starts it again."""
        with self._lock:
            self._closed = True
            self._lock.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        with self._lock:
            self._closed = False

    # -- the loop thread
    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._active and not self._waiting and not self._closed:
                        self._lock.wait(timeout=self._idle_s)
                    if self._closed or (not self._active and not self._waiting):
                        self._thread = None
                        break
                    most = self.max_batch_size if self._batchable else 1
                    room = most - len(self._active)
                    admitted = [
                        self._waiting.popleft() for _ in range(min(room, len(self._waiting)))
                    ]
                    self._admitting = len(admitted)
                try:
                    admitted = [h for h in admitted if not self._drop_cancelled(h)]
                    if admitted:
                        self._prefill(admitted)
                    with self._lock:
                        self._admitting = 0
                    gone = [i for i, s in enumerate(self._active) if self._drop_cancelled(s.handle)]
                    if gone:
                        self._keep([i for i in range(len(self._active)) if i not in set(gone)])
                    if self._active:
                        self._decode()
                except Exception as exc:  # the model failed: every sequence in flight fails
                    logger.exception("text generation failed")
                    for h in [*admitted, *(s.handle for s in self._active)]:
                        h._put(exc)
                    self._active, self._cache, self._mask = [], None, None
                    with self._lock:
                        self._admitting = 0
        finally:
            with self._lock:
                pending = [*self._waiting, *(s.handle for s in self._active)]
                if self._closed:
                    self._waiting.clear()
                    self._active = []
                    self._cache = self._mask = None
                    if self._thread is threading.current_thread():
                        self._thread = None
                else:
                    pending = []
            for h in pending:
                h._put(ServerBusy("the model was unloaded during the generation; retry"))

    def _drop_cancelled(self, handle: GenerationHandle) -> bool:
        if handle.cancelled.is_set():
            handle._put(_END)
            return True
        return False

    def _prefill(self, handles: list[GenerationHandle]) -> None:
        """Run the new prompts together, pick their first tokens, join them to the batch."""
        torch = self._torch
        gen = self.generator
        ids_list: list[list[int]] = []
        kept = []
        for h in handles:
            ids = list(gen.tokenizer(h.prompt)["input_ids"]) or [self._pad_id]
            h.info["prompt_tokens"] = len(ids)
            if len(ids) >= self._limit:  # no room for a token: as TextGenerator.stream does
                h._put(_END)
                continue
            ids_list.append(ids)
            kept.append(h)
        if not kept:
            return
        handles = kept
        width = max(len(ids) for ids in ids_list)
        input_ids = torch.full((len(handles), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(handles), width), dtype=torch.long)
        for i, ids in enumerate(ids_list):
            input_ids[i, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[i, width - len(ids) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = gen.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **self._last_only,
            )
        seqs = []
        if self._batchable is None:
            self._batchable = batchable(out.past_key_values)
        for i, h in enumerate(handles):
            sampler = None if h.seed is None else torch.Generator().manual_seed(h.seed)
            seqs.append(_Seq(h, gen.decoder(h.stop), sampler, len(ids_list[i])))
        self._join(seqs, out.past_key_values, mask)
        self._emit(out.logits[-len(handles) :, -1, :], first=len(self._active) - len(seqs))

    def _decode(self) -> None:
        """One step over every active sequence."""
        torch = self._torch
        last = torch.tensor([[s.last] for s in self._active], dtype=torch.long)
        positions = torch.tensor([[s.length] for s in self._active], dtype=torch.long)
        ones = torch.ones((len(self._active), 1), dtype=torch.long)
        mask = torch.cat([self._mask, ones], dim=1)
        with torch.inference_mode():
            out = self.generator.model(
                input_ids=last,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=self._cache,
                use_cache=True,
            )
        self._cache, self._mask = out.past_key_values, mask
        self.peak_batch = max(self.peak_batch, len(self._active))
        for s in self._active:
            s.length += 1
        self._emit(out.logits[:, -1, :], first=0)

    def _emit(self, logits: Any, *, first: int) -> None:
        """Pick the next token of sequences ``first..`` (one row of ``logits`` each), send
        their text, and remove those that finished."""
        torch = self._torch
        gen = self.generator
        greedy = torch.argmax(logits, dim=-1).tolist()
        finished: list[int] = []
        outbox: _Outbox = {}
        for row, index in enumerate(range(first, len(self._active))):
            s = self._active[index]
            h = s.handle
            if h.temperature == 0:
                token = int(greedy[row])
            else:
                token = gen._pick(logits[row], h.temperature, h.top_p, s.gen)
            if token == gen.eos_id:
                h.info["finish_reason"] = "stop"
                finished.append(index)
                continue
            piece, stopped = s.decoder.push(token)
            h.info["completion_tokens"] = len(s.decoder.tokens)
            if piece:
                h._put(piece, outbox)
            if stopped:
                h.info["finish_reason"] = "stop"
                finished.append(index)
            elif len(s.decoder.tokens) >= h.max_tokens or s.length + 1 >= self._limit:
                finished.append(index)  # finish_reason stays "length"
            else:
                s.last = token
        for index in finished:
            self._active[index].handle._put(_END, outbox)
        for loop, items in outbox.items():
            _send(loop, items)
        if finished:
            self._keep([i for i in range(len(self._active)) if i not in set(finished)])

    # -- the batch's cache
    def _join(self, seqs: list[_Seq], cache: Any, mask: Any) -> None:
        """Append ``seqs`` (with their prefill cache and mask) to the batch, left-padding the
        shorter side's cache so both end in the same column."""
        torch = self._torch
        if not self._active:
            self._active, self._cache, self._mask = list(seqs), cache, mask
            self.peak_batch = max(self.peak_batch, len(self._active))
            return
        old_len, new_len = self._mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)
        old_layers, new_layers = _layers(self._cache), _layers(cache)
        joined = []
        for (ok, ov), (nk, nv) in zip(old_layers, new_layers, strict=True):
            joined.append(
                (
                    torch.cat([_pad_left(ok, width - old_len), _pad_left(nk, width - new_len)]),
                    torch.cat([_pad_left(ov, width - old_len), _pad_left(nv, width - new_len)]),
                )
            )
        _set_layers(self._cache, joined)
        self._mask = torch.cat(
            [_pad_left(self._mask, width - old_len, dim=1), _pad_left(mask, width - new_len, dim=1)]
        )
        self._active.extend(seqs)
        self.peak_batch = max(self.peak_batch, len(self._active))

    def _keep(self, rows: list[int]) -> None:
        """Keep only sequences ``rows`` and drop cache columns none of them uses."""
        torch = self._torch
        if not rows:
            self._active, self._cache, self._mask = [], None, None
            return
        index = torch.tensor(rows, dtype=torch.long)
        mask = self._mask[index]
        used = mask.sum(dim=0).nonzero()
        start = int(used[0]) if len(used) else 0
        layers = [(k[index, :, start:, :], v[index, :, start:, :]) for k, v in _layers(self._cache)]
        _set_layers(self._cache, layers)
        self._mask = mask[:, start:]
        self._active = [self._active[i] for i in rows]


def _pad_left(tensor: Any, n: int, dim: int = -2) -> Any:
    if n == 0:
        return tensor
    import torch

    shape = list(tensor.shape)
    shape[dim] = n
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _layers(cache: Any) -> list[tuple[Any, Any]]:
    """The (keys, values) tensors of each layer of a ``DynamicCache`` ([B, heads, T, dim])."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    if hasattr(cache, "key_cache"):  # transformers before 4.56
        return list(zip(cache.key_cache, cache.value_cache, strict=True))
    return [(k, v) for k, v in cache]  # the legacy tuple of tuples


def _set_layers(cache: Any, layers: list[tuple[Any, Any]]) -> None:
    if getattr(cache, "layers", None) is not None:
        for layer, (k, v) in zip(cache.layers, layers, strict=True):
            layer.keys, layer.values = k, v
        return
    cache.key_cache[:] = [k for k, _ in layers]
    cache.value_cache[:] = [v for _, v in layers]


def batchable(cache: Any) -> bool:
    """Whether the batch can be joined and split along this cache (full-attention layers of
    growing tensors); other caches (sliding windows, linear attention) generate one by one."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return all(type(layer).__name__ == "DynamicLayer" for layer in layers)
    return hasattr(cache, "key_cache")
