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
import os
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


#: Prediction-log columns read as the positive class's probability by realized performance.
_PROBA = ("output.proba", "proba", "probability")
_REGRESSION = ("rmse", "mae")
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
    incremental: bool = True,
    workers: int | None = None,
    ray_address: str | None = None,
) -> tuple[str, dict[str, Any], list[str]]:
    """Monitor the window ``[now - window, now)`` of the prediction log of ``spec.model``.

    Incremental (the default): the window is merged from per-segment partials
    (:func:`mloop.monitor._window.window_profile`), so a run reads only the segments that are
    new since the last one; drift is tested on the merged profile, CBPE on the merged
    probability histogram. What needs rows reads them: the data checks and DLE (the window's
    inputs), realized performance (its labelled rows; narrow columns), multivariate drift.
    ``incremental=False`` reads the whole window each run (same verdicts; statistics within
    the sketches' error). ``workers``: segments profiled at once (threads; default the CPUs,
    at most 4). With ``monitor.engine: ray`` the new segments are profiled as Ray tasks on
    ``ray_address`` (default: the Ray of this process, else a local one), merged here.

    Returns:
        ``(status, result, triggers)``: status ``ok``, ``alert`` or ``skipped``; the result as
        JSON (window, row and label counts, drift per column, checks, performance); the
        retrain triggers that fired (``drift``, ``checks``, ``performance``).
    """
    mon = spec.monitor
    start_ms = now_ms - mon.window_ms
    window = None
    if incremental and not mon.drift.get("multivariate"):
        from mloop.errors import InvalidData
        from mloop.monitor._window import window_profile

        try:
            window = window_profile(
                artifacts,
                spec.model,
                start=start_ms / 1000,
                end=now_ms / 1000,
                workers=workers if workers is not None else min(4, os.cpu_count() or 1),
                engine=mon.engine,
                ray_address=ray_address,
            )
        except InvalidData as exc:  # columns whose types differ between segments
            logger.warning("monitor %s: %s; reading the whole window", spec.name, exc)
    frame: pd.DataFrame | None = None
    perf = mon.performance
    # What needs rows reads only the columns it uses: realized performance alone needs the
    # output and the probability (the labels are joined), not the inputs.
    needs_inputs = (
        window is None
        or mon.checks is not None
        or (mon.estimated and perf is not None and perf.metric in _REGRESSION)
    )
    columns = None if needs_inputs else ["version", *_PROBA, *([perf.output] if perf else [])]

    def rows_frame() -> pd.DataFrame:
        """The window's rows (shadow copies and failed requests left out), read once."""
        nonlocal frame
        if frame is None:
            from mloop.monitor import read_predictions

            got = read_predictions(
                artifacts, spec.model, start=start_ms / 1000, end=now_ms / 1000, columns=columns
            )
            if "shadow" in got.columns:
                got = got[~got["shadow"].fillna(False).astype(bool)]
            frame = got
        return frame

    if window is not None:
        rows = window.rows
        versions = dict(sorted(window.versions.items(), key=lambda kv: -kv[1]))
        errors = window.errors
    else:
        full = rows_frame()
        rows = len(full)
        versions = (
            {str(k): int(v) for k, v in full["version"].value_counts().items()} if rows else {}
        )
        errors = {}
    result: dict[str, Any] = {
        "window_start": start_ms,
        "window_end": now_ms,
        "rows": rows,
        "versions": versions,
    }
    if errors:
        result["errors"] = errors
    if window is not None:
        result["incremental"] = window.stats()
    labels = None
    if perf is not None or window is None:
        labels = labelled(rows_frame())
        result["labels"] = len(labels)
        result["label_coverage"] = (len(labels) / rows) if rows else 0.0
    if rows < mon.min_rows:
        result["reason"] = (
            f"skipped: not enough data ({rows} logged rows in the window, need {mon.min_rows})"
        )
        return "skipped", result, []
    triggers: list[str] = []

    reference = _reference(spec, store)
    if reference is None:
        result["drift"] = {"error": f"models:/{spec.model}@champion has no reference profile"}
    else:
        from mloop.data import drift

        options = dict(mon.drift)
        current: Any = (
            window.profile
            if window is not None and window.profile is not None
            else features_of(rows_frame())
        )
        dr = drift(reference, current, **options)
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

        report = check(features_of(rows_frame()), str(spec.path(mon.checks)), store=store)
        failures = [f.to_dict() if hasattr(f, "to_dict") else str(f) for f in report.failures]
        result["checks"] = {"passed": report.passed, "failures": failures[:20]}
        if not report.passed:
            triggers.append("checks")

    if perf is not None:
        assert labels is not None
        result["performance"] = _performance(spec, store, labels)
        if result["performance"].get("triggered"):
            triggers.append("performance")
    if mon.estimated:
        result["estimated"] = _estimated(spec, window, rows_frame)
    return ("alert" if triggers else "ok"), result, triggers


def _estimated(spec: LoopSpec, window: Any, rows_frame: Any) -> dict[str, Any]:
    from mloop.loop import _cbpe

    perf = spec.monitor.performance
    metric = perf.metric if perf else "accuracy"
    if metric in _REGRESSION:
        assert perf is not None
        frame = rows_frame()
        if perf.output not in frame.columns:
            return {"reason": f"not estimated: the prediction log has no {perf.output!r} column"}
        return _cbpe.estimate_regression(
            features_of(frame),
            frame[perf.output].to_numpy(),
            frame["label"].to_numpy() if "label" in frame.columns else [None] * len(frame),
            metric,
            min_labels=perf.min_labels,
        )
    if window is not None:
        return _cbpe.estimate_from(window.proba_counts, window.proba_sums, metric)
    return _cbpe.estimate(rows_frame(), metric)


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
    proba_col = next((c for c in _PROBA if c in labels), None)
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
