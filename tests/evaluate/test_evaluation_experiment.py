"""Evaluation runs land beside the model's runs, in the chosen experiment, or nested."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.evaluate import evaluate


@pytest.fixture
def registered(mloop_home: Path) -> pd.DataFrame:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=80)})
    frame["y"] = (frame["x"] > 0).astype(int)
    mloop.set_experiment("churn")
    with mloop.start_run():
        model = LogisticRegression().fit(frame[["x"]], frame["y"])
        mloop.models.log_model(model, input_example=frame[["x"]].head(3), registered_model_name="m")
    from mloop.tracking import _fluent

    _fluent.reset()  # a new session: no experiment chosen
    return frame


def experiment_of(run_id: str) -> str:
    client = mloop.Client()
    return client.store.get_experiment(client.get_run(run_id).info.experiment_id).name


def test_beside_the_model_s_run_by_default(registered: pd.DataFrame) -> None:
    result = evaluate("models:/m/1", registered, target="y", latency=False)
    assert result.run_id is not None and experiment_of(result.run_id) == "churn"


def test_in_the_experiment_chosen(registered: pd.DataFrame) -> None:
    mloop.set_experiment("evaluations")
    result = evaluate("models:/m/1", registered, target="y", latency=False)
    assert result.run_id is not None and experiment_of(result.run_id) == "evaluations"


def test_nested_under_the_active_run(registered: pd.DataFrame) -> None:
    mloop.set_experiment("ci")
    with mloop.start_run() as parent:
        result = evaluate("models:/m/1", registered, target="y", latency=False)
    run = mloop.Client().get_run(result.run_id or "")
    assert run.info.parent_run_id == parent.run_id and experiment_of(run.info.run_id) == "ci"
