"""mloop's records in MLflow's JSON (protobuf's JSON mapping of MLflow's entities).

How MLflow's records that mloop has no field for are kept (logged models, run outputs, the
source MLflow registered) is described in :mod:`mloop.interop._mlflow_tags`; those bookkeeping
tags are left out of what MLflow clients see.
"""

from __future__ import annotations

import math
from typing import Any

from mloop.interop._mlflow_tags import (
    INTERNAL_TAG,
    LOGGED_MODEL_TAG,
    MODEL_ID_PREFIX,
    MODEL_ID_TAG,
    MODEL_TYPE_TAG,
    OUTPUT_TAG,
    SOURCE_TAG,
    STATUS_MESSAGE_TAG,
)
from mloop.store import Experiment, ModelVersion, ModelVersionStatus, RegisteredModel, Run, RunInfo

RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"

_MODEL_STATUS = {
    "RUNNING": "LOGGED_MODEL_PENDING",
    "FINISHED": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
    "KILLED": "LOGGED_MODEL_UPLOAD_FAILED",
}


def public_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items() if not k.startswith(INTERNAL_TAG)]


def number(value: float) -> float | str:
    """A float as protobuf's JSON writes it: NaN and infinities as strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def artifact_uri(experiment_id: str, run_id: str, path: str = "") -> str:
    """Where an MLflow client reads and writes a run's artifacts: the server's artifact proxy."""
    base = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    return f"{base}/{path}" if path else base


def experiment_json(exp: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": f"mlflow-artifacts:/{exp.experiment_id}",
        "lifecycle_stage": exp.lifecycle_stage.value,
        "last_update_time": exp.last_update_time,
        "creation_time": exp.creation_time,
        "tags": public_tags(exp.tags),
    }


def run_info_json(info: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user,
        "status": info.status.value,
        "start_time": info.start_time,
        "artifact_uri": artifact_uri(info.experiment_id, info.run_id),
        "lifecycle_stage": info.lifecycle_stage.value,
    }
    if info.end_time is not None:
        out["end_time"] = info.end_time
    return out


def run_json(run: Run) -> dict[str, Any]:
    data = run.data
    tags = dict(data.tags)
    tags.setdefault(RUN_NAME_TAG, run.info.run_name)
    if run.info.parent_run_id is not None and not tags.get(LOGGED_MODEL_TAG):
        tags.setdefault(PARENT_RUN_TAG, run.info.parent_run_id)
    outputs = [
        {"model_id": k[len(OUTPUT_TAG) :], "step": _int(v)}
        for k, v in data.tags.items()
        if k.startswith(OUTPUT_TAG)
    ]
    return {
        "info": run_info_json(run.info),
        "data": {
            "metrics": [
                {"key": k, "value": number(m.value), "timestamp": m.timestamp, "step": m.step}
                for k, m in data.metrics.items()
            ],
            "params": [{"key": k, "value": v} for k, v in data.params.items()],
            "tags": public_tags(tags),
        },
        "inputs": {},
        "outputs": {"model_outputs": outputs} if outputs else {},
    }


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# -- logged models ------------------------------------------------------------------------------


def model_id_of(run_id: str) -> str:
    return MODEL_ID_PREFIX + run_id


def run_id_of_model(model_id: str) -> str | None:
    """The run holding a logged model, or None when ``model_id`` is not one of mloop's."""
    if model_id.startswith(MODEL_ID_PREFIX) and len(model_id) > len(MODEL_ID_PREFIX):
        return model_id[len(MODEL_ID_PREFIX) :]
    return None


def logged_model_json(run: Run) -> dict[str, Any]:
    info = run.info
    tags = run.data.tags
    out: dict[str, Any] = {
        "model_id": model_id_of(info.run_id),
        "experiment_id": info.experiment_id,
        "name": info.run_name,
        "creation_timestamp_ms": info.start_time,
        "last_updated_timestamp_ms": info.end_time or info.start_time,
        "artifact_uri": artifact_uri(info.experiment_id, info.run_id),
        "status": _MODEL_STATUS[info.status.value],
        "tags": public_tags(tags),
    }
    if info.parent_run_id is not None:
        out["source_run_id"] = info.parent_run_id
    if tags.get(MODEL_TYPE_TAG):
        out["model_type"] = tags[MODEL_TYPE_TAG]
    if tags.get(STATUS_MESSAGE_TAG):
        out["status_message"] = tags[STATUS_MESSAGE_TAG]
    return {
        "info": out,
        "data": {
            "params": [{"key": k, "value": v} for k, v in run.data.params.items()],
            "metrics": [
                {
                    "key": k,
                    "value": number(m.value),
                    "timestamp": m.timestamp,
                    "step": m.step,
                    "model_id": out["model_id"],
                }
                for k, m in run.data.metrics.items()
            ],
        },
    }


# -- registry -----------------------------------------------------------------------------------


def model_version_json(mv: ModelVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": mv.name,
        "version": str(mv.version),
        "creation_timestamp": mv.creation_time,
        "last_updated_timestamp": mv.last_update_time,
        "current_stage": "Archived" if mv.status is ModelVersionStatus.ARCHIVED else "None",
        "description": mv.description,
        "source": mv.tags.get(SOURCE_TAG, mv.source),
        "status": "READY",
        "tags": public_tags(mv.tags),
        "aliases": list(mv.aliases),
    }
    if mv.run_id is not None:
        out["run_id"] = mv.run_id
    if mv.tags.get(MODEL_ID_TAG):
        out["model_id"] = mv.tags[MODEL_ID_TAG]
    return out


def registered_model_json(
    rm: RegisteredModel, latest: ModelVersion | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": rm.name,
        "creation_timestamp": rm.creation_time,
        "last_updated_timestamp": rm.last_update_time,
        "description": rm.description,
        "tags": public_tags(rm.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(rm.aliases.items())],
    }
    if latest is not None:
        out["latest_versions"] = [model_version_json(latest)]
    return out
