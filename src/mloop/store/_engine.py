"""Database engines: SQLite tuned for several processes at once, PostgreSQL through psycopg 3.

SQLite runs in WAL mode (readers never block the writer) with a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken up front, so two writers wait
for each other instead of failing with "database is locked" when a read lock cannot be upgraded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from mloop.errors import InvalidArgument

SQLITE_BUSY_TIMEOUT_MS = 60_000
WRITE = {"mloop_write": True}


def create_engine(uri: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``sqlite:///path`` or ``postgresql://...``.

    Raises:
        InvalidArgument: any other scheme.
    """
    try:
        url = make_url(uri)
    except sa.exc.ArgumentError:
        raise InvalidArgument(f"not a database URI: {uri!r}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, **kwargs)
    if backend in ("postgresql", "postgres"):
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **kwargs)
    raise InvalidArgument(
        f"unsupported tracking URI scheme {backend!r}: use sqlite:///path, "
        "postgresql://user@host/db or http(s)://host:port"
    )


def _sqlite_engine(url: sa.URL, **kwargs: Any) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module; SQLAlchemy's begin event emits BEGIN.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # NORMAL in WAL mode: a committed transaction survives a killed process; FULL adds an
        # fsync per commit for power loss as well. Commits are batched, so FULL costs little.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("mloop_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def placeholder(engine: sa.Engine) -> str:
    """The DBAPI placeholder for raw ``executemany`` on the hot path."""
    return "?" if engine.dialect.paramstyle == "qmark" else "%s"
