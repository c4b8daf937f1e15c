"""``tune``: Optuna search stored in mloop's store, every trial a nested run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

import mloop
from mloop.errors import InvalidArgument
from mloop.pipeline._tune import TuneResult, tune
from mloop.pipeline._tune_space import parse_space
from mloop.store import Run, RunStatus
from mloop.tracking import Client

optuna.logging.set_verbosity(optuna.logging.WARNING)

X_SPACE = {"x": {"type": "float", "low": -10.0, "high": 10.0}}


def quadratic(params: dict[str, Any], trial: Any) -> float:
    return (params["x"] - 2.0) ** 2


def trial_runs(result: TuneResult) -> list[Run]:
    client = Client()
    page = client.search_runs([result.experiment_id], max_results=1000)
    return [r for r in page.runs if r.info.parent_run_id == result.parent_run_id]


@pytest.mark.slow
def test_tpe_finds_the_optimum_of_a_quadratic(mloop_home: Path) -> None:
    result = tune(quadratic, X_SPACE, n_trials=30, study_name="quad", seed=7)
    assert result.n_complete == 30 and result.n_pruned == result.n_failed == 0
    assert result.best_params is not None and abs(result.best_params["x"] - 2.0) < 0.5
    assert result.best_value == pytest.approx((result.best_params["x"] - 2) ** 2)
    assert result.best_value < 0.25
    # TPE beats its own random start-up: the last 20 trials are closer than the first 10.
    values = [t.value for t in sorted(result.trials, key=lambda t: t.number)]
    assert np.median(values[10:]) < np.median(values[:10])


def test_every_trial_is_a_nested_run_with_its_params_and_value(mloop_home: Path) -> None:
    space = {
        "x": {"type": "float", "low": -5, "high": 5},
        "n": {"type": "int", "low": 1, "high": 4},
        "kind": {"type": "categorical", "choices": ["a", "b"]},
    }

    def objective(params: dict[str, Any], trial: Any) -> float:
        trial.log_metric("extra", 1.5)
        mloop.log_metric("fluent", float(trial.number))  # the fluent API: the trial's run too
        return params["x"] ** 2 + params["n"] + (params["kind"] == "b")

    result = tune(objective, space, n_trials=6, study_name="nested", sampler="random", seed=1)
    client = Client()
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status is RunStatus.FINISHED
    assert parent.data.tags["mloop.tune.study"] == "nested"
    assert json.loads(parent.data.tags["mloop.tune.space"])["kind"]["choices"] == ["a", "b"]
    assert parent.data.metrics["best_objective"].value == pytest.approx(result.best_value)
    assert json.loads(parent.data.tags["mloop.tune.best_params"]) == result.best_params
    assert parent.data.metrics["trials_complete"].value == 6

    runs = trial_runs(result)
    assert len(runs) == 6
    by_number = {int(r.data.tags["mloop.tune.trial"]): r for r in runs}
    assert sorted(by_number) == list(range(6))
    for outcome in result.trials:
        run = by_number[outcome.number]
        assert run.info.run_id == outcome.run_id
        assert run.info.status is RunStatus.FINISHED
        assert run.data.tags["mloop.tune.state"] == "COMPLETE"
        assert run.data.params == {k: str(v) for k, v in outcome.params.items()}
        assert run.data.metrics["objective"].value == pytest.approx(outcome.value)
        assert run.data.metrics["extra"].value == 1.5
        assert run.data.metrics["fluent"].value == outcome.number
    assert "fluent" not in parent.data.metrics
    best = by_number[result.best_trial_number]  # type: ignore[index]
    assert best.info.run_id == result.best_trial_run_id


def test_the_median_pruner_prunes_trials_that_fall_behind(mloop_home: Path) -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        for step in range(8):
            trial.report(params["x"] + 1.0 / (step + 1), step)
        return params["x"]

    space = {"x": {"type": "float", "low": 0.0, "high": 10.0}}
    result = tune(objective, space, n_trials=20, study_name="prune", sampler="random", seed=3)
    assert result.n_pruned > 0 and result.n_complete + result.n_pruned == 20
    pruned = [r for r in trial_runs(result) if r.data.tags["mloop.tune.state"] == "PRUNED"]
    assert len(pruned) == result.n_pruned
    client = Client()
    for run in pruned:
        step = int(run.data.tags["mloop.tune.pruned_step"])
        history = client.get_metric_history(run.info.run_id, "intermediate_objective")
        assert list(history.steps) == list(range(step + 1))  # stopped at the pruned step
        assert "objective" not in run.data.metrics
    # Only trials worse than the median of those before them are cut.
    complete = sorted(t.value for t in result.trials if t.state == "COMPLETE")
    assert result.best_value == complete[0]


def test_a_failing_objective_fails_its_trial_and_the_study_goes_on(mloop_home: Path) -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        if params["x"] > 0:
            raise ValueError(f"x={params['x']:.3f} is not allowed")
        return -params["x"]

    result = tune(objective, X_SPACE, n_trials=10, study_name="fail", sampler="random", seed=5)
    assert result.n_failed > 0 and result.n_complete > 0
    assert result.n_failed + result.n_complete == 10
    failed = [r for r in trial_runs(result) if r.info.status is RunStatus.FAILED]
    assert len(failed) == result.n_failed
    for run in failed:
        assert run.data.tags["mloop.tune.state"] == "FAILED"
        assert run.data.tags["mloop.error"].startswith("ValueError: x=")
        assert "objective" not in run.data.metrics
    assert all(o.error and "not allowed" in o.error for o in result.trials if o.state == "FAILED")


_KILLED = textwrap.dedent(
    """
    import os, signal, sys
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from mloop.pipeline._tune import tune

    log = sys.argv[1]

    def objective(params, trial):
        with open(log, "a") as fh:
            fh.write(f"{trial.number} {params['x']!r}\\n")
        if trial.number == 4:
            os.kill(os.getpid(), signal.SIGKILL)  # the process dies in the middle of a trial
        return (params["x"] - 2.0) ** 2

    tune(objective, {"x": {"type": "float", "low": -10.0, "high": 10.0}}, n_trials=10,
         study_name="resume", seed=11)
    """
)


@pytest.mark.slow
def test_a_study_killed_mid_trial_resumes_to_n_trials_without_duplicates(
    mloop_home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "calls.txt"
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED, str(log)],
        env={**os.environ, "MLOOP_HOME": str(mloop_home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    calls = [line.split() for line in log.read_text().splitlines()]
    assert [int(n) for n, _ in calls] == [0, 1, 2, 3, 4]
    killed_x = float(calls[4][1])

    result = tune(quadratic, X_SPACE, n_trials=10, study_name="resume", seed=11)
    assert result.n_complete == 10 and result.n_failed == 0
    assert len(result.trials) == 6  # 4 were done before the kill
    # The trial cut off by the kill runs again first, with the same parameters.
    first = min(result.trials, key=lambda t: t.number)
    assert first.number == 5 and first.params["x"] == killed_x

    runs = trial_runs(result)
    by_state: dict[str, list[Run]] = {}
    for run in runs:
        by_state.setdefault(run.data.tags["mloop.tune.state"], []).append(run)
    assert len(by_state["COMPLETE"]) == 10
    numbers = [int(r.data.tags["mloop.tune.trial"]) for r in by_state["COMPLETE"]]
    assert sorted(numbers) == [0, 1, 2, 3, *range(5, 11)]  # no duplicates, none lost
    (stale,) = by_state["FAILED"]
    assert stale.info.status is RunStatus.FAILED
    assert stale.data.tags["mloop.tune.trial"] == "4"
    assert "died" in stale.data.tags["mloop.error"]
    # The same study run goes on.
    assert len({r.info.parent_run_id for r in runs}) == 1


def test_a_study_stopped_by_an_interrupt_resumes(mloop_home: Path) -> None:
    calls: list[int] = []

    def objective(params: dict[str, Any], trial: Any) -> float:
        calls.append(trial.number)
        if trial.number == 3:
            raise KeyboardInterrupt
        return params["x"] ** 2

    with pytest.raises(KeyboardInterrupt):
        tune(objective, X_SPACE, n_trials=8, study_name="interrupt", seed=2)
    result = tune(objective, X_SPACE, n_trials=8, study_name="interrupt", seed=2)
    assert result.n_complete == 8 and result.n_failed == 0
    assert calls == list(range(9))
    assert Client().get_run(result.parent_run_id).info.status is RunStatus.FINISHED


def test_tune_continues_to_the_new_total(mloop_home: Path) -> None:
    first = tune(quadratic, X_SPACE, n_trials=4, study_name="more", seed=1)
    again = tune(quadratic, X_SPACE, n_trials=4, study_name="more", seed=1)
    assert again.trials == [] and again.n_complete == 4
    more = tune(quadratic, X_SPACE, n_trials=7, study_name="more", seed=1)
    assert len(more.trials) == 3 and more.n_complete == 7
    assert more.parent_run_id == first.parent_run_id


@pytest.mark.slow
def test_the_best_trials_model_is_logged_on_the_study_run(mloop_home: Path) -> None:
    from sklearn.linear_model import Ridge

    import mloop.models

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=80)

    def objective(params: dict[str, Any], trial: Any) -> float:
        model = Ridge(alpha=params["alpha"]).fit(X[:60], y[:60])
        trial.log_model(model, input_example=X[:2])
        return float(np.mean((model.predict(X[60:]) - y[60:]) ** 2))

    space = {"alpha": {"type": "float", "low": 1e-3, "high": 100.0, "log": True}}
    result = tune(objective, space, n_trials=6, study_name="models", seed=4)
    assert result.best_model_uri == f"runs:/{result.parent_run_id}/best_model"
    loaded = mloop.models.load(result.best_model_uri)
    expected = Ridge(alpha=result.best_params["alpha"]).fit(X[:60], y[:60])  # type: ignore[index]
    np.testing.assert_allclose(np.asarray(loaded.predict(X[60:])).ravel(), expected.predict(X[60:]))
    parent = Client().get_run(result.parent_run_id)
    assert parent.data.tags["mloop.tune.best_model_source"] == (
        f"runs:/{result.best_trial_run_id}/model"
    )


@pytest.mark.parametrize(
    ("space", "match"),
    [
        ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, r"parameter 'lr'.*low \(1.0\)"),
        ({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "'lr'.*low > 0"),
        ({"lr": {"type": "float", "low": "a", "high": 1.0}}, r"'lr': field 'low'"),
        ({"d": {"type": "int", "low": 2, "high": 10, "step": 0}}, r"'d': field 'step'"),
        ({"d": {"type": "int", "low": 2}}, r"'d': field 'high'.*required"),
        ({"d": {"type": "int", "low": 2, "high": 3, "colour": 1}}, r"'d': field 'colour'"),
        ({"k": {"type": "categorical", "choices": []}}, r"'k': field 'choices'"),
        ({"k": {"type": "categorical", "choices": ["a", "a"]}}, r"'k'.*distinct"),
        ({"k": {"type": "set", "choices": ["a"]}}, r"'k': field 'type'"),
        ({"k": [1, 2]}, r"'k' must be a mapping"),
        ({"/lr": {"type": "float", "low": 0, "high": 1}}, r"name '/lr' may only contain"),
        ({"x" * 250: {"type": "float", "low": 0, "high": 1}}, r"250 characters; at most 245"),
        ({"x": {"type": "float", "low": 0, "high": float("inf")}}, r"'x': field 'high'.*finite"),
        ({}, "no parameters"),
    ],
)
def test_a_malformed_space_names_the_parameter_and_field(space: Any, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        parse_space(space)


def test_a_space_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "lr: {type: float, low: 1.0e-4, high: 0.1, log: true}\n"
        "depth: {type: int, low: 2, high: 10, step: 2}\n"
        "kind: {type: categorical, choices: [a, b]}\n"
    )
    dists = parse_space(path).distributions()
    assert dists["lr"] == optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)
    assert dists["depth"] == optuna.distributions.IntDistribution(2, 10, step=2)
    assert dists["kind"] == optuna.distributions.CategoricalDistribution(["a", "b"])
    (tmp_path / "bad.yaml").write_text("lr: {type: float, low: 1, high: 0}\n")
    with pytest.raises(InvalidArgument, match="'lr'"):
        parse_space(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_trials": 0}, "n_trials"),
        ({"sampler": "bayes"}, "sampler must be one of"),
        ({"pruner": "early"}, "pruner must be one of"),
        ({"direction": "up"}, "direction"),
        ({"engine": "dask"}, "engine"),
        ({"study_name": "a b"}, "study_name"),
        ({"sampler": "grid"}, "grid sampler needs a finite set"),
    ],
)
def test_bad_arguments_are_refused_before_any_trial(
    mloop_home: Path, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgument, match=match):
        tune(quadratic, X_SPACE, **{"n_trials": 3, **kwargs})


def test_grid_sampler_and_multi_objective(mloop_home: Path) -> None:
    space = {
        "a": {"type": "int", "low": 0, "high": 2},
        "b": {"type": "categorical", "choices": ["x", "y"]},
    }

    def objective(params: dict[str, Any], trial: Any) -> tuple[float, float]:
        return float(params["a"]), float(params["b"] == "x") - params["a"]

    result = tune(objective, space, n_trials=6, directions=["minimize", "minimize"], sampler="grid")
    assert result.n_complete == 6
    seen = {(t.params["a"], t.params["b"]) for t in result.trials}
    assert len(seen) == 6  # the grid, each point once
    assert result.best_params is None and result.pareto_front
    assert all(len(p["values"]) == 2 for p in result.pareto_front)


def test_local_parallelism_runs_trials_in_threads_at_once(mloop_home: Path) -> None:
    # A barrier of three: a trial completes only if two others run beside it.
    together = threading.Barrier(3, timeout=60)

    def objective(params: dict[str, Any], trial: Any) -> float:
        together.wait()
        return float(params["x"] ** 2)

    result = tune(objective, X_SPACE, n_trials=6, study_name="threads", parallelism=3, seed=1)
    assert result.n_complete == 6
    assert sorted(t.number for t in result.trials) == list(range(6))
    assert len(trial_runs(result)) == 6


def test_timeout_stops_starting_trials(mloop_home: Path) -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        time.sleep(0.1)
        return params["x"]

    result = tune(objective, X_SPACE, n_trials=1000, study_name="timeout", timeout=0.5)
    # Each trial sleeps 0.1 s: at most 5 can start within 0.5 s, however slow the machine
    # (a slower one starts fewer); without the timeout all 1,000 would run.
    assert 1 <= len(result.trials) <= 6


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["tpe", "random", "qmc", "cmaes"])
@pytest.mark.parametrize("pruner", ["median", "hyperband", "none"])
def test_every_named_sampler_and_pruner_runs(mloop_home: Path, sampler: str, pruner: str) -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        for step in range(3):
            trial.report(params["x"] ** 2 + step, step)
        return float(params["x"] ** 2)

    result = tune(objective, X_SPACE, n_trials=8, sampler=sampler, pruner=pruner, seed=0)
    assert result.n_complete + result.n_pruned == 8 and result.n_complete >= 1
    if pruner == "none":
        assert result.n_pruned == 0
    parent = Client().get_run(result.parent_run_id)
    assert parent.data.tags["mloop.tune.sampler"] == sampler
    assert parent.data.tags["mloop.tune.pruner"] == pruner


def test_cmaes_without_its_package_says_what_to_install(
    mloop_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cmaes" else real(name, *a)
    )
    with pytest.raises(InvalidArgument, match="pip install cmaes"):
        tune(lambda params, trial: 0.0, X_SPACE, n_trials=2, sampler="cmaes")


def test_a_float_grid_stays_inside_its_range() -> None:
    from mloop.pipeline._tune_space import parse_space

    grid = parse_space({"x": {"type": "float", "low": 0, "high": 1, "step": 0.6}}).grid()
    assert grid == {"x": [0.0, 0.6]}  # not 1.2: a step that does not divide stops short
    grid = parse_space({"x": {"type": "float", "low": 0, "high": 1, "step": 0.25}}).grid()
    assert grid == {"x": [0.0, 0.25, 0.5, 0.75, 1.0]}
