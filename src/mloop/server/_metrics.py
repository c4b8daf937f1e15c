"""Prometheus metrics of one app, in a registry of its own (never the global one, so that several
apps in one process do not clash)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.responses import Response

#: The route label of requests that matched no route (keeps the label set bounded).
UNMATCHED = "<unmatched>"

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    """Requests by method, route template and status; latency by route; requests in flight."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mloop_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "mloop_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ("route",),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "mloop_http_requests_in_flight",
            "HTTP requests being answered now.",
            registry=self.registry,
        )
        self.registry.register(_LoopCollector())

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format."""
    server_metrics: ServerMetrics = request.app.state.metrics
    return Response(server_metrics.render(), media_type=CONTENT_TYPE_LATEST)


class _LoopCollector:
    """The counters of the loop controllers running in this process (``mloop server --loop``):
    transitions made and alerts sent, read at scrape time."""

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        from mloop.loop import LOOP_COUNTERS

        for counter in LOOP_COUNTERS:
            family = CounterMetricFamily(counter.name, counter.help, labels=counter.labelnames)
            for labels, value in counter.samples():
                family.add_metric(list(labels), value)
            yield family
