"""Metric helpers agree with scikit-learn and stay finite."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from mloop.evaluate._metrics import (
    classification_metrics,
    downsample,
    expected_calibration_error,
    regression_metrics,
)


def _binary(n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=n)
    p1 = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    proba = np.column_stack([1 - p1, p1])
    return y, (p1 > 0.5).astype(int), proba


def test_binary_matches_sklearn() -> None:
    y, pred, proba = _binary()
    out = classification_metrics(y, pred, proba, [0, 1], curves=True)
    m = out.metrics
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    # the positive class's figures, as scikit-learn's default average="binary"
    assert m["recall"] == pytest.approx(recall_score(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, proba[:, 1]))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, proba[:, 1]))
    assert m["log_loss"] == pytest.approx(log_loss(y, proba))
    assert m["brier_score"] == pytest.approx(brier_score_loss(y, proba[:, 1]))
    assert 0 <= m["calibration_error"] <= 1
    assert out.labels == ["0", "1"]
    assert sum(map(sum, out.matrix)) == len(y)
    assert out.per_class["1"]["support"] == float((y == 1).sum())
    assert set(out.curves) == {"roc", "pr", "calibration"}
    for curve in out.curves.values():
        lengths = {len(v) for v in curve.values()}
        assert len(lengths) == 1
        assert lengths.pop() <= 200


def test_one_class_present_leaves_auc_out_instead_of_nan() -> None:
    y = np.zeros(5, dtype=int)
    proba = np.column_stack([np.full(5, 0.7), np.full(5, 0.3)])
    out = classification_metrics(y, np.zeros(5, dtype=int), proba, [0, 1])
    assert "roc_auc" not in out.metrics
    assert "pr_auc" not in out.metrics
    assert all(np.isfinite(v) for v in out.metrics.values())


def test_multiclass_ovr_auc_and_brier() -> None:
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c"]
    y = rng.choice(classes, size=300)
    raw = rng.random((300, 3)) + np.column_stack([y == c for c in classes]) * 0.8
    proba = raw / raw.sum(axis=1, keepdims=True)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    m = classification_metrics(y, pred, proba, classes).metrics
    assert m["roc_auc"] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    )
    assert m["brier_score"] == pytest.approx(brier_score_loss(y, proba, labels=classes))
    assert m["log_loss"] == pytest.approx(log_loss(y, proba, labels=classes))


def test_calibration_error_of_a_perfectly_calibrated_bin_is_zero() -> None:
    y = np.array([1, 0, 1, 0])
    assert expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([1, 1]), np.array([0.0, 0.0])) == 1.0


def test_downsample_keeps_ends() -> None:
    x = np.arange(1000, dtype=float)
    out = downsample({"x": x, "y": x * 2})
    assert len(out["x"]) == 200
    assert out["x"][0] == 0.0
    assert out["x"][-1] == 999.0
    assert out["y"][-1] == 1998.0


def test_regression_metrics_and_mape_skips_zeros() -> None:
    y = np.array([0.0, 2.0, 4.0, 8.0])
    pred = np.array([1.0, 2.5, 3.0, 8.0])
    metrics, notes = regression_metrics(y, pred)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((y - pred) ** 2)))
    assert metrics["r2"] == pytest.approx(r2_score(y, pred))
    assert metrics["mape"] == pytest.approx(np.mean([0.25, 0.25, 0.0]))
    assert metrics["residual_q50"] == pytest.approx(np.quantile(y - pred, 0.5))
    assert {f"residual_q{q}" for q in ("05", "25", "50", "75", "95")} <= set(metrics)
    assert notes == ["mape: 1 of 4 rows with a zero target left out"]
