"""Performance estimated before labels, against the realized values on synthetic data with a
known shift: CBPE (accuracy, ROC AUC) for a calibrated classifier, DLE for a regressor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, roc_auc_score

from mloop.loop._cbpe import DirectLossEstimator, estimate, estimate_regression, expected_metrics
from mloop.monitor._window import proba_histogram


def _calibrated(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a calibrated model and labels drawn from them; the shift moves the
    inputs towards the boundary, where the model is less sure (lower AUC and accuracy)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 2.0 - shift, n)
    p = 1 / (1 + np.exp(-x))
    y = (rng.random(n) < p).astype(int)
    return p, y


def test_cbpe_estimates_accuracy_and_roc_auc_under_shift() -> None:
    p0, y0 = _calibrated(20_000, 0.0, 1)
    p1, y1 = _calibrated(20_000, 1.5, 2)
    before, after = expected_metrics(p0), expected_metrics(p1)
    for est, p, y in ((before, p0, y0), (after, p1, y1)):
        assert est["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=0.015)
        assert est["accuracy"] == pytest.approx(((p >= 0.5) == y).mean(), abs=0.015)
    # the shift is seen in the estimate, before any label
    assert after["roc_auc"] < before["roc_auc"] - 0.1
    # a histogram merged from parts gives the same estimate as the whole
    c0, s0 = proba_histogram(p0)
    c1, s1 = proba_histogram(p1)
    merged = estimate(pd.DataFrame({"output.proba": np.concatenate([p0, p1])}), "roc_auc")
    from mloop.loop._cbpe import estimate_from

    parts = estimate_from(c0 + c1, s0 + s1, "roc_auc")
    assert parts["estimated"] == pytest.approx(merged["estimated"], abs=1e-12)
    assert parts["rows"] == 40_000
    assert estimate(pd.DataFrame({"output": [1, 0]}), "accuracy")["reason"].startswith(
        "not estimated"
    )


def _regression(n: int, shift: float, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """y = 2x + noise whose size grows with |x|; the model predicts 2x. Shifting x outwards
    raises the realized error, which DLE must see from the inputs alone."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    z = rng.normal(0.0, 1.0, n)
    y = 2 * x + rng.normal(0.0, 0.2 + 0.5 * np.abs(x), n)
    return pd.DataFrame({"x": x, "z": z}), 2 * x, y


def test_dle_estimates_mae_and_rmse_under_covariate_shift() -> None:
    ref_x, ref_pred, ref_y = _regression(2_000, 0.0, 1)
    live_x, live_pred, live_y = _regression(2_000, 1.5, 2)
    dle = DirectLossEstimator.fit(ref_x, ref_pred, ref_y)
    est = dle.estimate(live_x, live_pred)
    mae = mean_absolute_error(live_y, live_pred)
    rmse = float(np.sqrt(mean_squared_error(live_y, live_pred)))
    assert est["mae"] == pytest.approx(mae, rel=0.1)
    assert est["rmse"] == pytest.approx(rmse, rel=0.1)
    ref_mae = mean_absolute_error(ref_y, ref_pred)
    assert est["mae"] > 1.3 * ref_mae  # the shift is seen without labels

    # In a window: fitted on the labelled rows, estimated on the rest.
    features = pd.concat([ref_x, live_x], ignore_index=True)
    pred = np.concatenate([ref_pred, live_pred])
    labels = list(ref_y) + [None] * len(live_y)
    out = estimate_regression(features, pred, labels, "mae", min_labels=100)
    assert out["method"] == "dle" and out["rows"] == 2_000 and out["fitted_on"] == 2_000
    assert out["estimated"] == pytest.approx(mae, rel=0.1)
    few = estimate_regression(features, pred, [None] * len(pred), "mae", min_labels=100)
    assert few["reason"].startswith("not estimated")
