"""Schema migrations with Alembic: applied on first use and by ``mloop db upgrade``.

Several processes may open a new database at the same moment; one migrates while the others wait
(a file lock for SQLite, an advisory lock for PostgreSQL), then they find the schema current.

A brand-new SQLite database does not replay the migrations one by one: the first one a process
creates runs them on an in-memory database, and the schema and rows they leave there are copied
into each new file in one transaction (about 20x faster than Alembic's own run, which re-reads
and executes every migration script each time). The copy is the migrations' own output, so the
result is the same database.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mloop.errors import MigrationError

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0009_search_stats"
_PG_LOCK_ID = 0x6D6C6F6F70  # "mloop"


def current_revision(engine: sa.Engine) -> str | None:
    """The schema version of the database, or None when it has none yet."""
    with engine.connect() as conn:
        try:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except sa.exc.DBAPIError:
            return None


def ensure_schema(engine: sa.Engine) -> None:
    """Bring the schema to the version this mloop needs, unless it is there already (fast)."""
    try:
        rev = current_revision(engine)
    except sa.exc.OperationalError as exc:
        from mloop.errors import StoreUnavailable

        raise StoreUnavailable(f"cannot connect to the database: {exc.orig}") from exc
    if rev == HEAD:
        return
    if rev is None and engine.dialect.name == "sqlite" and _create_sqlite_from_snapshot(engine):
        return
    upgrade(engine)


def upgrade(engine: sa.Engine, revision: str = "head") -> str | None:
    """Run the Alembic migrations up to ``revision``; returns the revision reached."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(engine):
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except sa.exc.SQLAlchemyError as exc:
            raise MigrationError(f"schema migration failed: {exc}") from exc
    return current_revision(engine)


@dataclass(frozen=True)
class _SqliteSnapshot:
    """What the migrations leave in an empty SQLite database: DDL in a replayable order and the
    rows of every table that has any (``alembic_version`` at least)."""

    ddl: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...], tuple[tuple[Any, ...], ...]], ...]


_snapshots: dict[str, _SqliteSnapshot] = {}
_snapshot_lock = threading.Lock()
# Tables first (in creation order: a foreign key may name a table created later), then what
# hangs on them.
_DDL_ORDER = {"table": 0, "index": 1, "view": 2, "trigger": 3}


def sqlite_snapshot() -> _SqliteSnapshot:
    """The schema at HEAD, built once per process by running the migrations in memory."""
    with _snapshot_lock:
        snap = _snapshots.get(HEAD)
        if snap is None:
            from mloop.store._engine import create_engine

            memory = create_engine("sqlite://")
            try:
                upgrade(memory)
                with memory.connect() as conn:
                    snap = _read_snapshot(conn)
            finally:
                memory.dispose()
            _snapshots[HEAD] = snap
        return snap


def _read_snapshot(conn: sa.Connection) -> _SqliteSnapshot:
    objects = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master "
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).all()
    ordered = sorted(enumerate(objects), key=lambda io: (_DDL_ORDER.get(io[1][0], 9), io[0]))
    rows = []
    for kind, name, _sql in objects:
        if kind != "table":
            continue
        result = conn.exec_driver_sql(f'SELECT * FROM "{name}"')
        data = tuple(tuple(r) for r in result.all())
        if data:
            rows.append((str(name), tuple(result.keys()), data))
    return _SqliteSnapshot(tuple(str(o[2]) for _i, o in ordered), tuple(rows))


def _create_sqlite_from_snapshot(engine: sa.Engine) -> bool:
    """Give an empty SQLite database the schema at HEAD in one transaction; False (nothing
    done) when the database holds tables already, which the migrations must then handle."""
    snap = sqlite_snapshot()
    with _migration_lock(engine):
        try:
            with engine.begin() as conn:
                present = conn.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
                ).scalar()
                if present:
                    return False
                for statement in snap.ddl:
                    conn.exec_driver_sql(statement)
                for table, columns, data in snap.rows:
                    names = ", ".join(f'"{c}"' for c in columns)
                    marks = ", ".join("?" for _ in columns)
                    conn.exec_driver_sql(
                        f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(data)
                    )
        except sa.exc.SQLAlchemyError as exc:
            raise MigrationError(f"creating the schema failed: {exc}") from exc
    return True


@contextlib.contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        db = engine.url.database
        if not db or db == ":memory:":
            yield
            return
        lock_path = Path(db).expanduser().with_suffix(".migrate.lock")
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_LOCK_ID})")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_ID})")
            conn.commit()
