"""``mloop serve --optimize``: scikit-learn models compiled to ONNX Runtime after a parity
check, the plain model kept (with the reason) otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mloop_serve_testlib import StartServe
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mloop.models
from mloop.serve import ServedModel
from mloop.serve._onnx import optimize

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "visits": rng.poisson(3, n).astype(np.int64),
            "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
        }
    )


def _pipeline(estimator: object) -> object:
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income", "visits"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    return make_pipeline(pre, estimator)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    x = _frame(400, 0)
    labels = np.where(x["age"] + 5 * (x["plan"] == "pro") > 42, "churn", "stay")
    clf = _pipeline(LogisticRegression(max_iter=500)).fit(x, labels)  # type: ignore[attr-defined]
    target = 0.1 * x["age"] + np.log(x["income"]) + 2 * (x["plan"] == "plus")
    reg = _pipeline(Ridge()).fit(x, target)  # type: ignore[attr-defined]
    out = {"clf": root / "clf", "reg": root / "reg", "bare": root / "bare"}
    mloop.models.save(clf, out["clf"], input_example=x.head(20))
    mloop.models.save(reg, out["reg"], input_example=x.head(20))
    mloop.models.save(reg, out["bare"])  # no input example
    return out


@pytest.mark.slow
@pytest.mark.parametrize("which", ["clf", "reg"])
def test_a_pipeline_with_a_column_transformer_is_compiled(
    saved: dict[str, Path], which: str
) -> None:
    plain = mloop.models.load(saved[which])
    result = optimize(plain)
    assert result.compiled, result.reason
    assert result.reason is None
    fresh = _frame(300, 7)
    want, got = np.asarray(plain.predict(fresh)), np.asarray(result.model.predict(fresh))
    if which == "clf":
        assert (got == want).all()
    else:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert result.model.signature == plain.signature


@pytest.mark.slow
def test_without_an_input_example_the_plain_model_stays(
    saved: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    plain = mloop.models.load(saved["bare"])
    with caplog.at_level(logging.WARNING, logger="mloop.serve"):
        result = optimize(plain, name="bare")
    assert not result.compiled
    assert result.model is plain
    assert "no saved input example" in (result.reason or "")
    assert "bare: --optimize kept the plain model" in caplog.text


@pytest.mark.slow
def test_a_model_that_is_not_scikit_learn_stays(models_dir: Path) -> None:
    result = optimize(mloop.models.load(models_dir / "doubler"))
    assert not result.compiled
    assert "only scikit-learn models are compiled" in (result.reason or "")


@pytest.mark.slow
def test_predictions_that_differ_keep_the_plain_model(
    saved: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mloop.serve._onnx as onnx_path

    # A tolerance no float32 computation meets: the parity check must refuse the session.
    monkeypatch.setattr(onnx_path, "RTOL", 0.0)
    monkeypatch.setattr(onnx_path, "ATOL", 0.0)
    plain = mloop.models.load(saved["reg"])
    result = optimize(plain)
    assert not result.compiled
    assert "predictions differ" in (result.reason or "")
    assert result.model is plain


@pytest.mark.slow
def test_served_with_optimize_answers_like_the_plain_server(
    start_serve: StartServe, saved: dict[str, Path]
) -> None:
    rows = _frame(5, 3)
    body = {"dataframe_records": rows.to_dict(orient="records")}
    plain = start_serve([ServedModel(str(saved["clf"]), name="m")])
    fast = start_serve([ServedModel(str(saved["clf"]), name="m", optimize=True)])
    a = plain.client.post("/v1/models/m:predict", json=body)
    b = fast.client.post("/v1/models/m:predict", json=body)
    assert a.status_code == b.status_code == 200, b.text
    assert a.json()["predictions"] == b.json()["predictions"]
    bad = fast.client.post("/v1/models/m:predict", json={"dataframe_records": [{"age": 1.0}]})
    assert bad.status_code == 422  # the same validation in front of the session
