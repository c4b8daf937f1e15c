"""One contract for every Store: SQLite, PostgreSQL and HTTP against a real server."""

from __future__ import annotations

import hashlib
import io
import math
import socket
from pathlib import Path

import numpy as np
import pytest

from mloop.errors import (
    ArtifactNotFound,
    ExperimentAlreadyExists,
    ExperimentNotFound,
    InvalidArgument,
    InvalidFilter,
    NotFound,
    ParamConflict,
    RunNotFound,
    StoreUnavailable,
    UnsafeArtifactPath,
)
from mloop.store import Metric, RunStatus, Store, ViewType

MISSING_RUN = "0" * 32


def _run(store: Store, name: str = "exp") -> tuple[str, str]:
    exp = store.create_experiment(name)
    run = store.create_run(exp.experiment_id, run_name="r1")
    return exp.experiment_id, run.info.run_id


# -- experiments -------------------------------------------------------------------------------


def test_experiment_lifecycle(store: Store) -> None:
    exp = store.create_experiment("churn", tags={"team": "growth"})
    assert exp.name == "churn"
    assert exp.tags == {"team": "growth"}
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location
    assert store.get_experiment(exp.experiment_id) == exp
    assert store.get_experiment_by_name("churn").experiment_id == exp.experiment_id

    renamed = store.rename_experiment(exp.experiment_id, "churn-v2")
    assert renamed.name == "churn-v2"
    with pytest.raises(ExperimentNotFound):
        store.get_experiment_by_name("churn")

    store.delete_experiment(exp.experiment_id)
    assert [e.name for e in store.list_experiments()] == []
    assert [e.name for e in store.list_experiments(ViewType.DELETED)] == ["churn-v2"]
    store.restore_experiment(exp.experiment_id)
    assert [e.name for e in store.list_experiments("all")] == ["churn-v2"]

    store.set_experiment_tag(exp.experiment_id, "team", "core")
    assert store.get_experiment(exp.experiment_id).tags == {"team": "core"}


def test_experiment_names_are_unique_even_when_deleted(store: Store) -> None:
    exp = store.create_experiment("dup")
    with pytest.raises(ExperimentAlreadyExists, match="dup"):
        store.create_experiment("dup")
    store.delete_experiment(exp.experiment_id)
    with pytest.raises(ExperimentAlreadyExists):
        store.create_experiment("dup")
    other = store.create_experiment("other")
    with pytest.raises(ExperimentAlreadyExists):
        store.rename_experiment(other.experiment_id, "dup")


@pytest.mark.parametrize("bad", ["", "   ", "x" * 300, "a\x00b", 5])
def test_experiment_name_validation(store: Store, bad: object) -> None:
    with pytest.raises(InvalidArgument):
        store.create_experiment(bad)  # type: ignore[arg-type]


def test_unknown_experiment_ids(store: Store) -> None:
    with pytest.raises(ExperimentNotFound, match="12345"):
        store.get_experiment("12345")
    with pytest.raises(ExperimentNotFound):
        store.get_experiment("not-a-number")
    with pytest.raises(ExperimentNotFound):
        store.create_run("12345")
    with pytest.raises(ExperimentNotFound):
        store.delete_experiment("12345")


# -- runs --------------------------------------------------------------------------------------


def test_run_lifecycle(store: Store) -> None:
    exp_id, run_id = _run(store)
    run = store.get_run(run_id)
    assert run.info.status is RunStatus.RUNNING
    assert run.info.run_name == "r1"
    assert run.info.experiment_id == exp_id
    assert run.info.end_time is None
    assert run.info.artifact_uri

    info = store.update_run(run_id, status="FINISHED")
    assert info.status is RunStatus.FINISHED
    assert info.end_time is not None and info.end_time >= info.start_time
    assert store.update_run(run_id, run_name="renamed").run_name == "renamed"

    store.delete_run(run_id)
    assert store.search_runs([exp_id]).runs == []
    assert [r.run_id for r in store.search_runs([exp_id], view="deleted").runs] == [run_id]
    store.restore_run(run_id)
    assert [r.run_id for r in store.search_runs([exp_id]).runs] == [run_id]


def test_run_default_name_and_nested_runs(store: Store) -> None:
    exp_id, parent = _run(store)
    child = store.create_run(exp_id, parent_run_id=parent)
    assert child.info.run_name  # a generated readable name
    assert child.info.parent_run_id == parent
    with pytest.raises(RunNotFound):
        store.create_run(exp_id, parent_run_id=MISSING_RUN)
    found = store.search_runs([exp_id], f"parent_run_id = '{parent}'").runs
    assert [r.run_id for r in found] == [child.info.run_id]


