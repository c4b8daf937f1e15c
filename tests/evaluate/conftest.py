"""Evaluation fixtures: tiny tables and scikit-learn models saved as mloop model folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def binary_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    region = rng.choice(["eu", "us", "apac"], size=n)
    gender = rng.choice(["f", "m"], size=n)
    logit = 1.5 * x1 - x2 + (gender == "m") * 0.8
    y = (logit + rng.normal(scale=0.8, size=n) > 0).astype(int)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "age": rng.uniform(18, 80, size=n),
            "region": region,
            "gender": gender,
            "y": y,
        }
    )


@pytest.fixture
def binary_data() -> pd.DataFrame:
    return binary_frame()


@pytest.fixture
def binary_model(tmp_path: Path, binary_data: pd.DataFrame) -> str:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    x = binary_data[["x1", "x2"]]
    model = LogisticRegression().fit(x, binary_data["y"])
    return mloop.models.save(model, tmp_path / "binary", input_example=x.head(5)).model_uri


@pytest.fixture
def multiclass_data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 180
    x1 = rng.normal(size=n)
    y = np.where(x1 < -0.5, "a", np.where(x1 < 0.5, "b", "c"))
    flip = rng.random(n) < 0.1
    y[flip] = "b"
    return pd.DataFrame({"x1": x1, "x2": rng.normal(size=n), "label": y})


@pytest.fixture
def multiclass_model(tmp_path: Path, multiclass_data: pd.DataFrame) -> str:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    x = multiclass_data[["x1", "x2"]]
    model = LogisticRegression().fit(x, multiclass_data["label"])
    return mloop.models.save(model, tmp_path / "multi", input_example=x.head(5)).model_uri


@pytest.fixture
def regression_data() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 150
    x1 = rng.normal(size=n)
    y = 3 * x1 + 5 + rng.normal(scale=0.5, size=n)
    y[:3] = 0.0
    return pd.DataFrame({"x1": x1, "size": rng.integers(0, 40, size=n), "y": y})


@pytest.fixture
def regression_model(tmp_path: Path, regression_data: pd.DataFrame) -> str:
    from sklearn.linear_model import LinearRegression

    import mloop.models

    x = regression_data[["x1"]]
    model = LinearRegression().fit(x, regression_data["y"])
    return mloop.models.save(model, tmp_path / "reg", input_example=x.head(5)).model_uri
