"""One monitor run of a loop: read a window of the prediction log, test the live inputs for
drift against the reference, run the data checks, measure performance on joined labels, and
say which retrain triggers fired.

A window with too few rows is a recorded ``skipped`` result ("not enough data"), never an error
or a retrain. The result is plain JSON, stored by the controller as one point of the loop's
monitor time series.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from mloop.errors import MloopError
from mloop.loop._spec import LoopSpec

if TYPE_CHECKING:
    import pandas as pd

    from mloop.store import ArtifactStore, Store

__all__ = ["features_of", "labelled", "run_monitor", "score"]

logger = logging.getLogger("mloop.loop")

INPUT_PREFIX = "input."


def features_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs in a prediction-log frame, under their own names."""
    cols = [c for c in frame.columns if c.startswith(INPUT_PREFIX)]
    return frame[cols].rename(columns={c: c[len(INPUT_PREFIX) :] for c in cols})


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a prediction-log frame that have a joined label."""
    if "label" not in frame.columns:
        return frame.iloc[:0]
    return frame[frame["label"].notna()]


def score(metric: str, y_true: Any, y_pred: Any, proba: Any = None) -> float | None:
    """A classification metric on labels and predictions (``roc_auc`` needs probabilities)."""
    from sklearn import metrics as m

    try:
        if metric == "accuracy":
            return float(m.accuracy_score(y_true, y_pred))
        if metric == "f1":
            return float(m.f1_score(y_true, y_pred, average="macro"))
        if metric in ("roc_auc", "auc"):
            if proba is None:
                return None
            return float(m.roc_auc_score(y_true, proba))
        if metric == "rmse":
            return float(math.sqrt(m.mean_squared_error(y_true, y_pred)))
        if metric == "mae":
            return float(m.mean_absolute_error(y_true, y_pred))
    except ValueError:  # one class only, mixed label types: not measurable on this window
        return None
    return None


_HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "roc_auc": True, "auc": True}


def _reference(spec: LoopSpec, store: Store) -> Any:
    if spec.monitor.reference == "training":
        from mloop.models import load

        return load(f"models:/{spec.model}@champion").reference_profile()
    from mloop.data import load as load_dataset

    return load_dataset(spec.monitor.reference, store=store)


def _baseline(spec: LoopSpec, store: Store, metric: str) -> float | None:
    """The champion's metric as logged in its training run, if any."""
    try:
        version = store.get_model_version_by_alias(spec.model, "champion")
        if version.run_id is None:
            return None
        run = store.get_run(version.run_id)
    except MloopError:
        return None
    value = run.data.metrics.get(metric)
    return None if value is None else float(value.value)


def run_monitor(
    spec: LoopSpec,
    *,
    store: Store,
    artifacts: ArtifactStore,
    now_ms: int,
) -> tuple[str, dict[str, Any], list[str]]:
    """Monitor the window ``[now - window, now)`` of the prediction log of ``spec.model``.

    Returns:
        ``(status, result, triggers)``: status ``ok``, ``alert`` or ``skipped``; the result as
        JSON (window, row and label counts, drift per column, checks, performance); the
        retrain triggers that fired (``drift``, ``checks``, ``performance``).
    """
    from mloop.monitor import read_predictions

    mon = spec.monitor
    start_ms = now_ms - mon.window_ms
    frame = read_predictions(artifacts, spec.model, start=start_ms / 1000, end=now_ms / 1000)
    if "shadow" in frame.columns:
        frame = frame[~frame["shadow"].fillna(False).astype(bool)]
    rows = len(frame)
    labels = labelled(frame)
    result: dict[str, Any] = {
        "window_start": start_ms,
        "window_end": now_ms,
        "rows": rows,
        "labels": len(labels),
        "label_coverage": (len(labels) / rows) if rows else 0.0,
        "versions": {str(k): int(v) for k, v in frame["version"].value_counts().items()}
        if rows
        else {},
    }
    if rows < mon.min_rows:
        result["reason"] = (
            f"skipped: not enough data ({rows} logged rows in the window, need {mon.min_rows})"
        )
        return "skipped", result, []
    triggers: list[str] = []
    live = features_of(frame)

    reference = _reference(spec, store)
    if reference is None:
        result["drift"] = {"error": f"models:/{spec.model}@champion has no reference profile"}
    else:
        from mloop.data import drift

        options = dict(mon.drift)
        dr = drift(reference, live, **options)
        result["drift"] = {
            "dataset_drift": dr.dataset_drift,
            "drifted_share": dr.drifted_share,
            "share": dr.share,
            "columns": {
                c.name: {
                    "drifted": c.drifted,
                    "method": c.method,
                    "statistic": c.statistic,
                    "p_value": c.p_value,
                    "status": c.status,
                }
                for c in dr.columns
            },
        }
        if dr.dataset_drift:
            triggers.append("drift")

    if mon.checks is not None:
        from mloop.data import check

        report = check(live, str(spec.path(mon.checks)), store=store)
        failures = [f.to_dict() if hasattr(f, "to_dict") else str(f) for f in report.failures]
        result["checks"] = {"passed": report.passed, "failures": failures[:20]}
        if not report.passed:
            triggers.append("checks")

    perf = mon.performance
    if perf is not None:
        result["performance"] = _performance(spec, store, labels)
        if result["performance"].get("triggered"):
            triggers.append("performance")
    if mon.estimated:
        from mloop.loop._cbpe import estimate

        result["estimated"] = estimate(frame, perf.metric if perf else "accuracy")
    return ("alert" if triggers else "ok"), result, triggers


def _performance(spec: LoopSpec, store: Store, labels: pd.DataFrame) -> dict[str, Any]:
    perf = spec.monitor.performance
    assert perf is not None
    out: dict[str, Any] = {"metric": perf.metric, "labels": len(labels)}
    if len(labels) < perf.min_labels:
        out["reason"] = f"not enough labels ({len(labels)}, need {perf.min_labels})"
        return out
    if perf.output not in labels.columns:
        out["reason"] = f"the prediction log has no {perf.output!r} column"
        return out
    y_true = labels["label"].tolist()
    y_pred = labels[perf.output].tolist()
    proba_col = next((c for c in ("output.proba", "proba", "probability") if c in labels), None)
    proba = labels[proba_col].tolist() if proba_col else None
    value = score(perf.metric, y_true, y_pred, proba)
    out["realized"] = value
    baseline = _baseline(spec, store, perf.metric)
    out["baseline"] = baseline
    if value is not None and baseline is not None:
        higher = _HIGHER_IS_BETTER.get(perf.metric, False)
        drop = (baseline - value) if higher else (value - baseline)
        out["drop"] = drop
        out["triggered"] = drop > perf.max_drop
    return out
