"""``tune(engine="ray")`` on a real local Ray: trials in parallel, one study, nested runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from mloop.pipeline._tune import tune
from mloop.store import RunStatus
from mloop.tracking import Client

pytestmark = pytest.mark.slow  # a subprocess, a server or Ray in every test

ray = pytest.importorskip("ray")
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def slow_quadratic(params: dict[str, Any], trial: Any) -> float:
    # Defined in this test module, which Ray workers cannot import: it travels by value.
    time.sleep(0.4)
    trial.report(abs(params["x"]), 0)
    return (params["x"] - 2.0) ** 2


def paired_quadratic(barrier: Path) -> Any:
    """An objective whose trials 2k and 2k+1 wait for each other (a barrier of files, at most
    60 s): they finish only if they ran at the same time. Defined in this test module, which
    Ray workers cannot import: it travels by value."""

    def objective(params: dict[str, Any], trial: Any) -> float:
        (barrier / str(trial.number)).touch()
        partner = barrier / str(trial.number ^ 1)
        deadline = time.monotonic() + 60
        while not partner.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"trial {trial.number} ran alone: {trial.number ^ 1} never came")
            time.sleep(0.01)
        trial.report(abs(params["x"]), 0)
        return float((params["x"] - 2.0) ** 2)

    return objective


def test_ray_trials_run_in_parallel_in_one_study(
    local_ray: None, mloop_home: Path, tmp_path: Path
) -> None:
    space = {"x": {"type": "float", "low": -10.0, "high": 10.0}}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    result = tune(
        paired_quadratic(barrier),
        space,
        n_trials=6,
        study_name="on-ray",
        engine="ray",
        parallelism=2,
        pruner="none",
        seed=3,
    )
    assert result.n_complete == 6 and len(result.trials) == 6
    assert sorted(t.number for t in result.trials) == list(range(6))
    # Ray workers, not this process, ran the objective, two at a time.
    import os

    assert all(t.pid != os.getpid() for t in result.trials)
    assert len({t.pid for t in result.trials}) >= 2
    assert sorted(p.name for p in barrier.iterdir()) == [str(n) for n in range(6)]
    # Seeded workers draw their own points: no two trials share parameters.
    assert len({t.params["x"] for t in result.trials}) == 6

    client = Client()
    runs = [
        r
        for r in client.search_runs([result.experiment_id], max_results=100).runs
        if r.info.parent_run_id == result.parent_run_id
    ]
    assert len(runs) == 6
    assert {r.info.run_id for r in runs} == {t.run_id for t in result.trials}
    assert all(r.info.status is RunStatus.FINISHED for r in runs)
    assert all(r.data.tags["mloop.tune.study"] == "on-ray" for r in runs)
    best = min(result.trials, key=lambda t: t.value or 0.0)
    assert result.best_trial_run_id == best.run_id
    history = client.get_metric_history(best.run_id, "intermediate_objective")
    assert list(history.values) == [abs(best.params["x"])]

    # The study continues on Ray to a new total.
    more = tune(
        slow_quadratic,
        space,
        n_trials=8,
        study_name="on-ray",
        engine="ray",
        parallelism=2,
        pruner="none",
        seed=3,
    )
    assert more.n_complete == 8 and len(more.trials) == 2
    assert more.parent_run_id == result.parent_run_id
