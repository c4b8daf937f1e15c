"""Where metadata and artifacts live: the Store interface, its SQL and HTTP implementations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.store._base import Store
from mloop.store._entities import (
    ArtifactInfo,
    AuditEntry,
    DatasetColumn,
    DatasetVersion,
    Experiment,
    LifecycleStage,
    Metric,
    MetricHistory,
    MetricValue,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInput,
    RunsPage,
    RunStatus,
    ViewType,
)
from mloop.store._open import open_store
from mloop.store._views_base import MetricSeries, RunKeys, RunTable, XAxis

if TYPE_CHECKING:
    from mloop.store._artifacts import ArtifactStore, open_artifact_store
    from mloop.store._http import HttpStore
    from mloop.store._sqlstore import SqlStore


def __getattr__(name: str) -> object:
    # The concrete stores import SQLAlchemy or httpx: load them only when asked for.
    if name == "SqlStore":
        from mloop.store._sqlstore import SqlStore

        return SqlStore
    if name == "HttpStore":
        from mloop.store._http import HttpStore

        return HttpStore
    if name in ("ArtifactStore", "open_artifact_store"):
        from mloop.store import _artifacts

        return getattr(_artifacts, name)
    raise AttributeError(f"module 'mloop.store' has no attribute {name!r}")


__all__ = [
    "ArtifactInfo",
    "ArtifactStore",
    "AuditEntry",
    "DatasetColumn",
    "DatasetVersion",
    "Experiment",
    "HttpStore",
    "LifecycleStage",
    "Metric",
    "MetricHistory",
    "MetricSeries",
    "MetricValue",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunInput",
    "RunKeys",
    "RunStatus",
    "RunTable",
    "RunsPage",
    "SqlStore",
    "Store",
    "ViewType",
    "XAxis",
    "open_artifact_store",
    "open_store",
]
