"""mloop: the whole ML lifecycle in one package.

track -> validate data -> register -> gate -> serve -> monitor -> retrain.

Example::

    import mloop

    mloop.set_experiment("churn")
    with mloop.start_run(run_name="baseline"):
        mloop.log_param("max_depth", 6)
        for epoch in range(10):
            mloop.log_metric("loss", 1 / (epoch + 1))
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from mloop.pipeline import step
    from mloop.pipeline._tune import tune
    from mloop.tracking import (
        ActiveRun,
        Client,
        FlushStatus,
        active_run,
        end_run,
        flush,
        get_tracking_uri,
        log_artifact,
        log_artifacts,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )

# The fluent API is loaded on first use, so `import mloop` and `mloop --help` stay fast.
_LAZY = dict.fromkeys(
    (
        "ActiveRun",
        "Client",
        "FlushStatus",
        "active_run",
        "end_run",
        "flush",
        "get_tracking_uri",
        "log_artifact",
        "log_artifacts",
        "log_input",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "set_experiment",
        "set_tag",
        "set_tags",
        "set_tracking_uri",
        "start_run",
    ),
    "mloop.tracking",
)
_LAZY["step"] = "mloop.pipeline"
_LAZY["tune"] = "mloop.pipeline._tune"


# Domain packages reachable as attributes after a plain `import mloop`: mloop.models.load(...).
_SUBPACKAGES = frozenset(
    {"data", "evaluate", "models", "monitor", "pipeline", "registry", "store", "tracking"}
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return import_module(f"mloop.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mloop' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ActiveRun",
    "Client",
    "FlushStatus",
    "__version__",
    "active_run",
    "end_run",
    "evaluate",
    "flush",
    "get_tracking_uri",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "pipeline",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "step",
    "tune",
]
