"""Spans exported through the OpenTelemetry SDK keep ids, parents, times, status and usage."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import mloop
from mloop import genai


def test_spans_reach_an_opentelemetry_exporter(mloop_home: Path) -> None:
    exporter = InMemorySpanExporter()
    stop = genai.export_to_otel(exporter, service_name="qa-bot")
    try:
        with (
            mloop.start_span("answer", inputs={"q": "hi"}) as root,
            mloop.start_span("llm", kind="llm") as llm,
        ):
            llm.set_usage(prompt_tokens=4, completion_tokens=2)
            llm.set_outputs("hello")
        with pytest.raises(RuntimeError), mloop.start_span("broken"):
            raise RuntimeError("boom")
    finally:
        stop()  # flushes the batch processor
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"answer", "llm", "broken"}
    a, child = spans["answer"], spans["llm"]
    assert f"{a.context.trace_id:032x}" == root.trace_id
    assert f"{a.context.span_id:016x}" == root.span_id and a.parent is None
    assert child.parent is not None and child.parent.span_id == a.context.span_id
    assert child.kind == SpanKind.CLIENT
    assert child.attributes["gen_ai.usage.input_tokens"] == 4
    assert child.attributes["mloop.outputs"] == '"hello"'
    assert a.attributes["mloop.inputs"] == '{"q":"hi"}'
    assert a.start_time <= child.start_time <= child.end_time <= a.end_time
    assert spans["broken"].status.status_code == StatusCode.ERROR
    assert spans["broken"].status.description == "RuntimeError: boom"
    assert a.resource.attributes["service.name"] == "qa-bot"
    # stopped: no longer exported, still stored
    with mloop.start_span("after"):
        pass
    assert "after" not in {s.name for s in exporter.get_finished_spans()}
    mloop.flush()
    assert [t.name for t in genai.search_traces(name="after")] == ["after"]
