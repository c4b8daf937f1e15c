"""The cache key: each rule re-runs exactly what it should, and nothing else."""

from __future__ import annotations

import pytest
from tests.pipeline.conftest import Project, statuses

import mloop.pipeline as mp

CHAIN = """
import helpers

@step
def load(n: int):
    mark("load")
    return list(range(n))

@step
def double(data):
    mark("double")
    return [x * 2 for x in data]

@step
def feats(data):
    mark("feats")
    return [helpers.featurize_col(x) for x in data]

@step
def total(a, b):
    mark("total")
    return sum(a) + sum(b)

@step
def other(k: int):
    mark("other")
    return k

@pipeline
def flow(n: int = 4, k: int = 1):
    data = load(n)
    return {"total": total(double(data), feats(data)), "other": other(k)}
"""

HELPERS = """
def featurize_col(x):
    return x + 100
"""


@pytest.fixture
def flow(project: Project) -> str:
    project.write("helpers.py", HELPERS, prelude=False)
    project.write("flow.py", CHAIN)
    first = mp.run(project.target("flow.py", "flow"))
    assert set(statuses(first).values()) == {"done"}
    assert first.output == {"total": (0 + 2 + 4 + 6) + (100 + 101 + 102 + 103), "other": 1}
    project.ran()
    return project.target("flow.py", "flow")


def test_unchanged_rerun_is_fully_cached(project: Project, flow: str) -> None:
    again = mp.run(flow)
    assert set(statuses(again).values()) == {"cached"}
    assert project.ran() == []
    assert again.output == {"total": 418, "other": 1}


def test_step_body_change_reruns_it_and_downstream_only(project: Project, flow: str) -> None:
    project.edit("flow.py", "return [x * 2 for x in data]", "return [x * 3 for x in data]")
    result = mp.run(flow)
    assert statuses(result) == {
        "load": "cached",
        "double": "done",
        "feats": "cached",
        "total": "done",
        "other": "cached",
    }
    assert sorted(project.ran()) == ["double", "total"]
    assert result.output["total"] == 18 + 406


def test_helper_change_in_another_module_reruns_its_callers(project: Project, flow: str) -> None:
    project.edit("helpers.py", "return x + 100", "return x + 1000")
    result = mp.run(flow)
    assert statuses(result)["feats"] == "done"
    assert statuses(result)["total"] == "done"
    assert {statuses(result)[s] for s in ("load", "double", "other")} == {"cached"}
    assert result.output["total"] == 12 + 4006


def test_comments_whitespace_and_moves_do_not_rerun(project: Project, flow: str) -> None:
    project.edit(
        "flow.py",
        "@step\ndef double(data):\n",
        "# a comment\n\n\n@step\ndef double(data):  # doubles\n    '''Docstring.'''\n\n",
    )
    project.edit("helpers.py", "def featurize_col(x):", "\n\n# moved down\ndef featurize_col(x):")
    result = mp.run(flow)
    assert set(statuses(result).values()) == {"cached"}
    assert project.ran() == []


def test_param_change_reruns_the_steps_that_take_it(project: Project, flow: str) -> None:
    result = mp.run(flow, {"k": 2})
    assert statuses(result)["other"] == "done"
    assert {v for k, v in statuses(result).items() if k != "other"} == {"cached"}
    assert result.output["other"] == 2


def test_identical_upstream_output_does_not_rerun_downstream(project: Project, flow: str) -> None:
    # load's code changes (so it re-runs) but it returns the same list: nothing downstream runs
    project.edit("flow.py", "return list(range(n))", "return [i for i in range(n)]")
    result = mp.run(flow)
    assert statuses(result)["load"] == "done"
    assert {v for k, v in statuses(result).items() if k != "load"} == {"cached"}
    assert project.ran() == ["load"]


def test_upstream_output_change_reruns_downstream(project: Project, flow: str) -> None:
    project.edit("flow.py", "return list(range(n))", "return list(range(1, n + 1))")
    result = mp.run(flow)
    assert statuses(result) == {
        "load": "done",
        "double": "done",
        "feats": "done",
        "total": "done",
        "other": "cached",
    }


def test_declared_package_version_enters_the_key(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mloop.pipeline import _codehash

    project.write(
        "pkgs.py",
        """
        @step(packages=["scikit-learn"])
        def fit():
            mark("fit")
            return 1

        @step
        def plain():
            mark("plain")
            return 2

        @pipeline
        def pkgs():
            return fit(), plain()
        """,
    )
    target = project.target("pkgs.py", "pkgs")
    monkeypatch.setattr(_codehash, "package_version", lambda name: "1.5.0")
    assert set(statuses(mp.run(target)).values()) == {"done"}
    assert set(statuses(mp.run(target)).values()) == {"cached"}
    monkeypatch.setattr(_codehash, "package_version", lambda name: "1.6.1")
    reasons = {e.step_id: e.reasons for e in mp.explain(target)}
    assert reasons["fit"] == ["package scikit-learn 1.5.0 -> 1.6.1"]
    assert statuses(mp.run(target)) == {"fit": "done", "plain": "cached"}


def test_no_cache_and_cache_false(project: Project) -> None:
    project.write(
        "nc.py",
        """
        @step(cache=False)
        def always():
            mark("always")
            return 1

        @step
        def once(x):
            mark("once")
            return x + 1

        @pipeline
        def nc():
            return once(always())
        """,
    )
    target = project.target("nc.py", "nc")
    mp.run(target)
    assert sorted(project.ran()) == ["always", "once"]
    # always re-runs; its output is identical, so once is reused
    assert statuses(mp.run(target)) == {"always": "done", "once": "cached"}
    assert statuses(mp.run(target, cache=False)) == {"always": "done", "once": "done"}


def test_module_constant_enters_the_key(project: Project) -> None:
    project.write(
        "const.py",
        """
        THRESHOLD = 0.5

        @step
        def cut():
            return THRESHOLD

        @pipeline
        def const():
            return cut()
        """,
    )
    target = project.target("const.py", "const")
    assert mp.run(target).output == 0.5
    project.edit("const.py", "THRESHOLD = 0.5", "THRESHOLD = 0.7")
    result = mp.run(target)
    assert statuses(result) == {"cut": "done"}
    assert result.output == 0.7
