"""Performance estimated before labels arrive.

Classification: confidence-based performance estimation (CBPE, as NannyML names it) for binary
classifiers that log a probability. With calibrated probabilities ``p`` of the positive class,
a row predicted positive (``p >= 0.5``) is a true positive with chance ``p`` and a false one
with chance ``1 - p``; summing gives the expected confusion matrix of a window, hence expected
accuracy, precision, recall and F1. ROC AUC is estimated the same way: each probability level
holds ``p`` expected positives and ``1 - p`` expected negatives, and the expected ROC curve is
swept over the levels. The window is read as a fine histogram of the probabilities (count and
sum per bin, :func:`mloop.monitor._window.proba_histogram`), which merges across segments:
counts at the 0.5 threshold are exact, and ROC AUC treats the rows of one bin (1/1000 wide) as
ties.

Regression: direct loss estimation (DLE, as NannyML names it). A model fitted on rows that
have labels learns the loss (absolute and squared error) of the served model from its inputs
and its prediction; its mean over rows without labels yet is their estimated MAE and RMSE.
Under covariate shift (the inputs move, the relation between inputs and loss holds) the
estimate follows the realized loss.

Estimates are shown beside the realized values once labels join, never in their place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PROBA_COLUMNS",
    "DirectLossEstimator",
    "estimate",
    "estimate_histogram",
    "expected_metrics",
]

#: Prediction-log columns read as the probability of the positive class, in this order.
PROBA_COLUMNS = ("output.proba", "output.probability", "proba", "probability")


def expected_metrics(proba: Any, threshold: float = 0.5) -> dict[str, float]:
    """The expected accuracy, precision, recall, F1 and ROC AUC of predictions
    ``proba >= threshold``, from the probabilities themselves."""
    from mloop.monitor._window import proba_histogram

    p = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    p = p[np.isfinite(p)]
    counts, sums = proba_histogram(p)
    return estimate_histogram(counts, sums, threshold)


def estimate_histogram(
    counts: np.ndarray, sums: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """CBPE from a probability histogram: ``counts[i]`` rows with probabilities summing to
    ``sums[i]`` in bin ``i`` of ``len(counts)`` equal bins over [0, 1]."""
    counts = np.asarray(counts, dtype=float)
    pos = np.asarray(sums, dtype=float)  # expected positives per bin
    neg = np.maximum(counts - pos, 0.0)  # expected negatives per bin
    cut = round(threshold * len(counts))
    tp, fp = float(pos[cut:].sum()), float(neg[cut:].sum())
    fn, tn = float(pos[:cut].sum()), float(neg[:cut].sum())
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out = {
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
    total_pos, total_neg = float(pos.sum()), float(neg.sum())
    if total_pos > 0 and total_neg > 0:
        # P(score of a positive > score of a negative), ties (one bin) counting one half.
        above = np.cumsum(pos[::-1])[::-1] - pos  # expected positives in higher bins
        out["roc_auc"] = float(np.sum(neg * (above + 0.5 * pos)) / (total_pos * total_neg))
    return out


def estimate(frame: pd.DataFrame, metric: str) -> dict[str, Any]:
    """CBPE over a prediction-log window; ``{"reason": ...}`` when the model logs no
    probability of the positive class."""
    column = next((c for c in PROBA_COLUMNS if c in frame.columns), None)
    if column is None:
        return no_probability()
    proba = frame[column].dropna()
    if not len(proba):
        return {"reason": "not estimated: no probabilities in the window"}
    return _result(len(proba), expected_metrics(proba.to_numpy()), metric)


def estimate_from(
    counts: np.ndarray | None, sums: np.ndarray | None, metric: str
) -> dict[str, Any]:
    """CBPE over a window's merged probability histogram (the incremental monitor)."""
    if counts is None or sums is None:
        return no_probability()
    rows = int(np.sum(counts))
    if not rows:
        return {"reason": "not estimated: no probabilities in the window"}
    return _result(rows, estimate_histogram(counts, sums), metric)


def no_probability() -> dict[str, Any]:
    return {
        "reason": "not estimated: the prediction log has no probability column "
        f"({', '.join(PROBA_COLUMNS)})"
    }


def _result(rows: int, values: dict[str, float], metric: str) -> dict[str, Any]:
    name = "roc_auc" if metric == "auc" else metric
    return {"method": "cbpe", "rows": rows, "metrics": values, "estimated": values.get(name)}


@dataclass
class DirectLossEstimator:
    """Direct loss estimation for a regressor: models of its absolute and squared error,
    fitted on labelled rows (inputs and prediction), averaged over rows without labels."""

    abs_model: Any
    sq_model: Any
    columns: list[str]

    @classmethod
    def fit(cls, features: pd.DataFrame, y_pred: Any, y_true: Any) -> DirectLossEstimator:
        """Fit on reference rows: their inputs, the served model's predictions, the labels."""
        from sklearn.ensemble import GradientBoostingRegressor

        x = cls._design(features, y_pred)
        err = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
        # Small boosted trees, one thread: the loss is a smooth function of few inputs.
        abs_model = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)
        sq_model = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)
        abs_model.fit(x, np.abs(err))
        sq_model.fit(x, err * err)
        return cls(abs_model, sq_model, list(features.columns))

    @staticmethod
    def _design(features: pd.DataFrame, y_pred: Any) -> np.ndarray:
        numeric = features.apply(lambda c: c.astype(float, errors="ignore"))
        values = numeric.select_dtypes("number").to_numpy(dtype=float)
        return np.column_stack([values, np.asarray(y_pred, dtype=float)])

    def estimate(self, features: pd.DataFrame, y_pred: Any) -> dict[str, float]:
        """The estimated MAE and RMSE of ``y_pred`` on rows with these inputs."""
        x = self._design(features[self.columns], y_pred)
        mae = float(np.mean(np.maximum(self.abs_model.predict(x), 0.0)))
        mse = float(np.mean(np.maximum(self.sq_model.predict(x), 0.0)))
        return {"mae": mae, "rmse": math.sqrt(mse)}


def estimate_regression(
    features: pd.DataFrame, y_pred: Any, labels: Any, metric: str, *, min_labels: int
) -> dict[str, Any]:
    """DLE over a window: fitted on its labelled rows, estimated on the rest."""
    y_pred = np.asarray(y_pred, dtype=float)
    known = np.array(
        [v is not None and not (isinstance(v, float) and math.isnan(v)) for v in labels]
    )
    if known.sum() < min_labels:
        return {"reason": f"not estimated: DLE needs {min_labels} labelled rows to fit on"}
    if known.all():
        return {"reason": "not estimated: every row of the window has its label"}
    y_true = np.asarray([float(v) for v in np.asarray(labels, dtype=object)[known]])
    dle = DirectLossEstimator.fit(features[known], y_pred[known], y_true)
    values = dle.estimate(features[~known], y_pred[~known])
    return {
        "method": "dle",
        "rows": int((~known).sum()),
        "fitted_on": int(known.sum()),
        "metrics": values,
        "estimated": values.get(metric),
    }
