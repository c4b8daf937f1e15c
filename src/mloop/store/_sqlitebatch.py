"""Finished runs recorded in one SQLite transaction through the standard library's ``sqlite3``.

A process whose only writes are a few finished runs, such as a fully cached pipeline run (the
pipeline's run and one nested run per reused step), would spend most of its time opening
:class:`~mloop.store.SqlStore`: SQLAlchemy, the store's entities and what they import cost
about 0.3 CPU-s, ten times the writes. :func:`record_finished_runs` writes the same rows that
``create_run``, ``log_params`` and ``set_terminated`` would (``runs``, ``tags``, ``params``; the
start, end and heartbeat times), with the store's checks, in one ``BEGIN IMMEDIATE`` transaction
on a connection set up as the store's engine sets up its own (WAL, busy timeout, synchronous
FULL, foreign keys).

It only writes into a database the store has already created and migrated to
:data:`SCHEMA_HEAD`, and to an active experiment that exists. Otherwise it writes nothing and
returns None, and the caller goes through the store, which creates and migrates databases and
experiments. The store's schema is in :mod:`mloop.store._schema`; a migration that changes the
``runs``, ``tags`` or ``params`` tables changes this module too (a test checks that
:data:`SCHEMA_HEAD` is the migrations' head).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mloop._core import validate_param_value, validate_run_name
from mloop.errors import (
    Conflict,
    InvalidArgument,
    RunNotFound,
    StoreError,
    StoreUnavailable,
)
from mloop.store._checks import check_count, check_mapping, check_run_id, check_tags

__all__ = ["SCHEMA_HEAD", "FinishedRun", "record_finished_runs", "sqlite_file"]

#: The schema version whose ``runs``, ``tags`` and ``params`` tables this module writes
#: (``mloop.store._migrate.HEAD``).
SCHEMA_HEAD = "0009_search_stats"
#: As the store's engine (:mod:`mloop.store._engine`).
_BUSY_TIMEOUT_S = 60.0
_LOCK_RETRIES = 5
_TERMINAL = frozenset({"FINISHED", "FAILED", "KILLED"})


@dataclass(frozen=True)
class FinishedRun:
    """One ended run to record: what ``create_run``, ``log_params`` and ``set_terminated``
    would have stored for it.

    ``parent_run_id`` names a run recorded earlier in the same batch or one in the database.
    ``heartbeat_time`` is what the fluent API's first heartbeat records (None: no heartbeat).
    """

    run_id: str
    run_name: str
    start_time: int
    end_time: int
    user: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    status: str = "FINISHED"
    heartbeat_time: int | None = None


def sqlite_file(uri: str) -> str | None:
    """The file of a ``sqlite:///path`` tracking URI, as SQLAlchemy opens it; None for any
    other URI (another database, a server, an in-memory database, a URI with query options or
    escapes, which only SQLAlchemy's parser reads right)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    path = uri[len(prefix) :]
    if not path or path == ":memory:" or any(ch in path for ch in "?#%") or path[0] == "~":
        return None
    return path


def record_finished_runs(
    uri: str,
    runs: Sequence[FinishedRun],
    *,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
) -> str | None:
    """Record ``runs``, in order, in one transaction, in the experiment named
    ``experiment_name`` or of id ``experiment_id`` (one of them).

    Returns:
        The experiment's id; None when nothing was written because this writer cannot record
        them: ``uri`` is not a SQLite file that exists, its schema is not :data:`SCHEMA_HEAD`,
        or there is no such active experiment. The store can (see the module's docstring).

    Raises:
        InvalidArgument: a run, tag or param the store would refuse too.
        RunNotFound: a ``parent_run_id`` names no run.
        Conflict: a run id exists already.
        StoreUnavailable: the database cannot be opened or stays locked.
    """
    if (experiment_name is None) == (experiment_id is None):
        raise TypeError("record_finished_runs takes experiment_name or experiment_id")
    if experiment_id is not None and not experiment_id.isdecimal():
        return None  # not an id of a SQL store
    where = (
        ("name = ?", experiment_name)
        if experiment_name is not None
        else ("experiment_id = ?", int(str(experiment_id)))
    )
    path = sqlite_file(uri)
    if path is None or not os.path.isfile(path):
        return None
    checked = [_checked(r) for r in runs]
    for attempt in range(_LOCK_RETRIES):
        try:
            return _record(path, where, checked)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or attempt == _LOCK_RETRIES - 1:
                raise StoreUnavailable(
                    f"recording runs: the database is unavailable ({exc})"
                ) from exc
            time.sleep(0.05 * 2**attempt)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"recording runs: conflicts with stored data ({exc})") from exc
        except UnicodeEncodeError as exc:
            raise InvalidArgument(
                f"recording runs: a text value holds a lone surrogate "
                f"({exc.object[exc.start : exc.end]!a}), which is not valid Unicode"
            ) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"recording runs: database error ({exc})") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _checked(run: FinishedRun) -> FinishedRun:
    """``run`` as the store's own checks leave it (the same messages on refusal)."""
    if run.status not in _TERMINAL:
        raise InvalidArgument(f"a finished run ends FINISHED, FAILED or KILLED, not {run.status!r}")
    return FinishedRun(
        run_id=check_run_id(run.run_id),
        run_name=validate_run_name(run.run_name),
        start_time=check_count(run.start_time, "start_time"),
        end_time=check_count(run.end_time, "end_time"),
        user=str(run.user)[:256],
        tags=check_tags(run.tags),
        params=check_mapping(run.params, "param", validate_param_value),
        parent_run_id=None if run.parent_run_id is None else check_run_id(run.parent_run_id),
        status=run.status,
        heartbeat_time=None
        if run.heartbeat_time is None
        else check_count(run.heartbeat_time, "heartbeat_time"),
    )


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _record(path: str, where: tuple[str, object], runs: list[FinishedRun]) -> str | None:
    conn = _connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = _write(conn, where, runs)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if found is not None else "ROLLBACK")
        return found
    finally:
        conn.close()


