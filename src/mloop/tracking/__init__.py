"""Experiment tracking: experiments, runs, params, metrics, tags, artifacts, search."""

from __future__ import annotations

from mloop.tracking._client import Client
from mloop.tracking._context import source_context
from mloop.tracking._fluent import (
    ActiveRun,
    active_run,
    bind_run,
    current_client,
    current_experiment_id,
    current_settings,
    end_run,
    flush,
    get_tracking_uri,
    log_artifact,
    log_artifacts,
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
from mloop.tracking._inputs import log_input
from mloop.tracking._writer import FlushStatus

__all__ = [
    "ActiveRun",
    "Client",
    "FlushStatus",
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
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "source_context",
    "start_run",
]
