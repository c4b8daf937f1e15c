"""``mloop pipeline run|explain`` through the Typer app of the command group."""

from __future__ import annotations

import json

import pytest
from tests.pipeline.conftest import Project
from typer.testing import CliRunner, Result

from mloop.cli._pipeline import app

ENV = {"COLUMNS": "200", "NO_COLOR": "1", "FORCE_COLOR": None, "MLOOP_DEBUG": None}

FLOW = """
@step
def scale(x: float, factor: float):
    return x * factor

@step
def fail_if(x, fail: bool):
    if fail:
        raise RuntimeError("asked to fail")
    return x

@pipeline
def flow(x: float = 1.0, factor: float = 2.0, fail: bool = False, tags: list = []):
    return fail_if(scale(x, factor), fail)
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=ENV)


@pytest.fixture
def target(project: Project) -> str:
    project.write("flow.py", FLOW)
    return project.target("flow.py", "flow")


def test_run_prints_steps_and_output(target: str) -> None:
    result = invoke("run", target, "--param", "x=3", "-p", "factor=0.5")
    assert result.exit_code == 0, result.output
    assert "1.5" in result.stdout
    assert "scale" in result.stderr and "done" in result.stderr
    again = invoke("run", target, "--param", "x=3", "-p", "factor=0.5")
    assert "cached" in again.stderr


def test_run_json(target: str) -> None:
    result = invoke("run", target, "-p", 'tags=["a"]', "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "finished" and doc["output"] == 2.0
    assert [s["step_id"] for s in doc["steps"]] == ["scale", "fail_if"]
    assert {s["status"] for s in doc["steps"]} == {"done"}


def test_run_failure_exits_1_naming_the_step(target: str) -> None:
    result = invoke("run", target, "-p", "fail=true", "--json")
    assert result.exit_code == 1
    assert "error: step 'fail_if' failed: RuntimeError: asked to fail" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed"
    assert {s["step_id"]: s["status"] for s in doc["steps"]} == {
        "scale": "done",
        "fail_if": "failed",
    }


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("alpha=1", "unknown param 'alpha' for pipeline 'flow'; it accepts: x: float = 1.0"),
        ("x=abc", "--param x='abc': not a valid float"),
        ("fail=maybe", "--param fail='maybe': not a valid bool"),
        ("tags=[1,", "--param tags='[1,': not a valid json"),
        ("novalue", "expected NAME=VALUE"),
    ],
)
def test_bad_params_are_clear_errors(target: str, param: str, message: str) -> None:
    for command in ("run", "explain"):
        result = invoke(command, target, "--param", param)
        assert result.exit_code == 1
        assert message in result.stderr


def test_bad_target(project: Project) -> None:
    result = invoke("run", str(project.root / "nope.py") + ":flow")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    project.write("flow.py", FLOW)
    result = invoke("explain", project.target("flow.py", "scale"))
    assert result.exit_code == 1
    assert "is a Step, not a pipeline" in result.stderr
    (project.root / "broken.py").write_text("def flow(:\n")
    result = invoke("run", project.target("broken.py", "flow"))
    assert result.exit_code == 1
    assert "cannot load" in result.stderr and "SyntaxError" in result.stderr
    assert "Traceback" not in result.output


def test_explain_table_and_json(target: str) -> None:
    assert invoke("run", target).exit_code == 0
    table = invoke("explain", target, "-p", "factor=3")
    assert table.exit_code == 0
    assert "param factor 2.0 -> 3.0" in table.stdout
    doc = json.loads(invoke("explain", target, "--json").stdout)
    assert [(e["step_id"], e["will_run"]) for e in doc] == [("scale", False), ("fail_if", False)]
    assert doc[0]["reasons"][0].startswith("cached (key ")


def test_engine_must_be_known(target: str) -> None:
    result = invoke("run", target, "--engine", "spark")
    assert result.exit_code == 2
