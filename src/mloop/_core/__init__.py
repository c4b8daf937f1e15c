"""Shared foundations: configuration, ids, clocks, names and URIs (private to mloop).

Names load on first use (configuration imports pydantic), so that modules needing only one of
them, such as :mod:`mloop._core._lazy`, stay cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop._core._lazy import lazy_names

if TYPE_CHECKING:
    from mloop._core._config import Settings as Settings
    from mloop._core._config import load_settings as load_settings
    from mloop._core._identity import current_user as current_user
    from mloop._core._ids import new_run_id as new_run_id
    from mloop._core._ids import now_ms as now_ms
    from mloop._core._uris import ModelUri as ModelUri
    from mloop._core._uris import RunArtifactUri as RunArtifactUri
    from mloop._core._uris import parse_models_uri as parse_models_uri
    from mloop._core._uris import parse_runs_uri as parse_runs_uri
    from mloop._core._validation import MAX_ENTITY_NAME as MAX_ENTITY_NAME
    from mloop._core._validation import MAX_KEY as MAX_KEY
    from mloop._core._validation import MAX_PARAM_VALUE as MAX_PARAM_VALUE
    from mloop._core._validation import MAX_TAG_VALUE as MAX_TAG_VALUE
    from mloop._core._validation import known_keys as known_keys
    from mloop._core._validation import validate_experiment_name as validate_experiment_name
    from mloop._core._validation import validate_key as validate_key
    from mloop._core._validation import validate_metric_value as validate_metric_value
    from mloop._core._validation import validate_param_value as validate_param_value
    from mloop._core._validation import validate_run_name as validate_run_name
    from mloop._core._validation import validate_tag_value as validate_tag_value
    from mloop._core._validation import validate_uri_name as validate_uri_name
    from mloop._core._validation import validate_version_number as validate_version_number

__getattr__, __dir__, __all__ = lazy_names(
    __name__,
    {
        "Settings": "._config",
        "load_settings": "._config",
        "current_user": "._identity",
        "new_run_id": "._ids",
        "now_ms": "._ids",
        "ModelUri": "._uris",
        "RunArtifactUri": "._uris",
        "parse_models_uri": "._uris",
        "parse_runs_uri": "._uris",
        **dict.fromkeys(
            (
                "MAX_ENTITY_NAME",
                "MAX_KEY",
                "MAX_PARAM_VALUE",
                "MAX_TAG_VALUE",
                "known_keys",
                "validate_experiment_name",
                "validate_key",
                "validate_metric_value",
                "validate_param_value",
                "validate_run_name",
                "validate_tag_value",
                "validate_uri_name",
                "validate_version_number",
            ),
            "._validation",
        ),
    },
)
