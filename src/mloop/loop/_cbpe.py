"""Performance estimated before labels arrive: confidence-based performance estimation (CBPE,
as NannyML names it) for binary classifiers that log a probability.

With calibrated probabilities ``p`` of the positive class, the chance that a prediction at
threshold 0.5 is right is ``max(p, 1 - p)``; the expected accuracy of a window is their mean,
and the expected confusion matrix gives precision, recall and F1 the same way. The estimate is
shown beside the realized value once labels join, never in its place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PROBA_COLUMNS", "estimate", "expected_metrics"]

#: Prediction-log columns read as the probability of the positive class, in this order.
PROBA_COLUMNS = ("output.proba", "output.probability", "proba", "probability")


def expected_metrics(proba: Any, threshold: float = 0.5) -> dict[str, float]:
    """The expected accuracy, precision, recall and F1 of predictions ``proba >= threshold``."""
    import numpy as np

    p = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    pred = p >= threshold
    tp = float(np.sum(np.where(pred, p, 0.0)))
    fp = float(np.sum(np.where(pred, 1.0 - p, 0.0)))
    fn = float(np.sum(np.where(~pred, p, 0.0)))
    tn = float(np.sum(np.where(~pred, 1.0 - p, 0.0)))
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def estimate(frame: pd.DataFrame, metric: str) -> dict[str, Any]:
    """CBPE over a prediction-log window; ``{"reason": ...}`` when the model logs no
    probability of the positive class."""
    column = next((c for c in PROBA_COLUMNS if c in frame.columns), None)
    if column is None:
        return {
            "reason": "not estimated: the prediction log has no probability column "
            f"({', '.join(PROBA_COLUMNS)})"
        }
    proba = frame[column].dropna()
    if not len(proba):
        return {"reason": "not estimated: no probabilities in the window"}
    values = expected_metrics(proba.to_numpy())
    return {
        "method": "cbpe",
        "rows": len(proba),
        "metrics": values,
        "estimated": values.get(metric),
    }
