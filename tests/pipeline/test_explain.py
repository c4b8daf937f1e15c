"""``explain`` says why each step would re-run, or that it is cached."""

from __future__ import annotations

import pytest
from tests.pipeline.conftest import Project

import mloop.pipeline as mp

FLOW = """
import helpers

@step
def load(n: int):
    return list(range(n))

@step
def feats(raw):
    return [helpers.featurize_col(x) for x in raw]

@step(cache=False)
def report(x):
    return len(x)

@pipeline
def flow(n: int = 3):
    f = feats(load(n))
    return report(f), f
"""


def reasons(target: str, params: dict[str, object] | None = None) -> dict[str, list[str]]:
    return {e.step_id: e.reasons for e in mp.explain(target, params)}


@pytest.mark.slow
def test_explain_reasons(project: Project) -> None:
    project.write("helpers.py", "def featurize_col(x):\n    return x + 1\n", prelude=False)
    project.write("flow.py", FLOW)
    target = project.target("flow.py", "flow")
    assert reasons(target) == {
        "load": ["never ran"],
        "feats": ["never ran"],
        "report": ["cache=False"],
    }
    result = mp.run(target)
    found = {e.step_id: e for e in mp.explain(target)}
    assert not found["load"].will_run
    assert found["load"].reasons == [f"cached (key {result.step('load').cache_key[:12]})"]
    assert found["load"].cache_key == result.step("load").cache_key
    assert found["feats"].reasons == [f"cached (key {result.step('feats').cache_key[:12]})"]
    assert found["report"].will_run and found["report"].reasons == ["cache=False"]

    assert reasons(target, {"n": 5})["load"] == ["param n 3 -> 5"]
    assert reasons(target, {"n": 5})["feats"] == [
        "input `raw` changed (upstream step load re-runs)"
    ]
    assert mp.explain(target, {"n": 5})[1].cache_key is None

    project.edit("helpers.py", "return x + 1", "return x + 11")
    assert reasons(target)["feats"] == ["code of helper `featurize_col` changed"]
    assert reasons(target)["load"][0].startswith("cached (key ")
    project.edit("flow.py", "return list(range(n))", "return list(range(n + 1))")
    assert reasons(target)["load"] == ["code of step `load` changed"]
    # explain ran nothing: the cache still holds the first run's results only
    assert all(s.status == "done" for s in result.steps)


def test_an_entry_whose_result_is_gone_is_not_cached_for_explain_or_run(project: Project) -> None:
    from pathlib import Path

    from mloop.tracking import current_settings

    project.write("helpers.py", "def featurize_col(x):\n    return x + 1\n", prelude=False)
    project.write("flow.py", FLOW)
    target = project.target("flow.py", "flow")
    first = mp.run(target)
    result_file = Path(current_settings().artifacts) / first.step("load").output_path
    result_file.unlink()  # its meta.json stays
    load = mp.explain(target)[0]
    assert load.will_run and load.reasons[0] != f"cached (key {load.cache_key[:12]})"
    again = mp.run(target)
    assert again.step("load").status == "done"  # run agrees with explain: it runs again