def test_a_run_created_with_a_client_chosen_id_is_created_once(store: Store) -> None:
    exp_id, _ = _run(store)
    run_id = "ab" * 16
    first = store.create_run(exp_id, run_id=run_id, run_name="offline", start_time=1000)
    assert first.info.run_id == run_id and first.info.start_time == 1000
    store.log_batch(run_id, params={"lr": 0.1})
    again = store.create_run(exp_id, run_id=run_id, run_name="offline", start_time=1000)
    assert again.info.run_id == run_id and again.data.params == {"lr": "0.1"}
    assert [r.run_id for r in store.search_runs([exp_id], "run_name = 'offline'").runs] == [run_id]
    other = store.create_experiment("elsewhere").experiment_id
    with pytest.raises(InvalidArgument, match="another experiment"):
        store.create_run(other, run_id=run_id)
    for bad in ("AB" * 16, "ab" * 15, "run-1"):
        with pytest.raises(InvalidArgument):
            store.create_run(exp_id, run_id=bad)


def test_invalid_status_and_unknown_run(store: Store) -> None:
    _, run_id = _run(store)
    with pytest.raises(InvalidArgument, match="status"):
        store.update_run(run_id, status="DONE")
    for call in (
        lambda: store.get_run(MISSING_RUN),
        lambda: store.update_run(MISSING_RUN, status="FINISHED"),
        lambda: store.log_batch(MISSING_RUN, params={"a": 1}),
        lambda: store.get_metric_history(MISSING_RUN, "loss"),
    ):
        with pytest.raises(RunNotFound, match=MISSING_RUN):
            call()


# -- params, metrics, tags ---------------------------------------------------------------------


def test_params_are_immutable(store: Store) -> None:
    _, run_id = _run(store)
    store.log_batch(run_id, params={"lr": 0.1, "depth": 6})
    store.log_batch(run_id, params={"lr": "0.1"})  # the same value again is fine
    with pytest.raises(ParamConflict, match="lr"):
        store.log_batch(run_id, params={"lr": 0.2, "new": 1}, metrics=[("m", 1.0, 0, 1)])
    run = store.get_run(run_id)
    assert run.data.params == {"lr": "0.1", "depth": "6"}
    assert run.data.metrics == {}  # the failed batch wrote nothing


def test_metrics_history_and_latest(store: Store) -> None:
    _, run_id = _run(store)
    points = [Metric("loss", 1.0 / (i + 1), i, 1_000 + i) for i in range(500)]
    store.log_batch(run_id, metrics=points[250:])
    store.log_batch(run_id, metrics=points[:250])  # out of order: history is sorted by step
    store.log_batch(run_id, metrics=[("acc", 0.5, 3, 10), ("acc", 0.7, 1, 20)])
    hist = store.get_metric_history(run_id, "loss")
    assert len(hist) == 500
    assert hist.steps.tolist() == list(range(500))
    np.testing.assert_allclose(hist.values, [p.value for p in points])
    latest = store.get_run(run_id).data.metrics
    assert latest["loss"].step == 499
    assert latest["acc"].value == 0.5  # the highest step wins, not the last written
    assert len(store.get_metric_history(run_id, "nothing")) == 0


