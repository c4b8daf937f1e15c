"""The same pipelines on both engines (a real local Ray, started once), and Ray's own faults.

Kept in one file so that ``pytest-xdist --dist loadfile`` starts Ray in one worker only.
"""

from __future__ import annotations

import os
import time

import pytest
from tests.pipeline.conftest import Project, client, statuses
from tests.pipeline.test_run import RESUME

import mloop.pipeline as mp

pytestmark = pytest.mark.slow  # a subprocess, a server or Ray in every test


@pytest.fixture(params=["local", "ray"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return str(request.param)


FLOW = """
@step
def load(n: int):
    mark("load")
    return list(range(n))

@step
def train(data, alpha: float):
    mark("train")
    mloop.log_metric("score", alpha)
    return {"alpha": alpha, "score": sum(data) * alpha, "pid": os.getpid()}

@step
def best(models):
    mark("best")
    return max(models, key=lambda m: m["score"])

@pipeline
def flow(n: int = 4, alphas: list = [0.5, 2.0]):
    data = load(n)
    return best([train(data, a) for a in alphas])
"""


def test_run_cache_and_lineage(project: Project, engine: str) -> None:
    project.write("flow.py", FLOW)
    target = project.target("flow.py", "flow")
    result = mp.run(target, engine=engine)
    assert result.output["alpha"] == 2.0 and result.output["score"] == 12.0
    assert (result.output["pid"] == os.getpid()) is (engine == "local")
    assert sorted(project.ran()) == ["best", "load", "train", "train"]
    c = client()
    for step_id, alpha in (("train", 0.5), ("train.1", 2.0)):
        run = c.get_run(result.step(step_id).run_id)
        assert run.data.metrics["score"].value == alpha
        assert run.info.parent_run_id == result.run_id
    again = mp.run(target, engine=engine)
    assert set(statuses(again).values()) == {"cached"}
    assert project.ran() == []
    assert again.output == result.output


def test_failure_and_retry(project: Project, engine: str) -> None:
    project.write(
        "flaky.py",
        """
        @step(retries=1, retry_delay=0.05)
        def flaky():
            flag = HERE / "tried"
            if not flag.exists():
                flag.touch()
                raise RuntimeError("first attempt fails")
            return "second"

        @step
        def broken(x):
            raise ValueError(f"broken after {x}")

        @pipeline
        def ok():
            return flaky()

        @pipeline
        def bad():
            return broken(flaky())
        """,
    )
    assert mp.run(project.target("flaky.py", "ok"), engine=engine).output == "second"
    with pytest.raises(mp.StepFailed, match=r"step 'broken' failed: ValueError: broken after"):
        mp.run(project.target("flaky.py", "bad"), engine=engine)


def test_resume_after_failure(project: Project, engine: str) -> None:
    project.write("chain.py", RESUME)
    (project.root / "fail.flag").touch()
    target = project.target("chain.py", "chain")
    with pytest.raises(mp.StepFailed, match=r"step 'three' failed: RuntimeError: three is broken"):
        mp.run(target, engine=engine)
    assert project.ran() == ["one", "two", "three"]
    (project.root / "fail.flag").unlink()
    result = mp.run(target, engine=engine)
    assert statuses(result) == {"one": "cached", "two": "cached", "three": "done", "four": "done"}
    assert project.ran() == ["three", "four"]
    assert result.output == 4


def test_a_code_change_reruns_that_step_and_downstream_only(project: Project, engine: str) -> None:
    project.write("chain.py", RESUME)
    target = project.target("chain.py", "chain")
    assert mp.run(target, engine=engine).output == 4
    project.ran()
    project.edit(
        "chain.py", "    return x + 1\n\n@step\ndef four", "    return x + 2\n\n@step\ndef four"
    )
    result = mp.run(target, engine=engine)
    assert statuses(result) == {"one": "cached", "two": "cached", "three": "done", "four": "done"}
    assert project.ran() == ["three", "four"]
    assert result.output == 5


def test_an_unpicklable_result_is_a_clear_error(project: Project, engine: str) -> None:
    project.write(
        "unp.py",
        """
        import threading

        @step
        def make():
            return threading.Lock()

        @pipeline
        def flow():
            return make()
        """,
    )
    with pytest.raises(mp.UnpicklableResult, match=r"step 'make' returned a .*lock"):
        mp.run(project.target("unp.py", "flow"), engine=engine)


def test_ray_worker_killed_mid_step_is_retried(project: Project, ray_session: None) -> None:
    project.write(
        "die.py",
        """
        import signal

        @step
        def fragile():
            marker = HERE / "killed-once"
            if not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            return "survived"

        @pipeline
        def flow():
            return fragile()
        """,
    )
    result = mp.run(project.target("die.py", "flow"), engine="ray")
    assert result.output == "survived"
    assert (project.root / "killed-once").exists()


def test_ray_timeout_cancels_the_task(project: Project, ray_session: None) -> None:
    project.write(
        "hang.py",
        """
        @step(timeout=1, resources={"num_cpus": 1})
        def hang():
            time.sleep(600)

        @pipeline
        def flow():
            return hang()
        """,
    )
    start = time.monotonic()
    with pytest.raises(mp.StepTimeout, match=r"step 'hang' ran past its timeout of 1s"):
        mp.run(project.target("hang.py", "flow"), engine="ray")
    assert time.monotonic() - start < 120  # bounds a hang: the step would sleep for 600 s


def test_resources_map_to_ray_options() -> None:
    from mloop.pipeline._ray import ray_options
    from mloop.pipeline._task import StepTask

    task = StepTask(
        pipeline="p",
        step_id="s",
        name="s",
        fn=print,
        arguments={},
        key="k",
        artifacts="a",
        tracking_uri="t",
        run=None,
        resources={"num_cpus": 2, "num_gpus": 0.5, "memory": 1e9, "accelerator": 1},
    )
    opts = ray_options(task)
    assert opts["num_cpus"] == 2 and opts["num_gpus"] == 0.5 and opts["memory"] == 10**9
    assert opts["resources"] == {"accelerator": 1}
    assert opts["max_retries"] == 3 and opts["retry_exceptions"] is False
