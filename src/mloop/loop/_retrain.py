"""Retrain and gate: the labelled window of the prediction log as dataset versions (lineage),
the training pipeline run on it, the result registered as ``@challenger``, the gate on the
held-out part.

Every step can run again after a crash without a duplicate: datasets are content-addressed (the
same window is the same version), pipeline steps are cached by code, params and input content
(a second run reuses the first one's results), and a registration is found again by the tag
``mloop.loop.retrain`` = the transition that started it.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from mloop.errors import InvalidArgument
from mloop.loop._monitor import features_of, labelled
from mloop.loop._spec import LoopSpec

if TYPE_CHECKING:
    import pandas as pd

    from mloop.store import ArtifactStore, ModelVersion, Store

__all__ = [
    "RETRAIN_TAG",
    "find_registered",
    "labelled_window",
    "register_challenger",
    "register_window",
    "run_gate",
    "run_pipeline",
]

logger = logging.getLogger("mloop.loop")

#: The tag that ties a registered version to the loop transition that trained it.
RETRAIN_TAG = "mloop.loop.retrain"
LOOP_TAG = "mloop.loop"


def labelled_window(
    spec: LoopSpec, artifacts: ArtifactStore, start_ms: int, end_ms: int
) -> pd.DataFrame:
    """The labelled rows of ``[start, end)``: the inputs and the label column."""
    from mloop.monitor import read_predictions

    assert spec.retrain is not None
    frame = read_predictions(artifacts, spec.model, start=start_ms / 1000, end=end_ms / 1000)
    if "shadow" in frame.columns:
        frame = frame[~frame["shadow"].fillna(False).astype(bool)]
    rows = labelled(frame).sort_values(["request_id", "row"], kind="stable")
    out = features_of(rows).reset_index(drop=True)
    out[spec.retrain.label] = rows["label"].to_numpy()
    out["__key"] = (rows["request_id"].astype(str) + ":" + rows["row"].astype(str)).to_numpy()
    return out


def register_window(
    spec: LoopSpec, store: Store, frame: pd.DataFrame, *, reason: str
) -> tuple[str, str]:
    """Split the window by a hash of each row's request id (the same row always lands on the
    same side) and register both parts; returns their ``datasets:/`` URIs."""
    from mloop.data import register

    assert spec.retrain is not None
    cut = int(spec.retrain.holdout * 1000)
    side = frame["__key"].map(lambda k: int(hashlib.sha256(k.encode()).hexdigest()[:8], 16) % 1000)
    data = frame.drop(columns="__key")
    tags = {LOOP_TAG: spec.name}
    train = register(
        data[side >= cut].reset_index(drop=True),
        f"{spec.name}-train",
        description=reason,
        tags=tags,
        store=store,
    )
    holdout = register(
        data[side < cut].reset_index(drop=True),
        f"{spec.name}-holdout",
        description=reason,
        tags=tags,
        store=store,
    )
    return train.uri, holdout.uri


def run_pipeline(spec: LoopSpec, train_uri: str) -> tuple[str, str]:
    """Run the retrain pipeline on ``data=train_uri`` (+ params) in the loop's experiment
    (``experiment:``, default the loop's name); returns ``(run_id, source)``
    where ``source`` is the model the pipeline returned (a ``runs:/`` URI or a folder, or a
    mapping's ``model``).

    Raises:
        StepFailed: a step failed (``exc.traceback`` holds the step's traceback).
        InvalidPipeline: the pipeline does not exist or cannot run as written.
    """
    from mloop.pipeline import run

    assert spec.retrain is not None
    target = spec.retrain.pipeline
    path, _, name = target.rpartition(":")
    if path.endswith(".py"):
        target = f"{spec.path(path)}:{name}"
    result = run(
        target,
        {"data": train_uri, **spec.retrain.params},
        engine=spec.retrain.engine,
        experiment=spec.experiment_name,
    )
    output = result.output
    if isinstance(output, dict):
        output = output.get("model")
    if not isinstance(output, str) or not output:
        raise InvalidArgument(
            f"the retrain pipeline {spec.retrain.pipeline} returned {type(output).__name__}; "
            "it must return the trained model's URI (runs:/<id>/model) or {'model': uri}"
        )
    return result.run_id, output


def find_registered(store: Store, model: str, key: str) -> ModelVersion | None:
    """The version registered for the retrain ``key``, if a run before a crash got that far."""
    from mloop.errors import RegisteredModelNotFound

    try:
        versions = store.list_model_versions(model)
    except RegisteredModelNotFound:
        return None
    return next((v for v in versions if v.tags.get(RETRAIN_TAG) == key), None)


def register_challenger(
    spec: LoopSpec,
    store: Store,
    *,
    source: str,
    run_id: str | None,
    key: str,
    actor: str,
    reason: str,
) -> ModelVersion:
    """Register ``source`` (once per ``key``) and point ``@challenger`` at it (audited)."""
    from mloop.registry import Registry

    registry = Registry(store, actor=actor)
    version = find_registered(store, spec.model, key)
    if version is None:
        version = registry.register_model(
            source,
            spec.model,
            run_id=run_id if source.startswith("runs:/") else None,
            tags={LOOP_TAG: spec.name, RETRAIN_TAG: key},
            reason=reason,
        )
    registry.set_alias(spec.model, "challenger", version.version, reason=reason)
    return version


def run_gate(
    spec: LoopSpec,
    *,
    challenger: int,
    champion: int | None,
    holdout_uri: str,
    store: Store,
) -> tuple[bool, dict[str, Any]]:
    """The gate on the held-out window: ``(passed, report)``."""
    from mloop.data import load
    from mloop.evaluate import gate

    assert spec.gate is not None
    assert spec.retrain is not None
    data = load(holdout_uri, store=store)
    result = gate(
        f"models:/{spec.model}/{challenger}",
        data,
        str(spec.path(spec.gate.policy)),
        champion_uri=None if champion is None else f"models:/{spec.model}/{champion}",
        target=spec.retrain.label,
        log=False,
    )
    report = {
        "passed": result.passed,
        "holdout": holdout_uri,
        "rows": len(data),
        "rules": [r.to_dict() for r in result.rules],
    }
    return bool(result.passed), report