@pytest.mark.parametrize("n", [99, 101, 1_234])
def test_every_point_of_a_batch_is_kept(store: Store, n: int) -> None:
    """Sizes around the SQLite store's rows per INSERT statement (100): every point is kept,
    with two keys interleaved, a repeated step and NaN values."""
    _, run_id = _run(store)
    points = [
        ("a" if i % 3 else "b", math.nan if i % 10 == 7 else i / 4, i // 2, 10_000 - i)
        for i in range(n)
    ]
    store.log_batch(run_id, metrics=points)
    for key in ("a", "b"):
        mine = sorted((p for p in points if p[0] == key), key=lambda p: (p[2], p[3]))
        hist = store.get_metric_history(run_id, key)
        assert hist.steps.tolist() == [p[2] for p in mine]
        assert hist.timestamps.tolist() == [p[3] for p in mine]
        np.testing.assert_array_equal(hist.values, [p[1] for p in mine])  # NaN equals NaN
    latest = store.get_run(run_id).data.metrics
    last_b = max((p for p in points if p[0] == "b"), key=lambda p: (p[2], p[3]))
    assert (latest["b"].step, latest["b"].timestamp) == (last_b[2], last_b[3])


def test_non_finite_metric_values_round_trip(store: Store) -> None:
    _, run_id = _run(store)
    values = [math.nan, math.inf, -math.inf, 0.0, -1.5e300]
    store.log_batch(run_id, metrics=[("x", v, i, i) for i, v in enumerate(values)])
    hist = store.get_metric_history(run_id, "x")
    assert math.isnan(hist.values[0])
    assert hist.values[1:].tolist() == values[1:]
    latest = store.get_run(run_id).data.metrics["x"]
    assert latest.value == -1.5e300


@pytest.mark.parametrize(
    "metric",
    [
        ("bad key!", 1.0, 0, 0),
        ("", 1.0, 0, 0),
        ("x" * 251, 1.0, 0, 0),
        ("../etc", 1.0, 0, 0),
        ("ok", "high", 0, 0),
        ("ok", 1.0, 1.5, 0),
        ("ok", 1.0, 2**64, 0),
        ("ok", 1.0),
        (["loss"], 1.0, 0, 0),  # not hashable: refused by name, not a TypeError
        (("loss",), 1.0, 0, 0),
    ],
)
def test_metric_validation(store: Store, metric: tuple[object, ...]) -> None:
    _, run_id = _run(store)
    with pytest.raises(InvalidArgument):
        store.log_batch(run_id, metrics=[metric])  # type: ignore[list-item]


def test_oversized_values_are_rejected(store: Store) -> None:
    _, run_id = _run(store)
    with pytest.raises(InvalidArgument, match="at most"):
        store.log_batch(run_id, params={"p": "x" * 9000})
    with pytest.raises(InvalidArgument, match="at most"):
        store.log_batch(run_id, tags={"t": "x" * 9000})


def test_tags_are_mutable_and_deletable(store: Store) -> None:
    _, run_id = _run(store)
    store.log_batch(run_id, tags={"stage": "dev", "owner": "ana"})
    store.log_batch(run_id, tags={"stage": "prod"})
    assert store.get_run(run_id).data.tags == {"stage": "prod", "owner": "ana"}
    store.delete_tag(run_id, "owner")
    assert store.get_run(run_id).data.tags == {"stage": "prod"}
    with pytest.raises(NotFound):
        store.delete_tag(run_id, "owner")


def test_logging_to_a_deleted_run_is_refused(store: Store) -> None:
    _, run_id = _run(store)
    store.delete_run(run_id)
    with pytest.raises(InvalidArgument, match="deleted"):
        store.log_batch(run_id, metrics=[("m", 1.0, 0, 0)])


# -- search ------------------------------------------------------------------------------------


def test_search_filters_orders_and_pages(store: Store) -> None:
    exp = store.create_experiment("search")
    ids = []
    for i in range(25):
        run = store.create_run(exp.experiment_id, run_name=f"run-{i:02d}", start_time=1000 + i)
        store.log_batch(
            run.info.run_id,
            params={"model": "lgbm" if i % 2 else "linear", "i": str(i)},
            metrics=[("auc", i / 25, 0, 0)],
            tags={"parity": "odd" if i % 2 else "even"},
        )
        ids.append(run.info.run_id)
    page = store.search_runs(
        [exp.experiment_id],
        "metrics.auc > 0.5 and params.model = 'lgbm'",
        order_by=["metrics.auc DESC"],
        max_results=3,
    )
    assert [r.info.run_name for r in page.runs] == ["run-23", "run-21", "run-19"]
    assert page.runs[0].data.params["model"] == "lgbm"
    seen = [r.run_id for r in page.runs]
    while page.next_page_token:
        page = store.search_runs(
            [exp.experiment_id],
            "metrics.auc > 0.5 and params.model = 'lgbm'",
            order_by=["metrics.auc DESC"],
            max_results=3,
            page_token=page.next_page_token,
        )
        seen += [r.run_id for r in page.runs]
    assert seen == [ids[i] for i in (23, 21, 19, 17, 15, 13)]

    default_order = store.search_runs([exp.experiment_id], max_results=2).runs
    assert [r.info.run_name for r in default_order] == ["run-24", "run-23"]  # newest first
    tagged = store.search_runs([exp.experiment_id], "tags.parity = 'even' and run_name LIKE '%0_'")
    assert sorted(r.info.run_name for r in tagged.runs) == [
        "run-00",
        "run-02",
        "run-04",
        "run-06",
        "run-08",
    ]


def test_search_errors(store: Store) -> None:
    exp = store.create_experiment("search-errors")
    with pytest.raises(InvalidFilter) as info:
        store.search_runs([exp.experiment_id], "metrics.auc > 0.5 andd params.x = 'a'")
    assert info.value.details["position"] == 18
    with pytest.raises(InvalidArgument, match="page token"):
        store.search_runs([exp.experiment_id], page_token="garbage")
    other = store.search_runs([exp.experiment_id], "metrics.auc > 0", max_results=1)
    assert other.next_page_token is None
    with pytest.raises(InvalidArgument, match="max_results"):
        store.search_runs([exp.experiment_id], max_results=0)


def test_page_token_belongs_to_its_search(store: Store) -> None:
    exp = store.create_experiment("tokens")
    for _ in range(3):
        store.create_run(exp.experiment_id)
    page = store.search_runs([exp.experiment_id], max_results=1)
    assert page.next_page_token
    with pytest.raises(InvalidArgument, match="another search"):
        store.search_runs(
            [exp.experiment_id],
            "status = 'RUNNING'",
            max_results=1,
            page_token=page.next_page_token,
        )


# -- artifacts ---------------------------------------------------------------------------------


def test_artifacts_round_trip_with_hashes(store: Store, tmp_path: Path) -> None:
    _, run_id = _run(store)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "model.bin").write_bytes(b"\x00\x01" * 50_000)
    (src / "sub" / "notes.txt").write_text("hello")
    single = tmp_path / "config.yaml"
    single.write_text("a: 1\n")

    infos = store.log_artifact(run_id, single)
    assert [(i.path, i.sha256) for i in infos] == [
        ("config.yaml", hashlib.sha256(b"a: 1\n").hexdigest())
    ]
    infos = store.log_artifact(run_id, src, "model")
    assert sorted(i.path for i in infos) == ["model/model.bin", "model/sub/notes.txt"]

    listing = store.list_artifacts(run_id)
    assert [(i.path, i.is_dir) for i in listing] == [("config.yaml", False), ("model", True)]
    inner = {i.path: i for i in store.list_artifacts(run_id, "model")}
    assert inner["model/model.bin"].sha256 == hashlib.sha256(b"\x00\x01" * 50_000).hexdigest()
    assert inner["model/model.bin"].size == 100_000
    assert inner["model/sub"].is_dir

    with store.open_artifact(run_id, "model/sub/notes.txt") as fh:
        assert fh.read() == b"hello"
    out = store.download_artifacts(run_id, "model", tmp_path / "out")
    assert (out / "sub" / "notes.txt").read_text() == "hello"
    assert (out / "model.bin").stat().st_size == 100_000

    put = store.put_artifact(run_id, "streamed/data.csv", io.BytesIO(b"a,b\n1,2\n"))
    assert put.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


