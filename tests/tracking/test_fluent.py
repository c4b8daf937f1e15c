"""The fluent API against the embedded default store (a real SQLite file in MLOOP_HOME)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mloop
from mloop.errors import InvalidArgument, LoggingFailed, NoActiveRun, ParamConflict
from mloop.store import RunStatus

pytestmark = pytest.mark.usefixtures("mloop_home")


def test_public_names_are_exactly_the_documented_ones() -> None:
    assert sorted(mloop.__all__) == sorted(
        [
            "ActiveRun",
            "Client",
            "FlushStatus",
            "__version__",
            "active_run",
            "autolog",
            "end_run",
            "evaluate",
            "flush",
            "get_tracking_uri",
            "log_artifact",
            "log_artifacts",
            "log_input",
            "log_metric",
            "log_metrics",
            "log_param",
            "log_params",
            "pipeline",
            "set_experiment",
            "set_tag",
            "set_tags",
            "set_tracking_uri",
            "start_run",
            "start_span",
            "step",
            "trace",
            "tune",
        ]
    )
    for name in mloop.__all__:
        assert getattr(mloop, name) is not None


def test_a_run_records_everything(mloop_home: Path, tmp_path: Path) -> None:
    exp = mloop.set_experiment("churn")
    artifact = tmp_path / "report.txt"
    artifact.write_text("ok")
    with mloop.start_run(run_name="baseline", tags={"team": "growth"}) as run:
        assert mloop.active_run() is run
        mloop.log_param("lr", 0.1)
        mloop.log_params({"depth": 6, "model": "gbm"})
        for i in range(10):
            mloop.log_metric("loss", 1.0 / (i + 1))
        mloop.log_metrics({"auc": 0.9, "f1": 0.8}, step=9)
        mloop.set_tag("stage", "dev")
        mloop.set_tags({"owner": "ana"})
        mloop.log_artifact(artifact)
    assert mloop.active_run() is None

    client = mloop.Client()
    stored = client.get_run(run.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.experiment_id == exp.experiment_id
    assert stored.info.run_name == "baseline"
    assert stored.data.params == {"lr": "0.1", "depth": "6", "model": "gbm"}
    assert stored.data.metrics["loss"].step == 9
    assert stored.data.metrics["loss"].value == pytest.approx(0.1)
    assert stored.data.metrics["auc"].value == 0.9
    tags = stored.data.tags
    assert tags["team"] == "growth" and tags["stage"] == "dev" and tags["owner"] == "ana"
    # The captured context: user, host, Python, entry point, packages hash.
    for key in (
        "mloop.user",
        "mloop.host",
        "mloop.python",
        "mloop.entry_point",
        "mloop.env.packages_sha256",
    ):
        assert tags[key], key
    hist = client.get_metric_history(run.run_id, "loss")
    assert hist.steps.tolist() == list(range(10))
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["report.txt"]
    assert (mloop_home / "mloop.db").exists()


def test_git_context_is_captured(tmp_path: Path) -> None:
    import subprocess

    from mloop.tracking._context import git_context

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "train.py").write_text("print(1)\n")
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    ctx = git_context.__wrapped__(repo)
    assert len(ctx["mloop.git.commit"]) == 40
    assert ctx["mloop.git.dirty"] == "false"
    (repo / "train.py").write_text("print(2)\n")
    assert git_context.__wrapped__(repo)["mloop.git.dirty"] == "true"


def test_exception_ends_the_run_failed() -> None:
    with pytest.raises(ZeroDivisionError), mloop.start_run() as run:
        mloop.log_metric("x", 1.0)
        _ = 1 / 0
    stored = mloop.Client().get_run(run.run_id)
    assert stored.info.status is RunStatus.FAILED
    assert "ZeroDivisionError" in stored.data.tags["mloop.error"]
    assert stored.data.metrics["x"].value == 1.0


def test_keyboard_interrupt_ends_the_run_killed() -> None:
    with pytest.raises(KeyboardInterrupt), mloop.start_run() as run:
        raise KeyboardInterrupt
    assert mloop.Client().get_run(run.run_id).info.status is RunStatus.KILLED


def test_nested_runs() -> None:
    with mloop.start_run(run_name="parent") as parent:
        with pytest.raises(InvalidArgument, match="nested=True"):
            mloop.start_run()
        with mloop.start_run(run_name="child", nested=True) as child:
            assert mloop.active_run() is child
            mloop.log_metric("m", 2.0)
        assert mloop.active_run() is parent
    client = mloop.Client()
    assert client.get_run(child.run_id).info.parent_run_id == parent.run_id
    assert "m" not in client.get_run(parent.run_id).data.metrics


def test_ending_a_parent_ends_open_children() -> None:
    parent = mloop.start_run()
    child = mloop.start_run(nested=True)
    mloop.end_run()  # ends the child
    assert mloop.active_run() is parent
    child2 = mloop.start_run(nested=True)
    parent.end()
    assert mloop.active_run() is None
    client = mloop.Client()
    assert client.get_run(child.run_id).info.status is RunStatus.FINISHED
    assert client.get_run(child2.run_id).info.status is RunStatus.FINISHED


def test_resume_a_run() -> None:
    with mloop.start_run() as run:
        mloop.log_metric("m", 1.0)
    with mloop.start_run(run.run_id):
        mloop.log_metric("m", 2.0, step=5)
    stored = mloop.Client().get_run(run.run_id)
    assert stored.data.metrics["m"].value == 2.0
    assert stored.info.status is RunStatus.FINISHED


def test_calls_without_a_run() -> None:
    with pytest.raises(NoActiveRun, match="start_run"):
        mloop.log_metric("m", 1.0)
    with pytest.raises(NoActiveRun):
        mloop.log_param("p", 1)
    mloop.end_run()  # a no-op


def test_param_conflict_in_one_process_is_immediate() -> None:
    with mloop.start_run():
        mloop.log_param("lr", 0.1)
        mloop.log_param("lr", 0.1)
        with pytest.raises(ParamConflict, match="immutable"):
            mloop.log_param("lr", 0.2)


def test_write_errors_surface_at_the_next_call_or_flush() -> None:
    with mloop.start_run() as run:
        mloop.log_param("lr", 0.1)
        mloop.flush()
        # Another process set the same param to another value: the conflict is found by the
        # store, in the background, and must not be lost.
        other = mloop.Client()
        other._params.clear()
        other.log_param(run.run_id, "lr", 0.5)
        with pytest.raises(LoggingFailed, match="lr") as info:
            mloop.flush()
        assert isinstance(info.value.__cause__, ParamConflict)
        mloop.log_metric("after", 1.0)  # the writer keeps going
    assert mloop.Client().get_run(run.run_id).data.metrics["after"].value == 1.0


def test_log_metrics_takes_whole_arrays() -> None:
    values = np.linspace(0, 1, 1000)
    with mloop.start_run() as run:
        mloop.log_metrics({"curve": values})
        mloop.log_metrics({"curve": [2.0, 3.0]})  # continues after the last step
        mloop.log_metrics({"explicit": values[:3]}, step=np.array([10, 20, 30]))
        with pytest.raises(InvalidArgument):
            mloop.log_metrics({"bad": np.ones((2, 2))})
        with pytest.raises(InvalidArgument):
            mloop.log_metrics({"bad": values[:3]}, step=np.array([1, 2]))
    client = mloop.Client()
    hist = client.get_metric_history(run.run_id, "curve")
    assert len(hist) == 1002
    assert hist.steps[-1] == 1001 and hist.values[-1] == 3.0
    np.testing.assert_allclose(hist.values[:1000], values)
    assert client.get_metric_history(run.run_id, "explicit").steps.tolist() == [10, 20, 30]


@pytest.mark.parametrize(
    ("key", "value"),
    [("bad key!", 1.0), ("", 1.0), ("ok", "nope"), ("ok", None), ("ok", [1, 2])],
)
def test_invalid_metrics_fail_at_the_call(key: str, value: object) -> None:
    with mloop.start_run(), pytest.raises(InvalidArgument):
        mloop.log_metric(key, value)  # type: ignore[arg-type]


def test_numpy_scalars_and_ints_are_accepted() -> None:
    with mloop.start_run() as run:
        mloop.log_metric("a", np.float32(0.5))  # type: ignore[arg-type]
        mloop.log_metric("b", 3)
        mloop.log_metric("c", np.int64(7), step=np.int64(2))  # type: ignore[arg-type]
    m = mloop.Client().get_run(run.run_id).data.metrics
    assert (m["a"].value, m["b"].value, m["c"].value, m["c"].step) == (0.5, 3.0, 7.0, 2)


def test_set_experiment_on_a_deleted_experiment_says_what_to_do() -> None:
    exp = mloop.set_experiment("old")
    mloop.Client().delete_experiment(exp.experiment_id)
    with pytest.raises(InvalidArgument, match="restore"):
        mloop.set_experiment("old")


def test_search_from_the_client() -> None:
    exp = mloop.set_experiment("search")
    for lr in (0.01, 0.1, 1.0):
        with mloop.start_run():
            mloop.log_param("lr", lr)
            mloop.log_metric("auc", 1 - lr / 2)
    page = mloop.Client().search_runs(
        [exp.experiment_id], "metrics.auc > 0.9", order_by="metrics.auc desc"
    )
    assert [r.data.params["lr"] for r in page.runs] == ["0.01", "0.1"]


def test_domain_packages_are_attributes_of_mloop() -> None:
    assert mloop.models.load is not None  # type: ignore[attr-defined]
    assert mloop.registry.resolve is not None  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = mloop.nonexistent  # type: ignore[attr-defined]


def test_bind_run_gives_one_thread_its_own_active_run(mloop_home: Path) -> None:
    import threading

    from mloop.tracking import bind_run, current_client

    with mloop.start_run() as outer:
        client = current_client()
        children = [client.create_run(outer.info.experiment_id) for _ in range(2)]
        barrier = threading.Barrier(2)

        def work(i: int) -> None:
            with bind_run(children[i]) as bound:
                barrier.wait()  # both threads bound at once
                assert mloop.active_run() is bound
                mloop.log_metric("worker", float(i))
            assert mloop.active_run() is outer  # unbound: the process's run again

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert mloop.active_run() is outer
        mloop.log_metric("main", 1.0)
    mloop.flush()
    for i, child in enumerate(children):
        metrics = client.get_run(child.info.run_id).data.metrics
        assert {k: m.value for k, m in metrics.items()} == {"worker": float(i)}
    metrics = client.get_run(outer.run_id).data.metrics
    assert {k: m.value for k, m in metrics.items()} == {"main": 1.0}
