"""Where metadata and artifacts live: the Store interface, its SQL and HTTP implementations."""

from __future__ import annotations

from mloop.store._base import Store
from mloop.store._entities import (
    ArtifactInfo,
    Experiment,
    LifecycleStage,
    Metric,
    MetricHistory,
    MetricValue,
    Run,
    RunData,
    RunInfo,
    RunsPage,
    RunStatus,
    ViewType,
)

__all__ = [
    "ArtifactInfo",
    "Experiment",
    "LifecycleStage",
    "Metric",
    "MetricHistory",
    "MetricValue",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "RunsPage",
    "Store",
    "ViewType",
]
