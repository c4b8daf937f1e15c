"""Prometheus metrics of one serving app, in a registry of its own, labelled by model and
version; each served version holds its label children so the hot path does no label lookup."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from mloop.monitor import PredictionLog

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

    def watch(self, slots: Mapping[str, Any], prediction_log: PredictionLog | None) -> None:
        """Export the state of ``slots`` (registry reachability, swaps, shadow copies) and of
        the prediction log, read when scraped: nothing on the request path."""
        self.registry.register(_StateCollector(slots, prediction_log))

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


# Prediction log counters: name in PredictionLog.counters() -> (metric, help, is a counter).
_LOG_COUNTERS: dict[str, tuple[str, str, bool]] = {
    "recorded": ("recorded", "Predictions queued for the log.", True),
    "sampled_out": ("sampled_out", "Predictions left out by the sample rate.", True),
    "dropped": ("dropped", "Predictions dropped because the log's queue was full.", True),
    "segments_written": ("segments", "Parquet segments written to the artifact store.", True),
    "rows_written": ("rows", "Rows written to the artifact store.", True),
    "write_errors": ("write_errors", "Failed segment writes (each is retried).", True),
    "rows_lost": ("rows_lost", "Rows given up after the artifact store failed too long.", True),
    "feedback_recorded": ("feedback", "Labels received on POST /v1/feedback.", True),
    "queued": ("queued", "Records waiting for the writer.", False),
    "pending_segments": ("pending_segments", "Segments waiting to be written again.", False),
}


class _StateCollector(Collector):
    """Reads the serving state at scrape time."""

    def __init__(self, slots: Mapping[str, Any], prediction_log: PredictionLog | None) -> None:
        self._slots = slots
        self._log = prediction_log

    def collect(self) -> Iterator[Metric]:
        reachable = GaugeMetricFamily(
            "mloop_serve_registry_reachable",
            "1 when the last registry poll for the model's aliases answered, else 0.",
            labels=["model"],
        )
        swaps = CounterMetricFamily(
            "mloop_serve_swaps",
            "Versions swapped in because a followed alias moved.",
            labels=["model"],
        )
        shadow = CounterMetricFamily(
            "mloop_serve_shadow_copies",
            "Copies of requests sent to a shadow version, by outcome "
            "(sent, dropped, failed, disagreed).",
            labels=["model", "version", "outcome"],
        )
        generation = GaugeMetricFamily(
            "mloop_serve_deployment_generation",
            "The generation of the deployment record the model's traffic split follows (0: none).",
            labels=["model"],
        )
        for name, slot in self._slots.items():
            reachable.add_metric([name], 0.0 if slot.registry_error else 1.0)
            generation.add_metric([name], float(slot.deployment_generation or 0))
            swaps.add_metric([name], float(slot.swaps))
            router = slot.router
            if router is not None and router.shadow is not None:
                stats = router.shadow.describe()
                for outcome in ("sent", "dropped", "failed", "disagreed"):
                    shadow.add_metric([name, str(stats["version"]), outcome], stats[outcome])
        yield reachable
        yield generation
        yield swaps
        yield shadow
        if self._log is not None:
            counters = self._log.counters()
            for key, (metric, text, is_counter) in _LOG_COUNTERS.items():
                family = CounterMetricFamily if is_counter else GaugeMetricFamily
                yield family(f"mloop_prediction_log_{metric}", text, value=counters.get(key, 0))
