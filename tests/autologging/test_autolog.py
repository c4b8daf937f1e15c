"""``mloop.autolog()``: what a fit logs, nested candidates of a search, boosting iterations,
and nothing logged twice, nothing logged once it is off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.errors import InvalidArgument


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series((x["a"] + 0.3 * rng.normal(size=200) > 0).astype(int), name="y")
    return x, y


@pytest.fixture
def autologged(mloop_home: Path) -> Iterator[None]:
    mloop.autolog(frameworks=["sklearn", "lightgbm", "xgboost"], silent=False)
    yield
    mloop.autolog(disable=True)


def run_data(run_id: str) -> Any:
    return mloop.Client().get_run(run_id).data


def artifacts(run_id: str, path: str = "") -> set[str]:
    return {a.path for a in mloop.Client().list_artifacts(run_id, path)}


def test_a_pipeline_fit_logs_params_of_its_steps_metrics_and_the_model(
    autologged: None, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = data
    with mloop.start_run() as run:
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5))]).fit(x, y)
    logged = run_data(run.run_id)
    assert logged.params["clf__C"] == "0.5"
    assert logged.params["clf"] == "LogisticRegression" and "scale__with_mean" in logged.params
    assert logged.metrics["training_accuracy_score"].value > 0.8
    assert "training_roc_auc" in logged.metrics and "training_log_loss" in logged.metrics
    assert logged.tags["mloop.autolog.estimator"] == "sklearn.pipeline.Pipeline"
    # the model, with a signature and an input example: loadable and predicting
    model = mloop.models.load(f"runs:/{run.run_id}/model")
    assert model.signature is not None and [c.name for c in model.signature.inputs] == ["a", "b"]
    assert model.input_example is not None and len(model.input_example) == 5
    assert list(model.predict(x.head(3))) == list(
        Pipeline([("s", StandardScaler()), ("c", LogisticRegression(C=0.5))])
        .fit(x, y)
        .predict(x.head(3))
    )


def test_a_fit_outside_a_run_gets_a_run_of_its_own(
    autologged: None, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import Ridge

    x, y = data
    Ridge(alpha=2.0).fit(x, y)
    assert mloop.active_run() is None
    (run,) = mloop.Client().search_runs(None, "params.alpha = '2.0'").runs
    assert run.info.run_name == "Ridge" and run.info.status == "FINISHED"
    assert {"training_r2_score", "training_mean_squared_error"} <= set(run.data.metrics)


def test_a_search_logs_best_params_and_candidates_as_nested_runs(
    autologged: None, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeClassifier

    x, y = data
    mloop.autolog(max_tuning_runs=2)
    with mloop.start_run() as run:
        GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3]}, cv=3).fit(
            x, y
        )
    logged = run_data(run.run_id)
    assert logged.params["best_max_depth"] in {"1", "2", "3"}
    assert "best_cv_score" in logged.metrics
    children = mloop.Client().search_runs(None, f"parent_run_id = '{run.run_id}'").runs
    assert sorted(c.info.run_name for c in children) == ["candidate-1", "candidate-2"]
    best = next(c for c in children if c.info.run_name == "candidate-1")
    assert best.data.params["max_depth"] == logged.params["best_max_depth"]
    assert "mean_test_score" in best.data.metrics
    # the clones fitted inside the search logged no runs of their own
    assert len(mloop.Client().search_runs(None, "").runs) == 3
    assert "model" in artifacts(run.run_id)


def test_what_the_user_logs_is_not_logged_again(
    autologged: None, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = data
    with mloop.start_run() as run:
        mloop.log_param("C", "my-own")
        mloop.log_metric("training_accuracy_score", 0.123)
        clf = LogisticRegression(C=2.0).fit(x, y)
        mloop.models.log_model(clf, "model", input_example=x.head(2))
        LogisticRegression(C=3.0).fit(x, y)  # a second fit in the same run
    logged = run_data(run.run_id)
    assert logged.params["C"] == "my-own"
    assert logged.metrics["training_accuracy_score"].value == 0.123
    history = mloop.Client().get_metric_history(run.run_id, "training_accuracy_score")
    assert len(history.values) == 1
    # the model is the user's (their 2-row example), not overwritten by the second fit
    assert len(mloop.models.load(f"runs:/{run.run_id}/model").input_example) == 2


def test_disabled_logs_nothing(mloop_home: Path, data: tuple[pd.DataFrame, pd.Series]) -> None:
    from sklearn.linear_model import LogisticRegression

    assert "sklearn" in mloop.autolog(frameworks=["sklearn"])
    assert mloop.autolog(disable=True) == []
    x, y = data
    with mloop.start_run() as run:
        LogisticRegression().fit(x, y)
    assert run_data(run.run_id).params == {}
    with pytest.raises(InvalidArgument, match="unknown framework"):
        mloop.autolog(frameworks=["tensorflow"])


@pytest.mark.slow
def test_lightgbm_logs_iterations_importance_and_the_booster(
    autologged: None, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    import lightgbm as lgb

    x, y = data
    train = lgb.Dataset(x, y, free_raw_data=False)
    with mloop.start_run() as run:
        lgb.train(
            {"objective": "binary", "num_leaves": 7, "verbose": -1, "metric": "binary_logloss"},
            train,
            num_boost_round=5,
            valid_sets=[train],
            valid_names=["train"],
        )
    logged = run_data(run.run_id)
    assert logged.params["num_leaves"] == "7" and logged.params["num_boost_round"] == "5"
    history = mloop.Client().get_metric_history(run.run_id, "train-binary_logloss")
    assert list(history.steps) == [0, 1, 2, 3, 4]
    assert "feature_importance.json" in artifacts(run.run_id)
    model = mloop.models.load(f"runs:/{run.run_id}/model")
    assert len(model.predict(x.head(4))) == 4


@pytest.mark.slow
def test_xgboost_logs_iterations_importance_and_the_booster(
    autologged: None, data: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    import xgboost as xgb

    x, y = data
    dtrain = xgb.DMatrix(x, label=y)
    with mloop.start_run() as run:
        xgb.train(
            {"objective": "binary:logistic", "max_depth": 2, "eval_metric": "logloss"},
            dtrain,
            num_boost_round=4,
            evals=[(dtrain, "train")],
            verbose_eval=False,
        )
    logged = run_data(run.run_id)
    assert logged.params["max_depth"] == "2"
    history = mloop.Client().get_metric_history(run.run_id, "train-logloss")
    assert list(history.steps) == [0, 1, 2, 3]
    assert "model" in artifacts(run.run_id)
    local = mloop.Client().download_artifacts(run.run_id, "feature_importance.json", tmp_path)
    doc = json.loads(Path(local).read_text())
    assert doc["importance_type"] == "gain" and set(doc["features"]) <= {"a", "b"}


@pytest.mark.slow
# Keras' torch variables implement __array__ without numpy 2's copy keyword (third-party noise).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_keras_fit_logs_params_epochs_and_the_model(mloop_home: Path) -> None:
    from mloop.models._keras import import_keras

    keras = import_keras()
    assert mloop.autolog(frameworks=["keras"]) == ["keras"]
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 3)).astype("float32")
        y = (x[:, 0] > 0).astype("float32")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
        with mloop.start_run() as run:
            model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    finally:
        mloop.autolog(disable=True, frameworks=["keras"])
    logged = run_data(run.run_id)
    assert logged.params["fit_epochs"] == "3" and logged.params["optimizer"] == "Adam"
    assert float(logged.params["learning_rate"]) == pytest.approx(0.01)
    for key in ("loss", "val_loss"):
        assert list(mloop.Client().get_metric_history(run.run_id, key).steps) == [0, 1, 2]
    loaded = mloop.models.load(f"runs:/{run.run_id}/model")
    assert loaded.flavor == "keras"
    # off again: a fit logs nothing
    with mloop.start_run() as quiet:
        model.fit(x, y, epochs=1, verbose=0)
    assert run_data(quiet.run_id).params == {}
