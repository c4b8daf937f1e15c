"""Tracing: ``@mloop.trace`` and ``with mloop.start_span(...)``.

Spans nest through a context variable, so a span started inside another (in the same thread or
asyncio task, or a task created inside it) becomes its child. A finished span is one tuple
appended to the background writer of the store, the same bounded, batched queue metrics take
(:mod:`mloop.tracking._writer`): the caller's thread pays for timing, ids and serializing the
inputs and outputs, never for the database. Tracing never raises into the traced code: a span
that cannot be stored is logged and dropped, and a failure of the traced code is recorded on
its span (status ``ERROR``, the exception) and raised unchanged.

The root span of a trace records the active run, and the served model version when one is
bound (:func:`bind_model_version`, which ``mloop serve`` uses), so traces can be searched by
run and by version.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar, overload

import orjson

from mloop.errors import InvalidArgument, MloopError
from mloop.store._context import current
from mloop.tracking._writer import SPAN, AsyncWriter

log = logging.getLogger("mloop.genai")

F = TypeVar("F", bound=Callable[..., Any])

_ORJSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_rand = random.Random()
_time_ns = time.time_ns


def _fallback(obj: Any) -> Any:
    """What orjson cannot encode natively: pydantic models, objects with ``to_dict``, else
    ``repr`` (a trace is for reading, not for reloading)."""
    dump = getattr(obj, "model_dump", None) or getattr(obj, "to_dict", None)
    if callable(dump):
        try:
            return dump()
        except Exception:  # an object whose dump needs arguments: show it as text
            pass
    return repr(obj)[:10_000]


def to_json(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value, default=_fallback, option=_ORJSON_OPTS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps(repr(value)[:10_000]).decode()


class _TraceState:
    """What a trace's spans share: where they go, the run and the served version."""

    __slots__ = ("model_name", "model_version", "run_id", "trace_id", "writer")

    def __init__(
        self,
        trace_id: str,
        writer: AsyncWriter | None,
        run_id: str | None,
        model: tuple[str, int] | None,
    ) -> None:
        self.trace_id = trace_id
        self.writer = writer
        self.run_id = run_id
        self.model_name: str | None = None if model is None else model[0]
        self.model_version: int | None = None if model is None else model[1]


_current: ContextVar[LiveSpan | None] = ContextVar("mloop_span", default=None)
_model: ContextVar[tuple[str, int] | None] = ContextVar("mloop_served_model", default=None)
#: Where finished spans go besides the store (an OpenTelemetry exporter, tests); called on the
#: caller's thread with the span mapping, so keep them cheap.
_listeners: list[Callable[[dict[str, Any]], None]] = []


_last: tuple[object, AsyncWriter] | None = None


def _writer() -> AsyncWriter | None:
    """The writer of the current store; the last one is kept, since a root span per call must
    not pay for finding it again."""
    global _last
    ctx = current()
    last = _last
    if last is not None and last[0] is ctx and not last[1]._closed:
        return last[1]
    from mloop.tracking._client import _backend

    try:
        writer = _backend(ctx.settings)[1]
    except MloopError as exc:
        log.warning("mloop: tracing is off, the store cannot be opened: %s", exc)
        return None
    _last = (ctx, writer)
    return writer


def _active_run_id() -> str | None:
    from mloop.tracking._fluent import _stack  # loaded with the writer, so already imported

    stack = _stack()
    return stack[-1].run_id if stack else None


