"""Running on the local engine: fan-out, resume, retries, timeouts and bad input."""

from __future__ import annotations

import itertools
import os
import time

import pytest
from tests.pipeline.conftest import Project, client, statuses

import mloop.pipeline as mp


def test_fan_out_runs_in_parallel(project: Project) -> None:
    # A barrier, not a stopwatch: each step checks in, then waits until all four have. Steps
    # run one after another would never see the others (each gives up after 60 s).
    project.write(
        "fan.py",
        """
        @step
        def work(i: int):
            here = HERE / "barrier"
            here.mkdir(exist_ok=True)
            (here / str(i)).touch()
            deadline = time.monotonic() + 60
            while len(list(here.iterdir())) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            return sorted(p.name for p in here.iterdir())

        @pipeline
        def fan(n: int = 4):
            return [work(i) for i in range(n)]
        """,
    )
    result = mp.run(project.target("fan.py", "fan"))
    assert [s.step_id for s in result.steps] == ["work", "work.1", "work.2", "work.3"]
    # every step saw all four checked in: all four ran at once
    assert result.output == [["0", "1", "2", "3"]] * 4


RESUME = """
@step
def one():
    mark("one")
    return 1

@step
def two(x):
    mark("two")
    return x + 1

@step
def three(x):
    mark("three")
    if (HERE / "fail.flag").exists():
        raise RuntimeError("three is broken")
    return x + 1

@step
def four(x):
    mark("four")
    return x + 1

@pipeline
def chain():
    return four(three(two(one())))
"""


def test_resume_after_failure_reuses_finished_steps(project: Project) -> None:
    project.write("chain.py", RESUME)
    (project.root / "fail.flag").touch()
    target = project.target("chain.py", "chain")
    with pytest.raises(mp.StepFailed, match=r"step 'three' failed: RuntimeError: three is broken"):
        mp.run(target)
    assert project.ran() == ["one", "two", "three"]
    (project.root / "fail.flag").unlink()
    result = mp.run(target)
    assert statuses(result) == {"one": "cached", "two": "cached", "three": "done", "four": "done"}
    assert project.ran() == ["three", "four"]
    assert result.output == 4


def test_failure_records_status_traceback_and_skips_the_rest(project: Project) -> None:
    project.write("chain.py", RESUME)
    (project.root / "fail.flag").touch()
    with pytest.raises(mp.StepFailed) as info:
        mp.run(project.target("chain.py", "chain"))
    err = info.value
    assert err.step == "three"
    assert "three is broken" in err.traceback and "Traceback" in err.traceback
    run = err.run
    assert run.status == "failed"
    assert statuses(run) == {"one": "done", "two": "done", "three": "failed", "four": "skipped"}
    c = client()
    assert c.get_run(run.run_id).info.status.value == "FAILED"
    failed = run.step("three")
    step_run = c.get_run(failed.run_id)
    assert step_run.info.status.value == "FAILED"
    assert "three is broken" in step_run.data.tags["mloop.error"]
    names = [a.path for a in c.list_artifacts(failed.run_id)]
    assert names == ["traceback.txt"]
    assert run.step("four").run_id is None  # never started


