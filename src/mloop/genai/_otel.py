"""Export spans through OpenTelemetry as well as to mloop's store.

``export_to_otel(exporter)`` hands every finished span to an OpenTelemetry ``SpanExporter`` (the
OTLP exporters of ``opentelemetry-exporter-otlp``, a console or an in-memory one) through the
SDK's ``BatchSpanProcessor``: the caller's thread only enqueues, a background thread exports.
Trace and span ids, parents, times, status and the exception are kept; inputs, outputs, token
counts, cost, the run and the served model version travel as ``mloop.*`` attributes (and the
GenAI semantic conventions' ``gen_ai.usage.*`` for tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mloop.errors import InvalidArgument
from mloop.genai._tracing import add_span_listener


def _attributes(record: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"mloop.span.kind": record["kind"]}
    for key in ("inputs", "outputs", "attributes", "run_id", "model_name"):
        if record.get(key) is not None:
            attrs[f"mloop.{key}"] = record[key]
    if record.get("model_version") is not None:
        attrs["mloop.model_version"] = record["model_version"]
    if record.get("prompt_tokens") is not None:
        attrs["gen_ai.usage.input_tokens"] = record["prompt_tokens"]
    if record.get("completion_tokens") is not None:
        attrs["gen_ai.usage.output_tokens"] = record["completion_tokens"]
    if record.get("cost") is not None:
        attrs["mloop.cost"] = record["cost"]
    return attrs


def export_to_otel(exporter: Any, *, service_name: str = "mloop") -> Callable[[], None]:
    """Send every finished span to ``exporter`` (an OpenTelemetry ``SpanExporter``) in batches.

    Returns:
        A function that stops exporting (it flushes and shuts the processor down).

    Raises:
        InvalidArgument: ``opentelemetry-sdk`` is not installed (``pip install 'mloop[genai]'``).

    Example::

        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        stop = mloop.genai.export_to_otel(OTLPSpanExporter("http://collector:4318/v1/traces"))
    """
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.status import Status, StatusCode
    except ImportError as exc:
        raise InvalidArgument(f"OpenTelemetry export needs opentelemetry-sdk: {exc}") from None
    resource = Resource.create({"service.name": service_name})
    processor = BatchSpanProcessor(exporter)
    sampled = TraceFlags(TraceFlags.SAMPLED)

    def on_span(record: dict[str, Any]) -> None:
        trace_id = int(record["trace_id"], 16)
        parent = record["parent_id"]
        status = (
            Status(StatusCode.ERROR, record["error"])
            if record["status"] == "ERROR"
            else Status(StatusCode.OK)
        )
        processor.on_end(
            ReadableSpan(
                record["name"],
                context=SpanContext(trace_id, int(record["span_id"], 16), False, sampled),
                parent=None
                if parent is None
                else SpanContext(trace_id, int(parent, 16), False, sampled),
                resource=resource,
                attributes=_attributes(record),
                kind=SpanKind.CLIENT if record["kind"] == "llm" else SpanKind.INTERNAL,
                status=status,
                start_time=record["start_us"] * 1000,
                end_time=record["end_us"] * 1000,
            )
        )

    remove = add_span_listener(on_span)

    def stop() -> None:
        remove()
        processor.shutdown()  # type: ignore[no-untyped-call]

    return stop
