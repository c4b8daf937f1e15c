"""``mloop tune FILE:OBJECTIVE`` end to end, and ``tune`` over a shared server (HTTP store)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest
import typer
from typer.testing import CliRunner

from mloop.cli._main import _MloopGroup
from mloop.cli._tune import tune as tune_command
from mloop.pipeline._tune import tune
from mloop.store import HttpStore, RunStatus

optuna.logging.set_verbosity(optuna.logging.WARNING)

OBJECTIVE = textwrap.dedent(
    """
    import math

    def objective(params, trial):
        if params["kind"] == "bad":
            raise RuntimeError("bad kind")
        return (params["x"] - 1.0) ** 2 + params["depth"] / 100
    """
)
SPACE = textwrap.dedent(
    """
    x: {type: float, low: -4.0, high: 4.0}
    depth: {type: int, low: 1, high: 5}
    kind: {type: categorical, choices: [good, bad]}
    """
)


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(cls=_MloopGroup)
    app.command("tune")(tune_command)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps "tune" a subcommand, as in mloop's app
        pass

    return app


def test_cli_runs_a_study_and_prints_json(
    cli: typer.Typer, mloop_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(OBJECTIVE)
    (tmp_path / "space.yaml").write_text(SPACE)
    args = [
        "tune",
        "train.py:objective",
        "--space",
        "space.yaml",
        "--trials",
        "12",
        "--study",
        "cli-study",
        "--seed",
        "1",
        "--sampler",
        "random",
        "--json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["study_name"] == "cli-study"
    assert out["n_trials"] == 12 and out["ran"] == 12
    assert out["n_failed"] > 0 and out["n_complete"] + out["n_failed"] == 12
    assert set(out["best_params"]) == {"x", "depth", "kind"}
    assert out["best_params"]["kind"] == "good"

    # Again with a higher total: the study continues; the table names the best trial.
    args = [
        "tune",
        "train.py:objective",
        "--space",
        "space.yaml",
        "--trials",
        "15",
        "--study",
        "cli-study",
        "--seed",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "best trial of study cli-study" in result.stdout
    assert "params.x" in result.stdout and out["parent_run_id"] in result.stdout


@pytest.mark.parametrize(
    ("target", "space", "message"),
    [
        ("missing.py:objective", "space.yaml", "no such file"),
        ("train.py:nothing", "space.yaml", "has no function 'nothing'"),
        ("train.py", "space.yaml", "expected FILE:OBJECTIVE"),
        ("train.py:objective", "bad.yaml", "parameter 'x': field 'low'"),
    ],
)
def test_cli_errors_are_one_line_and_exit_1(
    cli: typer.Typer, mloop_home: Path, tmp_path: Path, target: str, space: str, message: str
) -> None:
    (tmp_path / "train.py").write_text(OBJECTIVE)
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "bad.yaml").write_text("x: {type: float, low: lots, high: 1}\n")
    result = CliRunner().invoke(cli, ["tune", target, "--space", space, "--trials", "2"])
    assert result.exit_code == 1
    assert message in result.stderr


@pytest.mark.slow
def test_tune_through_a_shared_server(live_server: str, mloop_home: Path) -> None:
    from mloop._core import load_settings

    def objective(params: dict[str, Any], trial: Any) -> float:
        trial.report(params["x"], 0)
        return params["x"] ** 2

    settings = load_settings(tracking_uri=live_server)
    space = {"x": {"type": "float", "low": -3.0, "high": 3.0}}
    result = tune(objective, space, n_trials=8, study_name="over-http", seed=2, settings=settings)
    assert result.n_complete + result.n_pruned == 8
    store = HttpStore(live_server)
    try:
        parent = store.get_run(result.parent_run_id)
        assert parent.info.status is RunStatus.FINISHED
        children = [
            r
            for r in store.search_runs([result.experiment_id], max_results=100).runs
            if r.info.parent_run_id == result.parent_run_id
        ]
        assert len(children) == 8
        # The study's journal is on the server, under "<experiment id>:<study name>".
        journal = store.read_tune_journal(f"{result.experiment_id}:over-http")
        assert journal[0][1]["study_name"] == "over-http"
        assert [i for i, _ in journal] == list(range(len(journal)))
    finally:
        store.close()
    again = tune(objective, space, n_trials=8, study_name="over-http", settings=settings)
    assert again.trials == [] and again.best_value == result.best_value
