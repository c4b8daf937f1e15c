"""``/api/v1/genai`` routes: spans written by tracing clients, traces searched and read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mloop._web._errors import ERROR_RESPONSES
from mloop.server._tracking import StoreDep, _Body
from mloop.store._traces_base import MAX_SPANS, MAX_TRACES, SPAN_FIELDS, Trace

_MAX_DURATION_MS = 9_000_000_000_000  # about 285 years
router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


class LogSpansBody(_Body):
    spans: list[dict[str, Any]] = Field(
        max_length=MAX_SPANS,
        description=f"finished spans (at most {MAX_SPANS}); each has the keys "
        f"{', '.join(SPAN_FIELDS)}; inputs, outputs and attributes are JSON text",
    )


class LogSpansResult(BaseModel):
    count: int


class TracePage(BaseModel):
    traces: list[Trace]


@router.post("/genai/spans", status_code=201, tags=["genai"])
def log_spans(body: LogSpansBody, store: StoreDep) -> LogSpansResult:
    """Store spans in one transaction; a root span (no ``parent_id``) also stores its trace.
    Idempotent: a span sent again is stored once."""
    store.log_spans(body.spans)
    return LogSpansResult(count=len(body.spans))


# finite, and small enough that microseconds fit in 64 bits
_DURATION = Query(ge=0, le=_MAX_DURATION_MS, allow_inf_nan=False, description="milliseconds")


@router.get("/genai/traces", tags=["genai"])
def search_traces(
    store: StoreDep,
    run_id: Annotated[str | None, Query(description="traces of this run")] = None,
    name: Annotated[str | None, Query(description="root span name")] = None,
    status: Annotated[str | None, Query(description="OK or ERROR")] = None,
    model_name: Annotated[str | None, Query(description="served model name")] = None,
    model_version: Annotated[
        int | None, Query(ge=1, lt=2**63, description="served model version")
    ] = None,
    min_duration_ms: Annotated[float | None, _DURATION] = None,
    max_duration_ms: Annotated[float | None, _DURATION] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACES)] = 100,
) -> TracePage:
    """Finished traces, newest first; every filter given must hold."""
    return TracePage(
        traces=store.search_traces(
            run_id=run_id,
            name=name,
            status=status,
            model_name=model_name,
            model_version=model_version,
            min_duration_ms=min_duration_ms,
            max_duration_ms=max_duration_ms,
            limit=limit,
        )
    )


@router.get("/genai/traces/{trace_id}", tags=["genai"])
def get_trace(trace_id: str, store: StoreDep) -> Trace:
    """A trace with its spans in start order (404 while its root span is not stored yet)."""
    return store.get_trace(trace_id)