def test_retries_with_exponential_backoff(project: Project) -> None:
    project.write(
        "flaky.py",
        """
        @step(retries=3, retry_delay=0.2)
        def flaky():
            log = HERE / "attempts.log"
            with open(log, "a") as f:
                f.write(f"{time.monotonic()}\\n")
            if len(log.read_text().split()) < 3:
                raise ConnectionError("not yet")
            return "ok"

        @pipeline
        def flow():
            return flaky()
        """,
    )
    result = mp.run(project.target("flaky.py", "flow"))
    assert result.output == "ok"
    assert result.step("flaky").attempts == 3
    times = [float(t) for t in (project.root / "attempts.log").read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # doubled


def test_retries_exhausted_fail_the_step(project: Project) -> None:
    project.write(
        "bad.py",
        """
        @step(retries=1, retry_delay=0.01)
        def bad():
            mark("bad")
            raise ValueError("always")

        @pipeline
        def flow():
            return bad()
        """,
    )
    with pytest.raises(mp.StepFailed, match=r"after 2 attempts"):
        mp.run(project.target("bad.py", "flow"))
    assert project.ran() == ["bad", "bad"]


def test_timeout_kills_a_hung_step(project: Project) -> None:
    project.write(
        "hang.py",
        """
        @step(timeout=2)
        def hang():
            (HERE / "pid").write_text(str(os.getpid()))
            time.sleep(600)

        @pipeline
        def flow():
            return hang()
        """,
    )
    start = time.monotonic()
    with pytest.raises(mp.StepTimeout, match=r"step 'hang' ran past its timeout of 2s"):
        mp.run(project.target("hang.py", "flow"))
    assert time.monotonic() - start < 120  # bounds a hang: the step would sleep for 600 s
    pid_file = project.root / "pid"
    if pid_file.exists():  # the child got as far as the step (not when its start was slow)
        pid = int(pid_file.read_text())
        assert pid != os.getpid()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_step_with_a_timeout_still_logs_to_its_run(project: Project) -> None:
    project.write(
        "sub.py",
        """
        @step(timeout=30)
        def child(x: int):
            mloop.log_metric("in_child", float(x))
            return os.getpid()

        @pipeline
        def flow():
            return child(3)
        """,
    )
    result = mp.run(project.target("sub.py", "flow"))
    assert result.output != os.getpid()
    run = client().get_run(result.step("child").run_id)
    assert run.data.metrics["in_child"].value == 3.0


@pytest.mark.parametrize(
    ("body", "type_name"),
    [("return (i for i in range(3))", "generator"), ("return threading.Lock()", "lock")],
)
def test_unpicklable_return_names_the_step_and_type(
    project: Project, body: str, type_name: str
) -> None:
    project.write(
        "unp.py",
        f"""
        import threading

        @step
        def make():
            {body}

        @pipeline
        def flow():
            return make()
        """,
    )
    with pytest.raises(
        mp.UnpicklableResult, match=rf"step 'make' returned a .*{type_name}"
    ) as info:
        mp.run(project.target("unp.py", "flow"))
    assert "cannot be stored" in info.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return add(one())", r"step 'add' cannot be called this way: missing a required"),
        ("return add(LEAKED, 1)", r"takes an input from step 'one', whose output this pipeline"),
        (
            "xs = []\na = add(xs, 1)\nxs.append(add(a, 1))\nreturn a",
            r"cycle: add -> add.1 -> add",
        ),
        ("if one():\n    return 1", r"cannot be tested for truth"),
    ],
)
def test_bad_pipelines_fail_before_any_step_runs(project: Project, body: str, message: str) -> None:
    body = body.replace("\n", "\n" + " " * 12)
    project.write(
        "bad.py",
        f"""
        @step
        def one():
            mark("one")
            return 1

        @step
        def add(a, b):
            mark("add")
            return a + b

        @pipeline
        def other():
            return one()

        from mloop.pipeline._model import trace
        LEAKED = trace(other).output

        @pipeline
        def flow():
            {body}
        """,
    )
    with pytest.raises(mp.InvalidPipeline, match=message):
        mp.run(project.target("bad.py", "flow"))
    assert project.ran() == []
    assert client().search_runs().runs == []


def test_unknown_and_missing_params(project: Project) -> None:
    project.write(
        "p.py",
        """
        @step
        def s(x):
            return x

        @pipeline
        def flow(alpha: float, n: int = 3):
            return s(alpha)
        """,
    )
    target = project.target("p.py", "flow")
    with pytest.raises(mp.InvalidPipeline, match=r"unknown param 'beta'.*accepts: alpha: float"):
        mp.run(target, {"alpha": 1.0, "beta": 2})
    with pytest.raises(mp.InvalidPipeline, match=r"missing a required argument: 'alpha'"):
        mp.run(target)
    assert mp.run(target, {"alpha": 0.5}).output == 0.5


def test_decorated_pipeline_object_and_direct_step_calls(mloop_home: object) -> None:
    @mp.step
    def inc(x: int) -> int:
        return x + 1

    @mp.pipeline
    def flow(x: int = 1) -> object:
        return inc(inc(x))

    assert inc(1) == 2  # outside a pipeline a step is a plain function
    assert mp.run(flow, {"x": 5}).output == 7
    assert flow(x=1) == 3  # calling a pipeline runs it


