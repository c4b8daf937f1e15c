"""CLI fixtures: an isolated MLOOP_HOME, a runner keeping stdout and stderr apart, seeded runs."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mloop.cli import app

MLOOP = Path(sys.executable).with_name("mloop")
# Wide enough that no table column is cut; no colour codes whatever the CI sets.
ENV = {"COLUMNS": "200", "NO_COLOR": "1", "FORCE_COLOR": None, "MLOOP_DEBUG": None}


@dataclass
class Cli:
    home: Path

    def __call__(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env={**ENV, **(env or {})})

    @property
    def db_uri(self) -> str:
        return f"sqlite:///{self.home.resolve() / 'mloop.db'}"

    @property
    def artifacts(self) -> str:
        return str((self.home / "artifacts").resolve())


@pytest.fixture
def cli(mloop_home: Path) -> Cli:
    """Run ``mloop ...`` in-process against a fresh MLOOP_HOME."""
    return Cli(mloop_home)


@dataclass
class Seeded:
    exp_a: str
    exp_b: str
    runs: dict[str, str]  # run name -> run id


@pytest.fixture
def seeded(cli: Cli, tmp_path: Path) -> Iterator[Seeded]:
    """Experiment ``exp-a`` with three runs (params, metrics with history, tags, an artifact) and
    ``exp-b`` with one, written straight into the SQLite store the CLI reads."""
    from mloop.store import SqlStore

    store = SqlStore(cli.db_uri, cli.artifacts)
    try:
        a = store.create_experiment("exp-a").experiment_id
        b = store.create_experiment("exp-b").experiment_id
        runs: dict[str, str] = {}
        specs: list[tuple[str, str, dict[str, str], dict[str, float]]] = [
            ("alpha", a, {"model": "lgbm", "depth": "3"}, {"acc": 0.81, "loss": 0.40}),
            ("beta", a, {"model": "lgbm", "depth": "6"}, {"acc": 0.93, "loss": 0.21}),
            ("gamma", a, {"model": "linear", "depth": "3"}, {"acc": 0.75, "loss": math.nan}),
            ("delta", b, {"model": "tree"}, {"acc": 0.60}),
        ]
        for i, (name, exp, params, metrics) in enumerate(specs):
            run = store.create_run(
                exp,
                run_name=name,
                start_time=1_700_000_000_000 + i * 1000,
                tags={"team": "ranking", "mloop.user": "tester"},
                user="tester",
            )
            points = [(k, v, 5, 1_700_000_000_500 + i) for k, v in metrics.items()]
            points += [("loss", 1.0, 0, 1_700_000_000_100), ("loss", 0.7, 1, 1_700_000_000_200)]
            store.log_batch(
                run.run_id, metrics=points if "loss" in metrics else points[:-2], params=params
            )
            if name != "gamma":
                store.update_run(run.run_id, status="FINISHED", end_time=run.info.start_time + 2500)
            runs[name] = run.run_id
        model = tmp_path / "model.txt"
        model.write_text("weights")
        store.log_artifact(runs["beta"], model, "model")
        yield Seeded(a, b, runs)
    finally:
        store.close()


@pytest.fixture
def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def run_mloop(mloop_home: Path) -> Any:
    """Run the installed ``mloop`` script in a subprocess, with the test's MLOOP_HOME."""

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MLOOP), *args],
            env={**os.environ, "MLOOP_HOME": str(mloop_home), "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
