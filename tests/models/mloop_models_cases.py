"""The flavor cases of the model contract tests: tiny data and one tiny fitted model per case.

Every case carries what the shared contract needs: the model, its input example, the in-memory
model's own predictions on the example, and how to save it again from a loaded model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

N_ROWS = 300

# Third-party deprecation noise, for the tests that run those frameworks.
TORCH_JIT_DEPRECATED = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"
)
KERAS_ARRAY_COPY = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def tabular(n: int = N_ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 12_000, n),
            "score": rng.random(n).astype(np.float32),
        }
    )


def tensor(n: int = N_ROWS, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def labels(x: pd.DataFrame) -> np.ndarray:
    return ((x["age"] > 45) ^ (x["score"] > 0.7)).to_numpy().astype(np.int64)


def target(x: pd.DataFrame) -> np.ndarray:
    return (x["age"] * 0.1 + x["income"] / 10_000 + x["score"]).to_numpy()


@dataclass
class Case:
    """One flavor's model, with what the contract checks it against."""

    id: str
    flavor: str
    model: Any
    example: Any
    expected: Any  # the in-memory model's predictions on ``example``
    package: str  # the distribution pinned in requirements
    proba: Any = None  # the in-memory model's predict_proba on ``example``, if it has one
    save_kwargs: dict[str, Any] = field(default_factory=dict)
    rtol: float = 0.0  # 0: predictions must be equal
    resave: Callable[[Any], Any] = lambda loaded: loaded.unwrap()


def _sklearn_classifier() -> Case:
    from sklearn.linear_model import LogisticRegression

    x = tabular()
    model = LogisticRegression(max_iter=500).fit(x, labels(x))
    ex = x.head(20)
    return Case(
        "sklearn-classifier",
        "sklearn",
        model,
        ex,
        model.predict(ex),
        "scikit-learn",
        proba=model.predict_proba(ex),
    )


def _sklearn_pipeline() -> Case:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x = tabular()[["age", "income"]].assign(
        city=np.random.default_rng(2).choice(["oslo", "lima", "pune"], N_ROWS)
    )
    y = np.where((x["age"] > 45) | (x["city"] == "lima"), "yes", "no")
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["age", "income"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    ]
                ),
            ),
            ("clf", RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)),
        ]
    ).fit(x, y)
    ex = x.head(20)
    return Case(
        "sklearn-pipeline",
        "sklearn",
        model,
        ex,
        model.predict(ex),
        "scikit-learn",
        proba=model.predict_proba(ex),
    )


def _sklearn_regressor() -> Case:
    from sklearn.linear_model import Ridge

    x = tensor().astype(np.float64)
    model = Ridge().fit(x, x @ np.array([1.0, -2.0, 0.5, 3.0]))
    ex = x[:20]
    return Case("sklearn-regressor", "sklearn", model, ex, model.predict(ex), "scikit-learn")


def _lightgbm_sklearn() -> Case:
    import lightgbm as lgb

    x = tabular()
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(x, labels(x))
    ex = x.head(20)
    return Case(
        "lightgbm-sklearn",
        "lightgbm",
        model,
        ex,
        model.predict(ex),
        "lightgbm",
        proba=model.predict_proba(ex),
    )


def _lightgbm_booster() -> Case:
    import lightgbm as lgb

    x = tabular()
    params = {"objective": "regression", "num_leaves": 7, "verbose": -1}
    model = lgb.train(params, lgb.Dataset(x, target(x)), num_boost_round=10)
    ex = x.head(20)
    return Case("lightgbm-booster", "lightgbm", model, ex, model.predict(ex), "lightgbm")


def _xgboost_sklearn() -> Case:
    import xgboost as xgb

    x = tabular()
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(x, labels(x))
    ex = x.head(20)
    return Case(
        "xgboost-sklearn",
        "xgboost",
        model,
        ex,
        model.predict(ex),
        "xgboost-cpu",
        proba=model.predict_proba(ex),
    )


