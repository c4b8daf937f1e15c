"""Automatic tracing of the ``openai`` client: each ``chat.completions.create`` and
``completions.create`` call (sync or async, streaming or not) becomes an ``llm`` span with the
request (model, messages or prompt, parameters), the reply's text, the token usage and the
time; a streamed reply's span ends when the stream is consumed or closed.

``autolog_openai()`` patches the client's resource classes once per process;
``autolog_openai(disable=True)`` restores them.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from mloop.genai._tracing import LiveSpan, start_span

_PATCHED: dict[tuple[type, str], Callable[..., Any]] = {}
_INPUT_KEYS = ("model", "messages", "prompt", "temperature", "max_tokens", "top_p", "stop", "n")


def _inputs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs[k] for k in _INPUT_KEYS if k in kwargs}


def _finish(span: LiveSpan, reply: Any) -> None:
    usage = getattr(reply, "usage", None)
    if usage is not None:
        span.set_usage(
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )
    choices = getattr(reply, "choices", None) or []
    texts = []
    for c in choices:
        message = getattr(c, "message", None)
        texts.append(getattr(message, "content", None) if message is not None else c.text)
    span.set_outputs(texts[0] if len(texts) == 1 else texts)


def _chunk_text(chunk: Any) -> str:
    out = []
    for c in getattr(chunk, "choices", None) or []:
        delta = getattr(c, "delta", None)
        text = getattr(delta, "content", None) if delta is not None else getattr(c, "text", None)
        if text:
            out.append(text)
    return "".join(out)


class _Stream:
    """Wraps the client's stream: passes chunks through, ends the span at the end."""

    def __init__(self, stream: Any, span: LiveSpan) -> None:
        self._stream, self._span = stream, span
        self._parts: list[str] = []
        self._done = False

    def _chunk(self, chunk: Any) -> None:
        self._parts.append(_chunk_text(chunk))
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._span.set_usage(
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
            )

    def _end(self, exc: BaseException | None = None) -> None:
        if not self._done:
            self._done = True
            self._span.set_outputs("".join(self._parts))
            if exc is not None:
                self._span.record_exception(exc)
            self._span.end()

    def __iter__(self) -> Iterator[Any]:
        try:
            for chunk in self._stream:
                self._chunk(chunk)
                yield chunk
        except BaseException as exc:
            self._end(exc)
            raise
        self._end()

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            async for chunk in self._stream:
                self._chunk(chunk)
                yield chunk
        except BaseException as exc:
            self._end(exc)
            raise
        self._end()

    def close(self) -> None:
        self._end()
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _open_span(name: str, kwargs: dict[str, Any]) -> LiveSpan:
    return start_span(name, kind="llm", inputs=_inputs(kwargs))


def _wrap_sync(original: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        span = _open_span(name, kwargs)
        try:
            reply = original(self, *args, **kwargs)
        except BaseException as exc:
            span.record_exception(exc)
            span.end()
            raise
        if kwargs.get("stream"):
            span.detach()
            return _Stream(reply, span)
        _finish(span, reply)
        span.end()
        return reply

    return create


def _wrap_async(original: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        span = _open_span(name, kwargs)
        try:
            reply = await original(self, *args, **kwargs)
        except BaseException as exc:
            span.record_exception(exc)
            span.end()
            raise
        if kwargs.get("stream"):
            span.detach()
            return _Stream(reply, span)
        _finish(span, reply)
        span.end()
        return reply

    return create


def autolog_openai(*, disable: bool = False) -> None:
    """Trace every call of the ``openai`` client's chat and text completions (sync, async,
    streaming). Idempotent; ``disable=True`` undoes it.

    Raises:
        InvalidArgument: the ``openai`` package is not installed.

    Example::

        mloop.genai.autolog_openai()
        client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-")
        client.chat.completions.create(model="tiny", messages=[...])   # traced
    """
    try:
        from openai.resources import completions as text
        from openai.resources.chat.completions import completions as chat
    except ImportError as exc:
        from mloop.errors import InvalidArgument

        raise InvalidArgument(f"autolog_openai needs the openai package: {exc}") from None
    targets = [
        (chat.Completions, "chat.completions", False),
        (chat.AsyncCompletions, "chat.completions", True),
        (text.Completions, "completions", False),
        (text.AsyncCompletions, "completions", True),
    ]
    for cls, name, is_async in targets:
        key = (cls, "create")
        if disable:
            if key in _PATCHED:
                cls.create = _PATCHED.pop(key)  # type: ignore[attr-defined]
            continue
        if key in _PATCHED:
            continue
        original = cls.create  # type: ignore[attr-defined]
        _PATCHED[key] = original
        wrap = _wrap_async if is_async else _wrap_sync
        cls.create = wrap(original, f"openai.{name}")  # type: ignore[attr-defined]
