"""The database handle ``SqlStore`` and its parts (registry, datasets, tune journals) share: one
engine, its transactions, and the locks, upserts and run lookups they all use.

Writes run in one transaction each (``BEGIN IMMEDIATE`` on SQLite, see :mod:`._engine`): a
SQLite "database is locked" that outlasts the busy timeout is retried with backoff
(:meth:`Database.write`), and a write that races another process on a unique key is retried
from the start (:meth:`Database.write_retrying`). SQLAlchemy's exceptions are translated to
mloop's here (:func:`translate`); nothing outside the SQL store sees them.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa

from mloop.errors import (
    Conflict,
    InvalidArgument,
    MloopError,
    RunNotFound,
    StoreError,
    StoreUnavailable,
)
from mloop.store import _schema as t
from mloop.store._engine import WRITE, create_engine, placeholder

__all__ = ["Database", "active_run_pk", "run_not_found", "run_row", "translate"]

T = TypeVar("T")

_LOCK_RETRIES = 5
_STATS_MIN_RUNS = 1000  # below this, every plan is fast
_STATS_ANALYSIS_LIMIT = 2000  # rows sampled per index: milliseconds, whatever the size
_CONFLICT_RETRIES = 8


@contextlib.contextmanager
def translate(what: str) -> Iterator[None]:
    """Map SQLAlchemy and driver errors to mloop's tree (the only place that sees them)."""
    try:
        yield
    except MloopError:
        raise
    except UnicodeEncodeError as exc:  # bound text holding a lone surrogate ("\ud800")
        raise InvalidArgument(
            f"{what}: a text value holds a lone surrogate ({exc.object[exc.start : exc.end]!a}),"
            " which is not valid Unicode; send UTF-8 text"
        ) from exc
    except OverflowError as exc:  # an integer SQLite cannot hold
        raise InvalidArgument(f"{what}: a number is outside the 64-bit integer range") from exc
    except sa.exc.DataError as exc:  # PostgreSQL: a value out of its column's range or type
        raise InvalidArgument(f"{what}: a value does not fit its column ({exc.orig})") from exc
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"{what}: conflicts with stored data ({exc.orig})") from exc
    except sa.exc.OperationalError as exc:
        raise StoreUnavailable(f"{what}: the database is unavailable ({exc.orig})") from exc
    except sa.exc.InterfaceError as exc:
        raise StoreUnavailable(f"{what}: the database connection failed ({exc.orig})") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"{what}: database error ({exc})") from exc


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.OperationalError) and "locked" in str(exc.orig).lower()


class _Retry(Exception):
    pass


