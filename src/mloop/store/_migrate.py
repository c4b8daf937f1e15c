"""Schema migrations with Alembic: applied on first use and by ``mloop db upgrade``.

Several processes may open a new database at the same moment; one migrates while the others wait
(a file lock for SQLite, an advisory lock for PostgreSQL), then they find the schema current.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from mloop.errors import MigrationError

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0008_checks"
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
