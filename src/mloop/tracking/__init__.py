"""Experiment tracking: experiments, runs, params, metrics, tags, artifacts, search.

Names load on first use: a module that needs one part (the run context's tags, say) does not
pay for the client, which imports the store stack (SQLAlchemy, numpy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop._core._lazy import lazy_names

if TYPE_CHECKING:
    from mloop.tracking._client import Client as Client
    from mloop.tracking._context import source_context as source_context
    from mloop.tracking._fluent import ActiveRun as ActiveRun
    from mloop.tracking._fluent import active_run as active_run
    from mloop.tracking._fluent import bind_run as bind_run
    from mloop.tracking._fluent import current_client as current_client
    from mloop.tracking._fluent import current_experiment_id as current_experiment_id
    from mloop.tracking._fluent import current_settings as current_settings
    from mloop.tracking._fluent import end_run as end_run
    from mloop.tracking._fluent import flush as flush
    from mloop.tracking._fluent import get_tracking_uri as get_tracking_uri
    from mloop.tracking._fluent import log_artifact as log_artifact
    from mloop.tracking._fluent import log_artifacts as log_artifacts
    from mloop.tracking._fluent import log_metric as log_metric
    from mloop.tracking._fluent import log_metrics as log_metrics
    from mloop.tracking._fluent import log_param as log_param
    from mloop.tracking._fluent import log_params as log_params
    from mloop.tracking._fluent import set_experiment as set_experiment
    from mloop.tracking._fluent import set_tag as set_tag
    from mloop.tracking._fluent import set_tags as set_tags
    from mloop.tracking._fluent import set_tracking_uri as set_tracking_uri
    from mloop.tracking._fluent import start_run as start_run
    from mloop.tracking._inputs import log_input as log_input
    from mloop.tracking._writer import FlushStatus as FlushStatus

__getattr__, __dir__, __all__ = lazy_names(
    __name__,
    {
        "Client": "._client",
        "source_context": "._context",
        **dict.fromkeys(
            (
                "ActiveRun",
                "active_run",
                "bind_run",
                "current_client",
                "current_experiment_id",
                "current_settings",
                "end_run",
                "flush",
                "get_tracking_uri",
                "log_artifact",
                "log_artifacts",
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
            "._fluent",
        ),
        "log_input": "._inputs",
        "FlushStatus": "._writer",
    },
)