class Database:
    """One SQLite or PostgreSQL database: its engine and the transactions written through it.

    Args:
        uri: ``sqlite:///path`` or ``postgresql://...``.
        **engine_kwargs: passed to SQLAlchemy's ``create_engine``.

    Example::

        db = Database("sqlite:///mloop.db")
        with db.read("counting runs") as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar_one()
        run_pk = db.write("creating a run", lambda conn: ...)
    """

    def __init__(self, uri: str, **engine_kwargs: Any) -> None:
        self.engine = create_engine(uri, **engine_kwargs)
        self.sqlite = self.engine.dialect.name == "sqlite"
        #: The DBAPI placeholder, for raw ``executemany`` on the hot path.
        self.placeholder = placeholder(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def refresh_stats(self) -> bool:
        """On SQLite, ``ANALYZE`` (sampled: ``analysis_limit``) when the planner's statistics
        are missing or the runs table has more than doubled since they were taken; returns
        whether it ran. Without statistics SQLite starts a search from the metric's index and
        visits half the runs; with them it starts from the rarer condition (10x faster at
        10,000 runs). PostgreSQL keeps its own statistics (autovacuum). A database that cannot
        be written (read-only, locked) keeps the plan it has: the search is right either way.
        """
        if not self.sqlite:
            return False
        try:
            with translate("reading the query planner's statistics"), self.engine.connect() as conn:
                runs = conn.exec_driver_sql("SELECT max(run_pk) FROM runs").scalar() or 0
                has_stats = conn.exec_driver_sql(
                    "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
                ).scalar()
                analysed = 0
                if has_stats:
                    stat = conn.exec_driver_sql(
                        "SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' LIMIT 1"
                    ).scalar()
                    analysed = int(str(stat).split()[0]) if stat else 0
            if runs < _STATS_MIN_RUNS or (has_stats and runs <= 2 * analysed):
                return False

            def analyze(conn: sa.Connection) -> None:
                conn.exec_driver_sql(f"PRAGMA analysis_limit={_STATS_ANALYSIS_LIMIT}")
                conn.exec_driver_sql("ANALYZE")

            self.write("refreshing the query planner's statistics", analyze)
            return True
        except MloopError:
            return False

    @contextlib.contextmanager
    def read(self, what: str) -> Iterator[sa.Connection]:
        """A connection for reads; ``what`` names the operation in errors."""
        with translate(what), self.engine.connect() as conn:
            yield conn

    def write(self, what: str, fn: Callable[[sa.Connection], T]) -> T:
        """``fn(conn)`` in one write transaction, retried if SQLite reports a lock (the busy
        timeout normally absorbs contention; this covers the rare remainder)."""
        for attempt in range(_LOCK_RETRIES):
            try:
                with translate(what):
                    try:
                        with (
                            self.engine.connect().execution_options(**WRITE) as conn,
                            conn.begin(),
                        ):
                            return fn(conn)
                    except sa.exc.OperationalError as exc:
                        if _is_locked(exc) and attempt < _LOCK_RETRIES - 1:
                            raise _Retry from exc
                        raise
            except _Retry:
                time.sleep(0.05 * (2**attempt) * (1 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def write_retrying(self, what: str, fn: Callable[[sa.Connection], T]) -> T:
        """:meth:`write` for a write two processes may race on a unique key: a bare
        :class:`~mloop.errors.Conflict` (a constraint violation) is retried from the start, and
        the transaction then finds what the other writer stored; a domain error (a subclass,
        such as "the name exists") is final."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                return self.write(what, fn)
            except Conflict as exc:
                if type(exc) is not Conflict or attempt == _CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def lock(self, conn: sa.Connection, lock_class: int, key: str) -> None:
        """Serialize the writers of ``key`` until this transaction ends: a transaction-scoped
        advisory lock on PostgreSQL (``lock_class`` keeps the kinds of keys apart); nothing on
        SQLite, whose ``BEGIN IMMEDIATE`` already lets one writer in at a time."""
        if not self.sqlite:
            conn.execute(
                sa.select(sa.func.pg_advisory_xact_lock(lock_class, sa.func.hashtext(key)))
            )

    def insert(self, table: sa.Table) -> Any:
        """An ``INSERT`` of the database's dialect, which has ``on_conflict_do_update`` and
        ``on_conflict_do_nothing`` (SQLite and PostgreSQL spell them alike)."""
        if self.sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        return insert(table)

    def upsert(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        """Insert ``rows`` into a key-value table, replacing ``value`` where ``keys`` exist."""
        stmt = self.insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={"value": stmt.excluded.value})
        conn.execute(stmt, rows)


# -- run lookups every part needs ---------------------------------------------------------------


def run_not_found(run_id: str) -> RunNotFound:
    return RunNotFound(f"no run with id {run_id!r}", details={"run_id": run_id})


def run_row(conn: sa.Connection, run_id: str) -> Any:
    """The ``runs`` row of ``run_id``.

    Raises:
        RunNotFound: no such run.
    """
    row = conn.execute(sa.select(t.runs).where(t.runs.c.run_id == run_id)).first()
    if row is None:
        raise run_not_found(run_id)
    return row


# Built once: constructing the statement on every call cost more than running it (every
# metric batch looks its run up).
_ACTIVE_RUN = sa.select(t.runs.c.run_pk, t.runs.c.lifecycle_stage).where(
    t.runs.c.run_id == sa.bindparam("run_id")
)


def active_run_pk(conn: sa.Connection, run_id: str) -> int:
    """The primary key of ``run_id``, which must not be deleted (it is being written to).

    Raises:
        RunNotFound: no such run.
        InvalidArgument: the run is deleted.
    """
    row = conn.execute(_ACTIVE_RUN, {"run_id": run_id}).first()
    if row is None:
        raise run_not_found(run_id)
    if row.lifecycle_stage != "active":
        raise InvalidArgument(f"run {run_id} is deleted; restore it before logging to it")
    return int(row.run_pk)
