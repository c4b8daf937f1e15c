"""Fairness numbers match fairlearn's definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    selection_rate,
)

from mloop.evaluate import evaluate
from mloop.evaluate._fairness import fairness


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_fairlearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    groups = pd.Series(rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]))
    y_true = rng.integers(0, 2, size=n)
    y_pred = np.where(rng.random(n) < 0.8, y_true, 1 - y_true)
    y_pred[groups.to_numpy() == "c"] = (rng.random(int((groups == "c").sum())) < 0.3).astype(int)
    got = fairness(y_true, y_pred, groups, 1)
    kw = {"sensitive_features": groups}
    assert got.demographic_parity_difference == pytest.approx(
        demographic_parity_difference(y_true, y_pred, **kw)
    )
    assert got.demographic_parity_ratio == pytest.approx(
        demographic_parity_ratio(y_true, y_pred, **kw)
    )
    assert got.equalized_odds_difference == pytest.approx(
        equalized_odds_difference(y_true, y_pred, **kw)
    )
    frame = MetricFrame(metrics=selection_rate, y_true=y_true, y_pred=y_pred, **kw)
    assert got.selection_rate == pytest.approx(frame.by_group.to_dict())


def test_string_labels_use_the_positive_class() -> None:
    y_true = np.array(["no", "yes", "yes", "no", "yes", "no"])
    y_pred = np.array(["no", "yes", "no", "yes", "yes", "no"])
    groups = pd.Series(["x", "x", "x", "y", "y", "y"])
    got = fairness(y_true, y_pred, groups, "yes")
    ref = demographic_parity_difference(y_true == "yes", y_pred == "yes", sensitive_features=groups)
    assert got.demographic_parity_difference == pytest.approx(ref)
    assert got.selection_rate == {"x": pytest.approx(1 / 3), "y": pytest.approx(2 / 3)}


def test_nobody_selected_is_parity_not_nan() -> None:
    got = fairness(np.array([0, 1, 0, 1]), np.zeros(4, dtype=int), pd.Series(list("aabb")), 1)
    assert got.demographic_parity_difference == 0.0
    assert got.demographic_parity_ratio == 1.0


def test_evaluate_reports_fairness_per_sensitive_column(
    binary_model: str, binary_data: pd.DataFrame
) -> None:
    result = evaluate(
        binary_model,
        binary_data,
        target="y",
        sensitive=["gender", "region"],
        log=False,
        latency=False,
    )
    assert set(result.fairness) == {"gender", "region"}
    from mloop.models import load

    y_pred = load(binary_model).predict(binary_data[["x1", "x2"]])
    y_pred = np.asarray(y_pred).ravel()
    for col in ("gender", "region"):
        ref = demographic_parity_difference(
            binary_data["y"], y_pred, sensitive_features=binary_data[col]
        )
        assert result.fairness[col].demographic_parity_difference == pytest.approx(ref)
        assert result.lookup(f"fairness[{col}].demographic_parity_difference") == pytest.approx(ref)
    worst = max(f.equalized_odds_difference or 0.0 for f in result.fairness.values())
    assert result.lookup("equalized_odds_difference") == pytest.approx(worst)
    lowest = min(f.demographic_parity_ratio for f in result.fairness.values())
    assert result.lookup("demographic_parity_ratio") == pytest.approx(lowest)
    rate = result.fairness["gender"].selection_rate["f"]
    assert result.lookup("fairness[gender].selection_rate[f]") == rate
