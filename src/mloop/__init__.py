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

from typing import TYPE_CHECKING

from mloop._core._lazy import SUBPACKAGE, lazy_names

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from mloop import evaluate as evaluate
    from mloop import pipeline as pipeline
    from mloop.autologging import autolog as autolog
    from mloop.genai import start_span as start_span
    from mloop.genai import trace as trace
    from mloop.pipeline import step as step
    from mloop.pipeline._tune import tune as tune
    from mloop.tracking import ActiveRun as ActiveRun
    from mloop.tracking import Client as Client
    from mloop.tracking import FlushStatus as FlushStatus
    from mloop.tracking import active_run as active_run
    from mloop.tracking import end_run as end_run
    from mloop.tracking import flush as flush
    from mloop.tracking import get_tracking_uri as get_tracking_uri
    from mloop.tracking import log_artifact as log_artifact
    from mloop.tracking import log_artifacts as log_artifacts
    from mloop.tracking import log_input as log_input
    from mloop.tracking import log_metric as log_metric
    from mloop.tracking import log_metrics as log_metrics
    from mloop.tracking import log_param as log_param
    from mloop.tracking import log_params as log_params
    from mloop.tracking import set_experiment as set_experiment
    from mloop.tracking import set_tag as set_tag
    from mloop.tracking import set_tags as set_tags
    from mloop.tracking import set_tracking_uri as set_tracking_uri
    from mloop.tracking import start_run as start_run

# The fluent API is loaded on first use, so `import mloop` and `mloop --help` stay fast.
__getattr__, __dir__, __all__ = lazy_names(
    __name__,
    {
        **dict.fromkeys(
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
        ),
        "autolog": "mloop.autologging",
        "step": "mloop.pipeline",
        # Tracing of LLM applications: `@mloop.trace`, `with mloop.start_span(...)`.
        "start_span": "mloop.genai",
        "trace": "mloop.genai",
        "tune": "mloop.pipeline._tune",
        # `mloop.evaluate(...)` and `@mloop.pipeline` are part of the fluent API.
        "evaluate": SUBPACKAGE,
        "pipeline": SUBPACKAGE,
    },
    eager=("__version__",),
    # Reachable as attributes after a plain `import mloop`: mloop.models.load(...).
    subpackages=("data", "genai", "models", "monitor", "registry", "store", "tracking"),
)
