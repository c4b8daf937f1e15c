"""to_onnx(): conversion with skl2onnx, checked against the scikit-learn model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mloop_models_cases import tabular, target
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge

import mloop.models
from mloop.errors import InvalidArgument, ModelError


class Custom(RegressorMixin, BaseEstimator):
    def fit(self, x: Any, y: Any) -> Custom:
        self.n_features_in_ = np.shape(x)[1]
        return self

    def predict(self, x: Any) -> Any:
        return np.zeros(len(x))


@pytest.mark.slow
def test_a_regressor_converts_within_tolerance(tmp_path: Path) -> None:
    x = tabular()
    model = Ridge().fit(x, target(x))
    onx = mloop.models.to_onnx(model, x)
    mloop.models.save(onx, tmp_path / "m", input_example=x.head(10))
    loaded = mloop.models.load(tmp_path / "m")
    assert loaded.flavor == "onnx"
    got = loaded.predict(x).ravel()
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-4)
    with pytest.raises(ModelError, match="has no predict_proba"):
        loaded.predict_proba(x)


def test_disagreement_is_an_error() -> None:
    x = tabular()
    model = Ridge().fit(x, target(x))
    with pytest.raises(ModelError, match=r"the predictions differ on \d+ of 300 rows"):
        mloop.models.to_onnx(model, x, rtol=0, atol=0)


def test_what_cannot_be_converted() -> None:
    x = tabular()
    with pytest.raises(InvalidArgument, match="numeric tables"):
        mloop.models.to_onnx(Ridge().fit(x, target(x)), x.assign(city="oslo"))
    with pytest.raises(ModelError, match="skl2onnx cannot convert the Custom"):
        mloop.models.to_onnx(Custom().fit(x, None), x)


def test_multiple_input_onnx_models_take_columns(tmp_path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = tabular()[["income", "score"]].astype(np.float32)
    model = make_pipeline(
        ColumnTransformer([("s", StandardScaler(), ["income", "score"])]), Ridge()
    ).fit(x, x["score"] * 2)
    onx = convert_sklearn(
        model,
        initial_types=[
            ("income", FloatTensorType([None, 1])),
            ("score", FloatTensorType([None, 1])),
        ],
    )
    mloop.models.save(onx, tmp_path / "m", input_example=x.head(5))
    loaded = mloop.models.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(x).ravel(), model.predict(x), rtol=1e-4, atol=1e-5)
    assert isinstance(loaded.unwrap().get_inputs(), list)
    assert isinstance(loaded.input_example, pd.DataFrame)
