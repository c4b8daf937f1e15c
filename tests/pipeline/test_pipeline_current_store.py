"""Pipelines and tuning follow the current store, in the threads they start."""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any

import optuna
from tests.pipeline.conftest import Project

import mloop
import mloop.pipeline as mp
import mloop.store
from mloop.pipeline._tune import tune
from mloop.pipeline._tune_journal import journal_storage
from mloop.tracking import Client

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"x": {"type": "float", "low": -1.0, "high": 1.0}}


def test_tune_and_its_journal_follow_set_tracking_uri(elsewhere: Any) -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        # the objective's own calls use the study's store
        mloop.data.register(_frame(params["x"]), f"t{trial.number}")
        return params["x"] ** 2

    result = tune(objective, SPACE, n_trials=2, study_name="s", sampler="random", seed=1)
    assert Client(elsewhere.uri).get_run(result.parent_run_id).data.tags["mloop.tune.study"] == "s"
    assert {d.name for d in mloop.data.list_datasets()} == {"t0", "t1"}
    study = optuna.load_study(study_name="s", storage=journal_storage(result.experiment_id + ":s"))
    assert len(study.trials) == 2


def _frame(x: float) -> Any:
    import pandas as pd

    return pd.DataFrame({"x": [x]})


def test_tune_threads_see_the_use_block_and_settings_scope_the_trials(
    mloop_home: Path, tmp_path: Path
) -> None:
    scoped = f"sqlite:///{tmp_path / 'scoped.db'}"
    other = f"sqlite:///{tmp_path / 'other.db'}"
    seen: list[str] = []

    def objective(params: dict[str, Any], trial: Any) -> float:
        seen.append(mloop.store.current().settings.tracking_uri)
        return params["x"] ** 2

    with mloop.store.use(scoped):
        tune(objective, SPACE, n_trials=4, parallelism=2, sampler="random", seed=1)
    assert seen == [scoped] * 4
    seen.clear()
    # explicit settings: the trials run with them current, whatever is current outside
    settings = mloop.store.current().settings.model_copy(update={"tracking_uri": other})
    result = tune(objective, SPACE, n_trials=2, parallelism=2, settings=settings, seed=2)
    assert seen == [other] * 2
    assert Client(other).get_run(result.parent_run_id).info.status.value == "FINISHED"


_REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("test_request", default="unset")


def test_tune_worker_threads_run_in_a_copy_of_the_callers_context(mloop_home: Path) -> None:
    """Not only the store: any context variable of the caller (here the test's own) is seen
    by the objective in every worker thread."""
    seen: list[str] = []

    def objective(params: dict[str, Any], trial: Any) -> float:
        seen.append(_REQUEST.get())
        return params["x"] ** 2

    token = _REQUEST.set("caller")
    try:
        tune(objective, SPACE, n_trials=4, parallelism=2, sampler="random", seed=3)
    finally:
        _REQUEST.reset(token)
    assert seen == ["caller"] * 4


def test_pipeline_steps_see_the_use_block(project: Project, tmp_path: Path) -> None:
    project.write(
        "where.py",
        """
        @step
        def where(i: int):
            return mloop.store.current().settings.tracking_uri

        @pipeline
        def fan():
            return [where(i) for i in range(3)]
        """,
    )
    scoped = f"sqlite:///{tmp_path / 'scoped.db'}"
    with mloop.store.use(scoped):
        result = mp.run(project.target("where.py", "fan"), cache=False)
    assert result.output == [scoped] * 3
    assert Client(scoped).get_run(result.run_id).info.run_id == result.run_id