def _write(
    conn: sqlite3.Connection, where: tuple[str, object], runs: list[FinishedRun]
) -> str | None:
    try:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # a database the store has not created yet
        raise
    if version is None or version[0] != SCHEMA_HEAD:
        return None
    exp = conn.execute(
        "SELECT experiment_id, artifact_location, lifecycle_stage FROM experiments "
        f"WHERE {where[0]}",  # one of two fixed conditions, its value bound
        (where[1],),
    ).fetchone()
    if exp is None or exp[2] != "active":
        return None
    exp_pk, location = int(exp[0]), str(exp[1]).rstrip("/")
    recorded: set[str] = set()
    for run in runs:
        parent = run.parent_run_id
        if (
            parent is not None
            and parent not in recorded
            and conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (parent,)).fetchone() is None
        ):
            raise RunNotFound(f"no run with id {parent!r}", details={"run_id": parent})
        cur = conn.execute(
            "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, end_time, "
            "parent_run_id, artifact_uri, lifecycle_stage, user, heartbeat_time) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
            (
                run.run_id,
                exp_pk,
                run.run_name,
                run.status,
                run.start_time,
                run.end_time,
                parent,
                f"{location}/{run.run_id}/artifacts",
                run.user,
                run.heartbeat_time,
            ),
        )
        run_pk = cur.lastrowid
        if run.tags:
            conn.executemany(
                'INSERT INTO tags (run_pk, "key", value) VALUES (?, ?, ?)',
                [(run_pk, k, v) for k, v in run.tags.items()],
            )
        if run.params:
            conn.executemany(
                'INSERT INTO params (run_pk, "key", value) VALUES (?, ?, ?)',
                [(run_pk, k, v) for k, v in run.params.items()],
            )
        recorded.add(run.run_id)
    return str(exp_pk)
