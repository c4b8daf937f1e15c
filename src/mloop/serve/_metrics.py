"""Prometheus metrics of one serving app, in a registry of its own, labelled by model and
version; each served version holds its label children so the hot path does no label lookup."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServeMetrics", "VersionMetrics"]

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LABELS = ("model", "version")


class ServeMetrics:
    """Requests, errors, latency, batch size and queue depth per model and version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mloop_serve_requests",
            "Prediction requests answered, by model and version.",
            _LABELS,
            registry=self.registry,
        )
        self.errors = Counter(
            "mloop_serve_errors",
            "Prediction requests answered with an error, by model, version and error code.",
            (*_LABELS, "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "mloop_serve_request_duration_seconds",
            "Time from a prediction request's body to its answer, by model and version.",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "mloop_serve_batch_size",
            "Rows per framework call (a batch merges concurrent requests), by model and version.",
            _LABELS,
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "mloop_serve_queue_depth",
            "Requests waiting for a batch, by model and version.",
            _LABELS,
            registry=self.registry,
        )

    def for_version(self, model: str, version: str) -> VersionMetrics:
        return VersionMetrics(self, model, version)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class VersionMetrics:
    """The label children of one served version."""

    __slots__ = ("_errors", "_labels", "batch_size", "latency", "queue_depth", "requests")

    def __init__(self, metrics: ServeMetrics, model: str, version: str) -> None:
        self._labels = (model, version)
        self._errors = metrics.errors
        self.requests = metrics.requests.labels(model, version)
        self.latency = metrics.latency.labels(model, version)
        self.batch_size = metrics.batch_size.labels(model, version)
        self.queue_depth = metrics.queue_depth.labels(model, version)

    def error(self, code: str) -> None:
        self._errors.labels(*self._labels, code).inc()
