"""Finished runs written in one transaction with ``sqlite3``: the store reads back what its own
``create_run``, ``log_params`` and ``update_run`` would have stored, and the writer refuses what
the store refuses, or steps aside (None, nothing written) where only the store can write."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mloop._core import new_run_id
from mloop.errors import Conflict, InvalidArgument, RunNotFound
from mloop.store._migrate import HEAD
from mloop.store._sqlitebatch import (
    SCHEMA_HEAD,
    FinishedRun,
    record_finished_runs,
    sqlite_file,
)


@pytest.fixture
def uri(sqlite_store: Any) -> str:
    sqlite_store.create_experiment("pipes")
    return str(sqlite_store.uri)


def _pair() -> tuple[FinishedRun, FinishedRun]:
    parent = FinishedRun(
        run_id=new_run_id(),
        run_name="flow",
        start_time=1_000,
        end_time=3_000,
        user="ana",
        tags={"mloop.user": "ana", "team": "ml"},
        params={"alpha": "0.5", "n": "4"},
        heartbeat_time=1_000,
    )
    child = FinishedRun(
        run_id=new_run_id(),
        run_name="load",
        start_time=1_500,
        end_time=1_600,
        user="ana",
        tags={"mloop.step.cached": "true"},
        parent_run_id=parent.run_id,
    )
    return parent, child


def test_the_schema_head_is_the_migrations_head() -> None:
    assert SCHEMA_HEAD == HEAD


def test_the_store_reads_back_what_was_recorded(sqlite_store: Any, uri: str) -> None:
    parent, child = _pair()
    exp_id = record_finished_runs(uri, [parent, child], experiment_name="pipes")
    assert exp_id == sqlite_store.get_experiment_by_name("pipes").experiment_id
    got = sqlite_store.get_run(parent.run_id)
    assert got.info.status.value == "FINISHED"
    assert (got.info.start_time, got.info.end_time) == (1_000, 3_000)
    assert got.info.run_name == "flow"
    assert got.info.user == "ana"
    assert got.info.parent_run_id is None
    assert got.info.experiment_id == exp_id
    assert got.info.artifact_uri.endswith(f"/{exp_id}/{parent.run_id}/artifacts")
    assert got.data.tags == {"mloop.user": "ana", "team": "ml"}
    assert got.data.params == {"alpha": "0.5", "n": "4"}
    kid = sqlite_store.get_run(child.run_id)
    assert kid.info.parent_run_id == parent.run_id
    assert kid.data.tags == {"mloop.step.cached": "true"}
    assert kid.data.params == {}
    found = sqlite_store.search_runs([exp_id], f"attributes.run_id = '{child.run_id}'")
    assert [r.info.run_id for r in found.runs] == [child.run_id]
    with sqlite3.connect(sqlite_file(uri) or "") as conn:
        beats = dict(conn.execute("SELECT run_id, heartbeat_time FROM runs").fetchall())
    assert beats == {parent.run_id: 1_000, child.run_id: None}


def test_by_experiment_id(sqlite_store: Any, uri: str) -> None:
    exp_id = sqlite_store.get_experiment_by_name("pipes").experiment_id
    parent, child = _pair()
    assert record_finished_runs(uri, [parent], experiment_id=exp_id) == exp_id
    assert record_finished_runs(uri, [child], experiment_id="999") is None
    assert record_finished_runs(uri, [child], experiment_id="not-a-number") is None
    assert sqlite_store.get_run(parent.run_id).info.experiment_id == exp_id
    with pytest.raises(TypeError):
        record_finished_runs(uri, [child], experiment_id=exp_id, experiment_name="pipes")


@pytest.mark.parametrize(
    "change",
    [
        {"uri": "postgresql://u@h/db"},
        {"uri": "sqlite://"},
        {"uri": "sqlite:///missing.db"},
        {"experiment": "no-such-experiment"},
        {"deleted": True},
        {"revision": "0007_older"},
        {"revision": None},
    ],
)
def test_steps_aside_where_only_the_store_writes(
    sqlite_store: Any, uri: str, tmp_path: Path, change: dict[str, Any]
) -> None:
    path = sqlite_file(uri) or ""
    if change.get("deleted"):
        sqlite_store.delete_experiment(sqlite_store.get_experiment_by_name("pipes").experiment_id)
    if "revision" in change:
        with sqlite3.connect(path) as conn:
            if change["revision"] is None:
                conn.execute("DROP TABLE alembic_version")
            else:
                conn.execute("UPDATE alembic_version SET version_num = ?", (change["revision"],))
    target = change.get("uri", uri).replace("missing.db", str(tmp_path / "missing.db"))
    name = change.get("experiment", "pipes")
    assert record_finished_runs(target, _pair(), experiment_name=name) is None
    assert not (tmp_path / "missing.db").exists()  # no database created on the way
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_refuses_what_the_store_refuses_and_writes_nothing(sqlite_store: Any, uri: str) -> None:
    parent, child = _pair()
    bad_tag = FinishedRun(**{**vars(child), "tags": {"bad key!": "x"}})
    with pytest.raises(InvalidArgument, match="tag key"):
        record_finished_runs(uri, [parent, bad_tag], experiment_name="pipes")
    orphan = FinishedRun(**{**vars(child), "parent_run_id": new_run_id()})
    with pytest.raises(RunNotFound, match="no run with id"):
        record_finished_runs(uri, [parent, orphan], experiment_name="pipes")
    with pytest.raises(Conflict):
        record_finished_runs(uri, [parent, FinishedRun(**vars(parent))], experiment_name="pipes")
    with sqlite3.connect(sqlite_file(uri) or "") as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_sqlite_file() -> None:
    assert sqlite_file("sqlite:////abs/mloop.db") == "/abs/mloop.db"
    assert sqlite_file("sqlite:///rel/mloop.db") == "rel/mloop.db"
    for other in ("sqlite://", "sqlite:///:memory:", "sqlite:///x.db?mode=ro", "http://h:1"):
        assert sqlite_file(other) is None
