"""What needs mloop's own registration: ``mloop.step``, ``mloop.pipeline`` as an attribute of
``mloop``, and the ``mloop pipeline`` command group. Skipped until they are registered in
mloop/__init__.py and cli/_main.py."""

from __future__ import annotations

import json

import pytest
from tests.pipeline.conftest import Project


def test_fluent_names() -> None:
    import mloop.pipeline

    assert mloop.step is mloop.pipeline.step
    assert "step" in mloop.__all__ and "pipeline" in mloop.__all__


def _cli_has_pipeline() -> bool:
    from mloop.cli._main import app

    return any(g.name == "pipeline" for g in app.registered_groups)


@pytest.mark.skipif(not _cli_has_pipeline(), reason="`mloop pipeline` is not registered yet")
def test_mloop_pipeline_run_and_explain(project: Project) -> None:
    from typer.testing import CliRunner

    from mloop.cli import app

    project.write(
        "flow.py",
        """
        @mloop.step
        def twice(x: int):
            return 2 * x

        @mloop.pipeline
        def flow(x: int = 2):
            return twice(x)
        """,
    )
    target = project.target("flow.py", "flow")
    env = {"COLUMNS": "200", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, ["pipeline", "run", target, "-p", "x=4", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"] == 8
    result = CliRunner().invoke(app, ["pipeline", "explain", target, "-p", "y=1"], env=env)
    assert result.exit_code == 1
    assert "unknown param 'y'" in result.stderr
