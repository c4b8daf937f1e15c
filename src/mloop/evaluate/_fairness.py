"""Group fairness of binary predictions, with fairlearn's definitions (without needing it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mloop.evaluate._result import FairnessResult

__all__ = ["fairness"]


def fairness(
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    groups: pd.Series[Any],
    positive: Any,
) -> FairnessResult:
    """Fairness of ``y_pred`` across the values of ``groups``, ``positive`` the favourable label.

    - selection rate of a group: the share of its rows predicted ``positive``;
    - demographic parity difference: the largest minus the smallest selection rate; the ratio,
      the smallest over the largest (1.0 when no group is selected at all, where fairlearn
      gives NaN: equal treatment, and a gate must not fail on a NaN);
    - equalized odds difference: the larger of the spread of true positive rates and the spread
      of false positive rates across groups (groups where a rate is undefined, having no
      positives or no negatives, are left out of that spread; None when no spread is defined).

    Rows with a missing group form the group ``null``.
    """
    labels = _group_labels(groups)
    pred_pos = np.asarray(y_pred == positive)
    true_pos = np.asarray(y_true == positive)
    rates: dict[str, float] = {}
    tprs: list[float] = []
    fprs: list[float] = []
    for g in sorted(set(labels.tolist())):
        mask = labels == g
        rates[g] = float(pred_pos[mask].mean())
        pos, neg = mask & true_pos, mask & ~true_pos
        if pos.any():
            tprs.append(float(pred_pos[pos].mean()))
        if neg.any():
            fprs.append(float(pred_pos[neg].mean()))
    values = list(rates.values())
    high, low = max(values), min(values)
    spreads = [max(v) - min(v) for v in (tprs, fprs) if v]
    return FairnessResult(
        demographic_parity_difference=high - low,
        demographic_parity_ratio=low / high if high > 0 else 1.0,
        equalized_odds_difference=max(spreads) if spreads else None,
        selection_rate=rates,
    )


def _group_labels(groups: pd.Series[Any]) -> np.ndarray[Any, Any]:
    return np.asarray([("null" if pd.isna(v) else str(v)) for v in groups.tolist()], dtype=object)
