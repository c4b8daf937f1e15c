"""Hugging Face ``transformers``: a causal language model and its tokenizer, saved with
``save_pretrained`` (safetensors) and loaded offline, behind a text generator.

Save ``(model, tokenizer)`` (or ``{"model": ..., "tokenizer": ...}``) with
``flavor="transformers"``. The loaded predictor's ``predict`` takes a ``prompt`` column and
returns a ``completion`` column; :meth:`TextGenerator.stream` yields the completion piece by
piece, one model step per piece, so a consumer that stops pulling stops the generation (what
``mloop serve`` does when a streaming client disconnects).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mloop.errors import InvalidArgument
from mloop.models._flavor import Flavor, ModelFiles, Predictor, Wrapper
from mloop.models._generation import Generation, TextDecoder

if TYPE_CHECKING:
    from mloop.models._genbatch import BatchedGenerator

__all__ = ["Generation", "TextDecoder", "TextGenerator", "TransformersFlavor"]


class TextGenerator(Wrapper):
    """A causal LM and its tokenizer: greedy (``temperature=0``) or sampled generation."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        import torch

        self._torch = torch
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self._batcher: BatchedGenerator | None = None
        self._batcher_lock = threading.Lock()

    def chat_prompt(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Chat messages as one prompt: the tokenizer's chat template when it has one, else
        ``role: content`` lines and ``assistant:``."""
        if getattr(self.tokenizer, "chat_template", None):
            text: str = self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=True
            )
            return text
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join([*lines, "assistant:"])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int = 16,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        info: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        """Yield the completion's text piece by piece; ``info`` (when given) receives
        ``prompt_tokens``, ``completion_tokens`` and ``finish_reason`` as they become known."""
        torch = self._torch
        if max_tokens < 1:
            raise InvalidArgument("max_tokens must be at least 1")
        if temperature < 0 or not 0 < top_p <= 1:
            raise InvalidArgument("temperature must be >= 0 and top_p in (0, 1]")
        info = {} if info is None else info
        ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"]
        if ids.shape[1] == 0:
            ids = torch.tensor([[self.eos_id if self.eos_id is not None else 0]])
        info.update(prompt_tokens=int(ids.shape[1]), completion_tokens=0, finish_reason="length")
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        decoder = self.decoder(stop)
        past = None
        step_ids = ids
        limit = getattr(self.model.config, "n_positions", None) or getattr(
            self.model.config, "max_position_embeddings", 1 << 30
        )
        # No `with inference_mode()` around the loop: a consumer may resume this generator on
        # another thread (a server's thread pool), and the mode is per thread. Each step is its
        # own block.
        for _ in range(max_tokens):
            if ids.shape[1] + len(decoder.tokens) >= limit:
                break
            with torch.inference_mode():
                result = self.model(input_ids=step_ids, past_key_values=past, use_cache=True)
                past = result.past_key_values
                token = self._pick(result.logits[0, -1], temperature, top_p, gen)
            if token == self.eos_id:
                info["finish_reason"] = "stop"
                break
            piece, stopped = decoder.push(token)
            info["completion_tokens"] = len(decoder.tokens)
            step_ids = torch.tensor([[token]])
            if stopped:
                info["finish_reason"] = "stop"
            if piece:
                yield piece
            if stopped:
                break

    def decoder(self, stop: Sequence[str] = ()) -> TextDecoder:
        """An incremental decoder of one completion (tokens in, new text out)."""
        return TextDecoder(self.tokenizer, stop)

    def batched(self, *, max_batch_size: int = 32, max_waiting: int = 256) -> BatchedGenerator:
        """A continuous-batching loop over this model (what ``mloop serve`` generates with):
        concurrent requests share each model step; see :mod:`mloop.models._genbatch`."""
        from mloop.models._genbatch import BatchedGenerator

        return BatchedGenerator(self, max_batch_size=max_batch_size, max_waiting=max_waiting)

    def shared_batcher(
        self, *, max_batch_size: int = 32, max_waiting: int = 256
    ) -> BatchedGenerator:
        """The model's one continuous-batching loop, made on first use with these settings and
        returned after (a server's requests share it)."""
        with self._batcher_lock:
            if self._batcher is None:
                self._batcher = self.batched(max_batch_size=max_batch_size, max_waiting=max_waiting)
            return self._batcher

    def _pick(self, logits: Any, temperature: float, top_p: float, gen: Any) -> int:
        torch = self._torch
        if temperature == 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        if top_p < 1:
            sorted_p, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_p, 0) - sorted_p < top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
        return int(torch.multinomial(probs, 1, generator=gen))

    def generate(self, prompt: str, **options: Any) -> Generation:
        """The whole completion at once (see :meth:`stream` for the options)."""
        info: dict[str, Any] = {}
        text = "".join(self.stream(prompt, info=info, **options))
        return Generation(
            text, info["prompt_tokens"], info["completion_tokens"], info["finish_reason"]
        )

    def predict(self, data: Any) -> Any:
        if isinstance(data, pd.DataFrame):
            if "prompt" not in data.columns:
                raise InvalidArgument("a text generation model takes a 'prompt' column")
            prompts = [str(p) for p in data["prompt"]]
        else:
            prompts = [str(p) for p in data]
        return pd.DataFrame({"completion": [self.generate(p).text for p in prompts]})


class TransformersFlavor(Flavor):
    """A ``transformers`` causal LM with its tokenizer (``flavor="transformers"``)."""

    name = "transformers"
    packages = ("transformers", "torch", "safetensors", "tokenizers")

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options, ())
        lm: Any
        tokenizer: Any
        if isinstance(model, Mapping):
            lm, tokenizer = model.get("model"), model.get("tokenizer")  # checked below
        elif isinstance(model, tuple) and len(model) == 2:
            lm, tokenizer = model
        else:
            raise InvalidArgument(
                "the transformers flavor saves (model, tokenizer) or "
                "{'model': ..., 'tokenizer': ...}"
            )
        if not callable(getattr(lm, "save_pretrained", None)) or not callable(
            getattr(tokenizer, "save_pretrained", None)
        ):
            raise InvalidArgument(
                "the transformers flavor needs a transformers model and tokenizer "
                "(objects with save_pretrained)"
            )
        lm.save_pretrained(str(path / "model"), safe_serialization=True)
        tokenizer.save_pretrained(str(path / "tokenizer"))
        return {"model": "model", "tokenizer": "tokenizer", "task": "text-generation"}

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_dir = files.path(self._option(options, "model"))
        tok_dir = files.path(self._option(options, "tokenizer"))
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
        lm = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
        return TextGenerator(lm, tokenizer)