def test_the_module_is_the_decorator() -> None:
    import mloop.pipeline

    def body() -> None:
        return None

    assert isinstance(mloop.pipeline(body), mp.Pipeline)
    assert isinstance(mloop.pipeline(name="x")(body), mp.Pipeline)
    assert mloop.pipeline(name="x")(body).name == "x"


def test_env_is_untouched_by_a_run(project: Project) -> None:
    assert "MLOOP_RAY_ADDRESS" not in os.environ


def test_parts_of_an_output_feed_other_steps(project: Project) -> None:
    project.write(
        "split.py",
        """
        @step
        def split(n: int):
            mark("split")
            return {"train": list(range(n)), "test": [n]}, n

        @step
        def size(xs):
            mark("size")
            return len(xs)

        @pipeline
        def flow(n: int = 4):
            parts = split(n)
            return size(parts[0]["train"]), size(parts[0]["test"]), parts[1]
        """,
    )
    target = project.target("split.py", "flow")
    assert mp.run(target).output == (4, 1, 4)
    project.ran()
    assert mp.run(target).output == (4, 1, 4)
    assert project.ran() == []


def test_a_failure_starts_no_new_steps(project: Project) -> None:
    project.write(
        "stop.py",
        """
        @step
        def boom():
            mark("boom")
            raise RuntimeError("boom")

        @step
        def slow():
            time.sleep(0.5)
            mark("slow")
            return 1

        @step
        def after(x):
            mark("after")
            return x

        @pipeline
        def flow():
            return boom(), after(slow())
        """,
    )
    with pytest.raises(mp.StepFailed, match="step 'boom' failed") as info:
        mp.run(project.target("stop.py", "flow"))
    # slow was running: it finishes (and is cached for the next run); after never starts
    assert statuses(info.value.run) == {"boom": "failed", "slow": "done", "after": "skipped"}
    assert sorted(project.ran()) == ["boom", "slow"]


def test_an_fsspec_artifact_store(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    monkeypatch.setenv("MLOOP_ARTIFACTS", f"memory://mloop-{uuid.uuid4().hex}")
    project.write(
        "mem.py",
        """
        @step
        def one():
            mark("one")
            return [1]

        @step
        def two(x):
            mark("two")
            return x + [2]

        @pipeline
        def flow():
            return two(one())
        """,
    )
    target = project.target("mem.py", "flow")
    first = mp.run(target)
    assert first.output == [1, 2]
    assert first.step("two").output_path.startswith("pipeline-cache/")
    assert statuses(mp.run(target)) == {"one": "cached", "two": "cached"}
    assert sorted(project.ran()) == ["one", "two"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be a whole number >= 0"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0"),
        ({"resources": {"num_gpus": -1}}, "resource 'num_gpus' must be a number >= 0"),
        ({"retry_delay": -2}, "retry_delay must be >= 0"),
    ],
)
def test_bad_step_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(mp.InvalidPipeline, match=message):
        mp.step(**options)  # type: ignore[call-overload]


def test_generator_functions_are_not_steps() -> None:
    def gen() -> object:
        yield 1

    with pytest.raises(mp.InvalidPipeline, match="generator function"):
        mp.step(gen)


def test_running_a_pipeline_beside_the_calling_script_keeps_its_main(project: Project) -> None:
    # The usual layout: run.py calls mloop.pipeline.run("flow.py:flow") from the same folder.
    import subprocess
    import sys

    project.write("flow.py", RESUME)
    (project.root / "run.py").write_text(
        "import pickle, sys\n"
        "import mloop.pipeline\n"
        "class Local:\n"
        "    pass\n"
        "assert mloop.pipeline.run('flow.py:chain').output == 4\n"
        "pickle.dumps(Local())  # needs __main__ in sys.modules\n"
        "assert sys.modules['__main__'].Local is Local\n"
    )
    proc = subprocess.run(
        [sys.executable, "run.py"], cwd=project.root, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