@pytest.mark.parametrize("bad", ["../escape", "a/../../escape", "/etc/passwd", "a\\..\\b"])
def test_artifact_paths_cannot_escape_the_root(store: Store, tmp_path: Path, bad: str) -> None:
    _, run_id = _run(store)
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(UnsafeArtifactPath):
        store.log_artifact(run_id, f, bad)
    with pytest.raises((UnsafeArtifactPath, ArtifactNotFound)):
        store.open_artifact(run_id, bad)
    with pytest.raises((UnsafeArtifactPath, ArtifactNotFound)):
        store.put_artifact(run_id, bad, io.BytesIO(b"x"))


def test_missing_artifact(store: Store) -> None:
    _, run_id = _run(store)
    with pytest.raises(ArtifactNotFound):
        store.open_artifact(run_id, "nope.txt")
    with pytest.raises(ArtifactNotFound):
        store.list_artifacts(run_id, "nope")


def test_a_batch_sent_twice_is_written_once(store: Store) -> None:
    _, run_id = _run(store)
    points = [("loss", float(i), i, i) for i in range(10)]
    store.log_batch(run_id, metrics=points, params={"a": "1"}, batch_id="b" * 32)
    store.log_batch(run_id, metrics=points, params={"a": "1"}, batch_id="b" * 32)  # a retry
    assert len(store.get_metric_history(run_id, "loss")) == 10
    store.log_batch(run_id, metrics=points[:1], batch_id="c" * 32)  # another batch
    assert len(store.get_metric_history(run_id, "loss")) == 11
    with pytest.raises(InvalidArgument, match="batch id"):
        store.log_batch(run_id, metrics=points, batch_id="x" * 65)


def test_ping(store: Store) -> None:
    assert store.ping() is None  # it answers: no exception, nothing to return
    store.create_experiment("after-ping")  # and stays usable
    assert "after-ping" in [e.name for e in store.list_experiments()]


def test_ping_of_a_server_that_is_gone_raises_store_unavailable() -> None:
    from mloop.store import HttpStore

    with socket.socket() as sock:  # a port that nothing listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        HttpStore(f"http://127.0.0.1:{port}") as gone,
        pytest.raises(
            StoreUnavailable, match=f"cannot reach the mloop server at http://127.0.0.1:{port}"
        ),
    ):
        gone.ping()


def test_head_revision_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from mloop.store._migrate import HEAD, MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD
