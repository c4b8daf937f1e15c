"""Shared foundations: configuration, ids, clocks, names and URIs (private to mloop)."""

from __future__ import annotations

from mloop._core._config import Settings, load_settings
from mloop._core._identity import current_user
from mloop._core._ids import new_run_id, now_ms
from mloop._core._uris import ModelUri, RunArtifactUri, parse_models_uri, parse_runs_uri
from mloop._core._validation import (
    MAX_ENTITY_NAME,
    MAX_KEY,
    MAX_PARAM_VALUE,
    MAX_TAG_VALUE,
    validate_experiment_name,
    validate_key,
    validate_metric_value,
    validate_param_value,
    validate_run_name,
    validate_tag_value,
    validate_uri_name,
    validate_version_number,
)

__all__ = [
    "MAX_ENTITY_NAME",
    "MAX_KEY",
    "MAX_PARAM_VALUE",
    "MAX_TAG_VALUE",
    "ModelUri",
    "RunArtifactUri",
    "Settings",
    "current_user",
    "load_settings",
    "new_run_id",
    "now_ms",
    "parse_models_uri",
    "parse_runs_uri",
    "validate_experiment_name",
    "validate_key",
    "validate_metric_value",
    "validate_param_value",
    "validate_run_name",
    "validate_tag_value",
    "validate_uri_name",
    "validate_version_number",
]