def _xgboost_booster() -> Case:
    import xgboost as xgb

    x = tabular()
    params = {"objective": "reg:squarederror", "max_depth": 3}
    model = xgb.train(params, xgb.DMatrix(x, label=target(x)), num_boost_round=10)
    ex = x.head(20)
    return Case("xgboost-booster", "xgboost", model, ex, model.inplace_predict(ex), "xgboost-cpu")


def _train_torch(module: Any) -> Any:
    import torch

    torch.manual_seed(0)
    x = torch.from_numpy(tensor())
    y = x.sum(dim=1, keepdim=True)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.05)
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(module(x), y)
        loss.backward()
        optimizer.step()
    return module.eval()


def _torch_expected(module: Any, ex: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(ex)).numpy()  # type: ignore[no-any-return]


def _pytorch_torchscript() -> Case:
    import torch
    from mloop_models_torchnet import TinyNet

    torch.manual_seed(0)
    model = torch.jit.script(_train_torch(TinyNet()))
    ex = tensor()[:20]
    return Case(
        "pytorch-torchscript", "pytorch", model, ex, _torch_expected(model, ex), "torch", rtol=1e-6
    )


def _pytorch_state_dict() -> Case:
    import torch
    from mloop_models_torchnet import TinyNet

    torch.manual_seed(0)
    model = _train_torch(TinyNet(n_in=4, hidden=6))
    ex = tensor()[:20]
    return Case(
        "pytorch-state-dict",
        "pytorch",
        model,
        ex,
        _torch_expected(model, ex),
        "torch",
        save_kwargs={"init_kwargs": {"n_in": 4, "hidden": 6}},
        rtol=1e-6,
    )


def _onnx() -> Case:
    import onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import mloop.models

    x = tabular()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, labels(x))
    onx = mloop.models.to_onnx(model, x)
    ex = x.head(20)
    return Case(
        "onnx",
        "onnx",
        onx,
        ex,
        model.predict(ex),
        "onnxruntime",
        proba=model.predict_proba(ex),
        rtol=1e-4,
        resave=lambda loaded: onnx.load(str(loaded.path / "model.onnx")),
    )


def _keras() -> Case:
    from mloop.models._keras import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    x = tensor()
    model.fit(x, x.sum(axis=1), epochs=2, batch_size=64, verbose=0)
    ex = x[:20]
    return Case("keras", "keras", model, ex, model.predict(ex, verbose=0), "keras", rtol=1e-5)


def _pyfunc(tmp: Path) -> Case:
    from mloop_models_testlib import ScaledSum

    factor = tmp / "factor.txt"
    factor.write_text("2.5")
    ex = pd.DataFrame({"a": [1, 2, 3, 4], "b": [0.5, 1.5, 2.5, 3.5], "c": ["x", "y", "z", "w"]})
    expected = pd.DataFrame({"total": (ex["a"] + ex["b"]) * 2.5, "label": ex["c"].str.upper()})
    return Case(
        "pyfunc",
        "pyfunc",
        ScaledSum(),
        ex,
        expected,
        "mloop",
        save_kwargs={"artifacts": {"factor": str(factor)}},
    )


BUILDERS: dict[str, Callable[..., Case]] = {
    "sklearn-classifier": _sklearn_classifier,
    "sklearn-pipeline": _sklearn_pipeline,
    "sklearn-regressor": _sklearn_regressor,
    "lightgbm-sklearn": _lightgbm_sklearn,
    "lightgbm-booster": _lightgbm_booster,
    "xgboost-sklearn": _xgboost_sklearn,
    "xgboost-booster": _xgboost_booster,
    "pytorch-torchscript": _pytorch_torchscript,
    "pytorch-state-dict": _pytorch_state_dict,
    "onnx": _onnx,
    "keras": _keras,
    "pyfunc": _pyfunc,
}
