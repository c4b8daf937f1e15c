"""The traces half of the ``Store`` interface: spans of LLM applications, searchable traces.

A span arrives as a plain mapping (see :data:`SPAN_FIELDS`), written in batches by the
background writer; the root span (no ``parent_id``) closes its trace, whose summary row (status,
latency, token and cost totals, the run and the served model version) is what searches read.
Writes are idempotent: a span written twice (a retried batch) is stored once.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import Field

from mloop.errors import InvalidArgument
from mloop.store._checks import check_count, check_int
from mloop.store._entities import _Record

#: The most spans one write takes.
MAX_SPANS = 50_000
#: The most traces one search returns.
MAX_TRACES = 10_000
#: The largest ``inputs``, ``outputs`` or ``attributes`` of a span, as JSON text.
MAX_SPAN_JSON = 1_000_000
SPAN_STATUSES = frozenset({"OK", "ERROR"})
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")

#: The keys of a span mapping; ``inputs``, ``outputs`` and ``attributes`` are JSON text or None.
SPAN_FIELDS = (
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "kind",
    "status",
    "start_us",
    "end_us",
    "inputs",
    "outputs",
    "attributes",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "run_id",
    "model_name",
    "model_version",
)


class Span(_Record):
    """One timed operation of a trace."""

    trace_id: str
    span_id: str
    parent_id: str | None = None
    name: str
    kind: str = "function"
    status: str = "OK"
    start_us: int = Field(description="start, in microseconds since the epoch")
    end_us: int
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None

    @property
    def duration_ms(self) -> float:
        return (self.end_us - self.start_us) / 1000.0


class Trace(_Record):
    """A finished trace: its root span's name, status and timing, and totals over its spans.
    :meth:`Store.get_trace` also fills ``spans`` (in start order)."""

    trace_id: str
    name: str
    status: str
    start_us: int
    duration_us: int
    run_id: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    span_count: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    spans: list[Span] = Field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return self.duration_us / 1000.0


def _opt_text(d: Mapping[str, Any], key: str, limit: int, i: int) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or len(v) > limit:
        raise InvalidArgument(f"span #{i}: {key} must be a string of at most {limit} characters")
    return v


def _opt_json(d: Mapping[str, Any], key: str, i: int) -> str | None:
    v = _opt_text(d, key, MAX_SPAN_JSON, i)
    if v is not None:
        try:
            orjson.loads(v)
        except orjson.JSONDecodeError:
            raise InvalidArgument(f"span #{i}: {key} must be JSON text") from None
    return v


def check_span(d: Any, i: int = 0) -> dict[str, Any]:
    """Validate one span mapping; returns it with every key of :data:`SPAN_FIELDS`."""
    if not isinstance(d, Mapping):
        raise InvalidArgument(f"span #{i} must be a mapping, got {type(d).__name__}")
    unknown = set(d) - set(SPAN_FIELDS)
    if unknown:
        raise InvalidArgument(f"span #{i} has unknown keys {sorted(unknown)}")
    trace_id, span_id, parent = d.get("trace_id"), d.get("span_id"), d.get("parent_id")
    if not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
        raise InvalidArgument(f"span #{i}: trace_id must be 32 lowercase hex digits")
    if not isinstance(span_id, str) or not _SPAN_ID.match(span_id):
        raise InvalidArgument(f"span #{i}: span_id must be 16 lowercase hex digits")
    if parent is not None and (not isinstance(parent, str) or not _SPAN_ID.match(parent)):
        raise InvalidArgument(f"span #{i}: parent_id must be 16 lowercase hex digits or null")
    name = d.get("name")
    if not isinstance(name, str) or not name or len(name) > 256:
        raise InvalidArgument(f"span #{i}: name must be 1 to 256 characters")
    status = d.get("status", "OK")
    if status not in SPAN_STATUSES:
        raise InvalidArgument(f"span #{i}: status must be one of {sorted(SPAN_STATUSES)}")
    start = check_int(d.get("start_us"), f"start_us of span #{i}")
    end = check_int(d.get("end_us"), f"end_us of span #{i}")
    if end < start:
        raise InvalidArgument(f"span #{i} ends before it starts")
    tokens = {
        k: None if d.get(k) is None else check_count(d.get(k), f"{k} of span #{i}")
        for k in ("prompt_tokens", "completion_tokens")
    }
    cost = d.get("cost")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float)):
        raise InvalidArgument(f"span #{i}: cost must be a number")
    version = d.get("model_version")
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_id": parent,
        "name": name,
        "kind": _opt_text(d, "kind", 32, i) or "function",
        "status": status,
        "start_us": start,
        "end_us": end,
        "inputs": _opt_json(d, "inputs", i),
        "outputs": _opt_json(d, "outputs", i),
        "attributes": _opt_json(d, "attributes", i),
        "error": _opt_text(d, "error", 100_000, i),
        **tokens,
        "cost": None if cost is None else float(cost),
        "run_id": _opt_text(d, "run_id", 32, i),
        "model_name": _opt_text(d, "model_name", 256, i),
        "model_version": None if version is None else check_count(version, "model_version"),
    }


class TraceStore(ABC):
    """Spans and traces."""

    def log_spans(self, spans: Sequence[Mapping[str, Any]]) -> None:
        """Store finished spans; a root span (``parent_id`` None) also stores its trace.

        Raises:
            InvalidArgument: a malformed span, or more than :data:`MAX_SPANS`.
        """
        if len(spans) > MAX_SPANS:
            raise InvalidArgument(f"one write takes at most {MAX_SPANS} spans")
        self._log_spans([check_span(s, i) for i, s in enumerate(spans)])

    def search_traces(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        status: str | None = None,
        model_name: str | None = None,
        model_version: int | None = None,
        min_duration_ms: float | None = None,
        max_duration_ms: float | None = None,
        limit: int = 100,
    ) -> list[Trace]:
        """Finished traces, newest first, filtered by what is given (all conditions hold)."""
        if status is not None and status not in SPAN_STATUSES:
            raise InvalidArgument(f"status must be one of {sorted(SPAN_STATUSES)}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_TRACES:
            raise InvalidArgument(f"limit must be 1 to {MAX_TRACES}")
        for v, what in ((min_duration_ms, "min_duration_ms"), (max_duration_ms, "max_duration_ms")):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0):
                raise InvalidArgument(f"{what} must be a non-negative number")
        return self._search_traces(
            {
                "run_id": run_id,
                "name": name,
                "status": status,
                "model_name": model_name,
                "model_version": model_version,
                "min_us": None if min_duration_ms is None else int(min_duration_ms * 1000),
                "max_us": None if max_duration_ms is None else int(max_duration_ms * 1000),
            },
            limit,
        )

    def get_trace(self, trace_id: str) -> Trace:
        """A trace with its spans. Raises: TraceNotFound."""
        if not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
            raise InvalidArgument("a trace id is 32 lowercase hex digits")
        return self._get_trace(trace_id)

    @abstractmethod
    def _log_spans(self, spans: list[dict[str, Any]]) -> None: ...

    @abstractmethod
    def _search_traces(self, where: dict[str, Any], limit: int) -> list[Trace]: ...

    @abstractmethod
    def _get_trace(self, trace_id: str) -> Trace: ...


def span_from_row(row: Mapping[str, Any]) -> Span:
    """A :class:`Span` from a stored row (JSON columns decoded)."""
    d = dict(row)
    for k in ("inputs", "outputs"):
        d[k] = None if d.get(k) is None else orjson.loads(d[k])
    d["attributes"] = {} if d.get("attributes") is None else orjson.loads(d["attributes"])
    return Span(**{k: d[k] for k in Span.model_fields if k in d})
