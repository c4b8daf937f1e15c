"""What ``mloop reproduce`` says when it cannot compare the code, and which step changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.slow  # pipelines run in child processes

FLOW = """\
import mloop
from mloop.pipeline import pipeline, step


@step
def make(n: int) -> list[int]:
    return list(range(n))


@step
def score(values: list[int], scale: float) -> float:
    value = sum(values) * scale
    mloop.log_metric("score", value)
    return value


@pipeline
def train(n: int = 4, scale: float = 0.5):
    return score(make(n), scale)
"""


def cli(*args: str) -> Any:
    from mloop.cli._main import app

    return CliRunner().invoke(app, ["reproduce", *args], env={"COLUMNS": "200"})


@pytest.fixture
def flow_run(mloop_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A pipeline run made outside any git repository; its run id."""
    work = tmp_path / "work"
    (work / "flows").mkdir(parents=True)
    (work / "flows" / "train.py").write_text(FLOW)
    monkeypatch.chdir(work)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    code = (
        "import mloop.pipeline; r = mloop.pipeline.run('flows/train.py:train', {'n': 5}); "
        "print(r.run_id)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=work, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0]


def test_outside_git_the_code_is_said_to_be_not_compared(flow_run: str) -> None:
    result = cli(flow_run)
    assert result.exit_code == 0, result.output
    assert "same code" not in result.stdout
    assert "environment: same packages and data as recorded; code not compared" in result.stdout
    assert "cannot be compared" in result.stdout


def test_a_metric_that_differs_names_the_step_whose_code_changed(flow_run: str) -> None:
    flow = Path("flows/train.py")
    flow.write_text(flow.read_text().replace("* scale", "* scale + 1"))
    result = cli(flow_run)
    assert result.exit_code == 1, result.output
    assert "step score" in result.stdout  # the environment difference names it
    line = next(
        line for line in result.stdout.splitlines() if line.strip().startswith("score/score")
    )
    assert "DIFFERS (step score changed)" in line
    assert "step make" not in result.stdout  # unchanged: not named
