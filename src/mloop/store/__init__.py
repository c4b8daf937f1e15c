"""Where metadata and artifacts live: the current store, the Store interface, its SQL and HTTP
implementations, and the artifact stores.

Names load on first use: ``import mloop.store`` stays cheap (the concrete stores import
SQLAlchemy or httpx), and so does the CLI's root callback, which sets the current store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop._core._lazy import lazy_names

if TYPE_CHECKING:
    from mloop.store._artifacts import ArtifactStore as ArtifactStore
    from mloop.store._base import Store as Store
    from mloop.store._context import StoreContext as StoreContext
    from mloop.store._context import current as current
    from mloop.store._context import use as use
    from mloop.store._entities import AlertDelivery as AlertDelivery
    from mloop.store._entities import ArtifactInfo as ArtifactInfo
    from mloop.store._entities import AuditEntry as AuditEntry
    from mloop.store._entities import DatasetCheck as DatasetCheck
    from mloop.store._entities import DatasetColumn as DatasetColumn
    from mloop.store._entities import DatasetVersion as DatasetVersion
    from mloop.store._entities import Deployment as Deployment
    from mloop.store._entities import Experiment as Experiment
    from mloop.store._entities import LifecycleStage as LifecycleStage
    from mloop.store._entities import LoopRecord as LoopRecord
    from mloop.store._entities import LoopTransition as LoopTransition
    from mloop.store._entities import Metric as Metric
    from mloop.store._entities import MetricHistory as MetricHistory
    from mloop.store._entities import MetricValue as MetricValue
    from mloop.store._entities import ModelVersion as ModelVersion
    from mloop.store._entities import ModelVersionStatus as ModelVersionStatus
    from mloop.store._entities import MonitorResult as MonitorResult
    from mloop.store._entities import RegisteredModel as RegisteredModel
    from mloop.store._entities import Run as Run
    from mloop.store._entities import RunData as RunData
    from mloop.store._entities import RunInfo as RunInfo
    from mloop.store._entities import RunInput as RunInput
    from mloop.store._entities import RunsPage as RunsPage
    from mloop.store._entities import RunStatus as RunStatus
    from mloop.store._entities import ViewType as ViewType
    from mloop.store._http import HttpStore as HttpStore
    from mloop.store._objectstore import ObjectArtifactStore as ObjectArtifactStore
    from mloop.store._objectstore import open_artifact_store as open_artifact_store
    from mloop.store._objectstore import storage_options as storage_options
    from mloop.store._open import open_store as open_store
    from mloop.store._sqlstore import SqlStore as SqlStore
    from mloop.store._views_base import MetricSeries as MetricSeries
    from mloop.store._views_base import RunKeys as RunKeys
    from mloop.store._views_base import RunTable as RunTable
    from mloop.store._views_base import XAxis as XAxis

__getattr__, __dir__, __all__ = lazy_names(
    __name__,
    {
        # the current store
        "StoreContext": "._context",
        "current": "._context",
        "use": "._context",
        # the interface and its implementations
        "Store": "._base",
        "open_store": "._open",
        "SqlStore": "._sqlstore",
        "HttpStore": "._http",
        "ArtifactStore": "._artifacts",
        "ObjectArtifactStore": "._objectstore",
        "open_artifact_store": "._objectstore",
        "storage_options": "._objectstore",
        # what stores hold
        **dict.fromkeys(
            (
                "ArtifactInfo",
                "MonitorResult",
                "LoopTransition",
                "LoopRecord",
                "Deployment",
                "AlertDelivery",
                "AuditEntry",
                "DatasetCheck",
                "DatasetColumn",
                "DatasetVersion",
                "Experiment",
                "LifecycleStage",
                "Metric",
                "MetricHistory",
                "MetricValue",
                "ModelVersion",
                "ModelVersionStatus",
                "RegisteredModel",
                "Run",
                "RunData",
                "RunInfo",
                "RunInput",
                "RunStatus",
                "RunsPage",
                "ViewType",
            ),
            "._entities",
        ),
        # what screens read (the web UI): chosen columns, keys, thinned series
        **dict.fromkeys(("MetricSeries", "RunKeys", "RunTable", "XAxis"), "._views_base"),
    },
)