class LiveSpan:
    """A span being recorded; what ``start_span`` yields and ``current_span()`` returns.

    Set what is known while it runs: :meth:`set_inputs`, :meth:`set_outputs`,
    :meth:`set_attributes`, :meth:`set_usage` (token counts and cost).
    """

    __slots__ = (
        "_reset",
        "_state",
        "attributes",
        "completion_tokens",
        "cost",
        "error",
        "inputs",
        "kind",
        "name",
        "outputs",
        "parent_id",
        "prompt_tokens",
        "span_id",
        "start_us",
        "status",
    )

    def __init__(
        self, name: str, kind: str, inputs: Any, attributes: Mapping[str, Any] | None
    ) -> None:
        self.span_id: str = f"{_rand.getrandbits(64):016x}"
        parent = _current.get()
        if parent is None:
            self._state = _TraceState(
                f"{_rand.getrandbits(128):032x}", _writer(), _active_run_id(), _model.get()
            )
            self.parent_id: str | None = None
        else:
            self._state = parent._state
            self.parent_id = parent.span_id
        self.name = name
        self.kind = kind
        self.inputs = inputs
        self.outputs: Any = None
        self.attributes: dict[str, Any] | None = dict(attributes) if attributes else None
        self.status = "OK"
        self.error: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cost: float | None = None
        self._reset: Any = _current.set(self)
        self.start_us = _time_ns() // 1000

    @property
    def trace_id(self) -> str:
        return self._state.trace_id

    def set_inputs(self, inputs: Any) -> None:
        self.inputs = inputs

    def set_outputs(self, outputs: Any) -> None:
        self.outputs = outputs

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self.attributes is None:
            self.attributes = {}
        self.attributes.update(attributes)

    def set_usage(
        self,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost: float | None = None,
    ) -> None:
        """Token counts and cost (in any currency, consistently) of this span's model call."""
        if prompt_tokens is not None:
            self.prompt_tokens = int(prompt_tokens)
        if completion_tokens is not None:
            self.completion_tokens = int(completion_tokens)
        if cost is not None:
            self.cost = float(cost)

    def record_exception(self, exc: BaseException) -> None:
        self.status = "ERROR"
        self.error = f"{type(exc).__name__}: {exc}"[:100_000]

    def detach(self) -> None:
        """Stop being the current span in this context (children started afterwards go to its
        parent), while it stays open: for a span that ends later elsewhere, such as a stream."""
        token, self._reset = self._reset, None
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:  # another context than it started in: leave that one be
                pass

    def end(self) -> None:
        """Finish the span and queue it for the store (``with`` and ``@trace`` call this)."""
        end_us = _time_ns() // 1000
        self.detach()
        state = self._state
        record = {
            "trace_id": state.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "start_us": self.start_us,
            "end_us": end_us,
            "inputs": to_json(self.inputs),
            "outputs": to_json(self.outputs),
            "attributes": to_json(self.attributes),
            "error": self.error,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "run_id": state.run_id,
            "model_name": state.model_name,
            "model_version": state.model_version,
        }
        for listener in _listeners:
            try:
                listener(record)
            except Exception:
                log.exception("mloop: a span listener failed")
        writer = state.writer
        if writer is not None:
            try:
                writer.put((SPAN, record))
            except MloopError as exc:
                log.warning("mloop: a span was not stored: %s", exc)

    def __enter__(self) -> LiveSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.record_exception(exc)
        self.end()


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"a span name must be a non-empty string, got {name!r:.60}")
    return name[:256]


def start_span(
    name: str,
    *,
    kind: str = "function",
    inputs: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> LiveSpan:
    """Start a span; use it as a context manager. Inside another span it is that span's child.

    Args:
        name: what the span does (``"retrieve"``, ``"llm"``).
        kind: ``function``, ``llm``, ``chat``, ``retriever``, ``tool``, ... (free text).
        inputs, attributes: recorded on the span; more can be set while it runs.

    Example::

        with mloop.start_span("retrieve", kind="retriever", inputs={"q": q}) as span:
            docs = index.search(q)
            span.set_outputs([d.id for d in docs])
    """
    return LiveSpan(_check_name(name), kind, inputs, attributes)


def current_span() -> LiveSpan | None:
    """The innermost span being recorded in this context, or None."""
    return _current.get()


@contextmanager
def bind_model_version(name: str, version: int) -> Iterator[None]:
    """Traces started inside record ``name`` and ``version`` as the served model version."""
    token = _model.set((name, int(version)))
    try:
        yield
    finally:
        _model.reset(token)


def _inputs_of(names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # A zip over the parameter names costs far less than inspect's bind() per call.
    inputs = dict(zip(names, args, strict=False))
    if len(args) > len(names):
        inputs["*args"] = list(args[len(names) :])
    if kwargs:
        inputs.update(kwargs)
    return inputs


@overload
def trace(func: F, /) -> F: ...


@overload
def trace(
    *, name: str | None = None, kind: str = "function", attributes: Mapping[str, Any] | None = None
) -> Callable[[F], F]: ...


def trace(
    func: Any = None,
    /,
    *,
    name: str | None = None,
    kind: str = "function",
    attributes: Mapping[str, Any] | None = None,
) -> Any:
    """Trace every call of a function (plain or ``async``): a span with its arguments as inputs,
    its return value as outputs, its time and, if it raises, the exception.

    Example::

        @mloop.trace
        def answer(question: str) -> str: ...

        @mloop.trace(name="llm", kind="llm")
        async def complete(prompt: str) -> str: ...
    """

    def decorate(fn: F) -> F:
        span_name = _check_name(name or getattr(fn, "__name__", None) or repr(fn))
        try:
            names = tuple(
                p.name
                for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            )
        except (TypeError, ValueError):
            names = ()

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                span = LiveSpan(span_name, kind, _inputs_of(names, args, kwargs), attributes)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    span.record_exception(exc)
                    span.end()
                    raise
                span.outputs = result
                span.end()
                return result

            return awrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            span = LiveSpan(span_name, kind, _inputs_of(names, args, kwargs), attributes)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                span.record_exception(exc)
                span.end()
                raise
            span.outputs = result
            span.end()
            return result

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate


def add_span_listener(listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Call ``listener(span_mapping)`` for every finished span (an exporter); returns a function
    that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def search_traces(**filters: Any) -> list[Any]:
    """Finished traces of the current store, newest first; see ``Store.search_traces``.

    Spans are written in the background: call ``mloop.flush()`` first to see the latest.
    """
    return current().store.search_traces(**filters)


def get_trace(trace_id: str) -> Any:
    """A trace with its spans, from the current store. Raises: TraceNotFound."""
    return current().store.get_trace(trace_id)
