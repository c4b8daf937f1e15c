"""Tracing: nested spans through the background writer into the store, searched by run, status,
name and latency; the same on SQLite, PostgreSQL and over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import mloop
import mloop.store
from mloop.errors import InvalidArgument, TraceNotFound
from mloop.genai import bind_model_version, current_span, get_trace, search_traces


@mloop.trace
def retrieve(question: str, k: int = 2) -> list[str]:
    return [f"doc{i}" for i in range(k)]


@mloop.trace(name="llm", kind="llm", attributes={"model": "tiny"})
def complete(prompt: str) -> str:
    span = current_span()
    assert span is not None
    span.set_usage(prompt_tokens=len(prompt.split()), completion_tokens=3, cost=0.002)
    return "it is four"


@mloop.trace
def answer(question: str) -> str:
    docs = retrieve(question, k=3)
    return complete(f"{' '.join(docs)} {question}")


@mloop.trace
def broken(x: int) -> int:
    raise ValueError(f"bad {x}")


def test_nested_spans_are_stored_with_run_and_usage(mloop_home: Path) -> None:
    with mloop.start_run() as run:
        assert answer("what is 2+2?") == "it is four"
    mloop.flush()
    [t] = search_traces(run_id=run.run_id)
    assert (t.name, t.status, t.span_count) == ("answer", "OK", 3)
    assert (t.prompt_tokens, t.completion_tokens, t.cost) == (6, 3, pytest.approx(0.002))
    full = get_trace(t.trace_id)
    root, child1, child2 = full.spans
    assert root.parent_id is None and root.inputs == {"question": "what is 2+2?"}
    assert root.outputs == "it is four"
    assert child1.name == "retrieve" and child1.parent_id == root.span_id
    assert child1.inputs == {"question": "what is 2+2?", "k": 3}
    assert child1.outputs == ["doc0", "doc1", "doc2"]
    assert child2.kind == "llm" and child2.attributes == {"model": "tiny"}
    assert child2.parent_id == root.span_id
    assert root.start_us <= child1.start_us <= child1.end_us <= child2.start_us <= root.end_us


def test_exceptions_are_recorded_and_raised(mloop_home: Path) -> None:
    with pytest.raises(ValueError, match="bad 3"):
        broken(3)
    with pytest.raises(KeyError), mloop.start_span("outer", inputs={"a": 1}) as span:
        span.set_outputs({"partial": True})
        raise KeyError("x")
    mloop.flush()
    failed = search_traces(status="ERROR")
    assert sorted(t.name for t in failed) == ["broken", "outer"]
    outer = get_trace(next(t.trace_id for t in failed if t.name == "outer"))
    assert outer.spans[0].error == "KeyError: 'x'"
    assert outer.spans[0].outputs == {"partial": True}
    assert search_traces(status="OK") == []


def test_async_spans_nest_per_task(mloop_home: Path) -> None:
    @mloop.trace
    async def step(i: int) -> int:
        await asyncio.sleep(0)
        return i * 2

    @mloop.trace
    async def fan_out(n: int) -> list[int]:
        return list(await asyncio.gather(*(step(i) for i in range(n))))

    assert asyncio.run(fan_out(4)) == [0, 2, 4, 6]
    mloop.flush()
    [t] = search_traces(name="fan_out")
    spans = get_trace(t.trace_id).spans
    root = spans[0]
    assert len(spans) == 5
    assert {s.parent_id for s in spans[1:]} == {root.span_id}
    assert sorted(s.outputs for s in spans[1:]) == [0, 2, 4, 6]


def test_served_model_version_and_latency_filters(mloop_home: Path) -> None:
    with bind_model_version("qa", 3), mloop.start_span("request"):
        pass
    with mloop.start_span("other"):
        pass
    mloop.flush()
    [t] = search_traces(model_name="qa", model_version=3)
    assert t.name == "request"
    assert len(search_traces(min_duration_ms=0)) == 2
    assert search_traces(min_duration_ms=10_000_000) == []
    assert [x.name for x in search_traces(limit=1)] in (["request"], ["other"])


def _span(trace_id: str, span_id: str, parent: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_id": parent,
        "name": kw.pop("name", "s"),
        "status": "OK",
        "start_us": 1_000,
        "end_us": 4_000,
        **kw,
    }


def test_store_contract(store: Any) -> None:
    tid = "a" * 32
    spans = [
        _span(tid, "1" * 16, "0" * 16, prompt_tokens=5, cost=0.5, inputs='{"x": 1}'),
        _span(tid, "0" * 16, None, name="root", run_id="r1", completion_tokens=2),
    ]
    store.log_spans(spans)
    store.log_spans(spans)  # a retried batch changes nothing
    [t] = store.search_traces(run_id="r1")
    assert (t.trace_id, t.name, t.span_count, t.duration_us) == (tid, "root", 2, 3_000)
    assert (t.prompt_tokens, t.completion_tokens, t.cost) == (5, 2, 0.5)
    full = store.get_trace(tid)
    assert [s.span_id for s in full.spans] == ["0" * 16, "1" * 16]
    assert full.spans[1].inputs == {"x": 1}
    assert store.search_traces(max_duration_ms=2.0) == []
    assert store.search_traces(min_duration_ms=3.0, name="root")[0].trace_id == tid
    with pytest.raises(TraceNotFound):
        store.get_trace("b" * 32)


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ({"trace_id": "xyz"}, "trace_id must be 32"),
        ({"span_id": "1"}, "span_id must be 16"),
        ({"status": "MAYBE"}, "status must be one of"),
        ({"end_us": 10}, "ends before it starts"),
        ({"inputs": "{not json"}, "inputs must be JSON text"),
        ({"prompt_tokens": -1}, "non-negative"),
        ({"colour": "red"}, "unknown keys"),
    ],
)
def test_malformed_spans_are_refused(store: Any, span: dict[str, Any], message: str) -> None:
    bad = {**_span("c" * 32, "2" * 16, None), **span}
    with pytest.raises(InvalidArgument, match=message):
        store.log_spans([bad])
    with pytest.raises(InvalidArgument, match="limit must be"):
        store.search_traces(limit=0)


def test_traces_go_to_a_shared_server(http_store: Any, live_server: str) -> None:
    with mloop.store.use(live_server):
        answer("q?")
        mloop.flush()
        [t] = search_traces()
    assert t.span_count == 3
    assert http_store.get_trace(t.trace_id).spans[0].name == "answer"
