"""Classification and regression metrics, computed with scikit-learn."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "CALIBRATION_BINS",
    "MAX_CURVE_POINTS",
    "RESIDUAL_QUANTILES",
    "ClassificationOutput",
    "classification_metrics",
    "downsample",
    "expected_calibration_error",
    "regression_metrics",
]

CALIBRATION_BINS = 10
MAX_CURVE_POINTS = 200
RESIDUAL_QUANTILES = {"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95}


@dataclass
class ClassificationOutput:
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    matrix: list[list[int]] = field(default_factory=list)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def classification_metrics(
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any] | None,
    classes: Sequence[Any],
    *,
    curves: bool = False,
) -> ClassificationOutput:
    """Every classification metric of one set of rows.

    ``proba`` has one column per entry of ``classes`` (the model's order). Metrics that are
    undefined on these rows (ROC AUC with one class present) are left out, never NaN.
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    classes = list(classes)
    present = set(y_true.tolist()) | set(y_pred.tolist())
    # Macro averages over the classes these rows hold (a slice without a class should not be
    # marked down for it).
    labels = [c for c in classes if c in present] or classes
    metrics: dict[str, float] = {"accuracy": float(accuracy_score(y_true, y_pred))}
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    metrics.update(precision_macro=float(p), recall_macro=float(r), f1_macro=float(f))
    pc, rc, fc, sc = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0
    )
    per_class = {
        str(c): {
            "precision": float(pc[i]),
            "recall": float(rc[i]),
            "f1": float(fc[i]),
            "support": float(sc[i]),
        }
        for i, c in enumerate(classes)
    }
    if len(classes) == 2:
        # Binary: precision, recall and F1 of the positive class (the model's second class),
        # the figures people mean by "recall" (scikit-learn's default average="binary").
        positive = per_class[str(classes[1])]
        metrics.update(
            precision=positive["precision"], recall=positive["recall"], f1=positive["f1"]
        )
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    out = ClassificationOutput(
        metrics=metrics,
        per_class=per_class,
        labels=[str(c) for c in classes],
        matrix=[[int(v) for v in row] for row in matrix],
    )
    if proba is not None and len(classes) >= 2:
        _probability_metrics(out, y_true, proba, classes, curves=curves)
    out.metrics = {k: v for k, v in out.metrics.items() if math.isfinite(v)}
    return out


def _probability_metrics(
    out: ClassificationOutput,
    y_true: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any],
    classes: list[Any],
    *,
    curves: bool,
) -> None:
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        log_loss,
        roc_auc_score,
    )
    from sklearn.preprocessing import label_binarize

    m = out.metrics
    both_present = len(set(y_true.tolist())) >= 2
    m["log_loss"] = float(log_loss(y_true, proba, labels=classes))
    if len(classes) == 2:
        pos = classes[1]
        y_bin = (y_true == pos).astype(int)
        p1 = proba[:, 1]
        m["brier_score"] = float(brier_score_loss(y_bin, p1))
        m["calibration_error"] = expected_calibration_error(y_bin, p1)
        if both_present:
            m["roc_auc"] = float(roc_auc_score(y_bin, p1))
            m["pr_auc"] = float(average_precision_score(y_bin, p1))
            if curves:
                out.curves = _binary_curves(y_bin, p1)
        return
    m["brier_score"] = float(brier_score_loss(y_true, proba, labels=classes))
    confidence = proba.max(axis=1)
    hit = (np.asarray(classes, dtype=object)[proba.argmax(axis=1)] == y_true).astype(int)
    m["calibration_error"] = expected_calibration_error(hit, confidence)
    if set(classes) <= set(y_true.tolist()):
        # One-vs-rest needs every class among the true labels.
        m["roc_auc"] = float(
            roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
        )
        onehot = label_binarize(y_true, classes=classes)
        m["pr_auc"] = float(average_precision_score(onehot, proba, average="macro"))


def expected_calibration_error(
    y: np.ndarray[Any, Any], prob: np.ndarray[Any, Any], n_bins: int = CALIBRATION_BINS
) -> float:
    """Expected calibration error over ``n_bins`` equal-width bins of ``prob``: the mean, weighted
    by bin size, of ``|mean(prob) - mean(y)|``. Binary: ``prob`` of the positive class and ``y``
    the positive indicator; multiclass: top-label confidence and whether it was right.

    scikit-learn has the reliability curve (``calibration_curve``) but not this summary of it.
    """
    if len(y) == 0:
        return math.nan
    bins = np.minimum((np.asarray(prob, dtype=float) * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        mask = bins == b
        total += mask.sum() * abs(float(prob[mask].mean()) - float(y[mask].mean()))
    return total / len(y)


def _binary_curves(
    y_bin: np.ndarray[Any, Any], p1: np.ndarray[Any, Any]
) -> dict[str, dict[str, list[float]]]:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(y_bin, p1)
    precision, recall, _ = precision_recall_curve(y_bin, p1)
    prob_true, prob_pred = calibration_curve(y_bin, p1, n_bins=CALIBRATION_BINS)
    return {
        "roc": downsample({"fpr": fpr, "tpr": tpr}),
        "pr": downsample({"precision": precision, "recall": recall}),
        "calibration": downsample({"prob_pred": prob_pred, "prob_true": prob_true}),
    }


def downsample(
    series: dict[str, np.ndarray[Any, Any]], limit: int = MAX_CURVE_POINTS
) -> dict[str, list[float]]:
    """Parallel arrays cut to at most ``limit`` evenly spaced points, keeping both ends."""
    n = len(next(iter(series.values())))
    if n > limit:
        idx = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
        series = {k: v[idx] for k, v in series.items()}
    return {k: [float(x) for x in v] for k, v in series.items()}


def regression_metrics(
    y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any]
) -> tuple[dict[str, float], list[str]]:
    """MAE, RMSE, R2, MAPE and residual quantiles (``residual_q05`` ... ``residual_q95``), and
    notes on what was skipped."""
    from sklearn.metrics import (
        mean_absolute_error,
        mean_absolute_percentage_error,
        r2_score,
        root_mean_squared_error,
    )

    notes: list[str] = []
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    metrics = {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
    }
    if len(y_true) >= 2:
        metrics["r2"] = float(r2_score(y_true, y_pred))
    nonzero = y_true != 0
    zeros = int((~nonzero).sum())
    if nonzero.any():
        metrics["mape"] = float(mean_absolute_percentage_error(y_true[nonzero], y_pred[nonzero]))
    if zeros:
        notes.append(f"mape: {zeros} of {len(y_true)} rows with a zero target left out")
    residuals = y_true - y_pred
    for name, q in RESIDUAL_QUANTILES.items():
        metrics[f"residual_{name}"] = float(np.quantile(residuals, q))
    return {k: v for k, v in metrics.items() if math.isfinite(v)}, notes
