"""Schema creation: a new SQLite database gets the migrations' output copied in one transaction,
and the result is the database the migrations themselves build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mloop.store import SqlStore
from mloop.store._engine import create_engine
from mloop.store._migrate import HEAD, ensure_schema, sqlite_snapshot, upgrade


def _contents(db: Path) -> tuple[list[tuple[Any, ...]], dict[str, list[tuple[Any, ...]]]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            objects = conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            ).all()
            rows = {
                name: sorted(conn.exec_driver_sql(f'SELECT * FROM "{name}"').all())
                for kind, name, _t, _s in objects
                if kind == "table"
            }
        return [tuple(o) for o in objects], rows
    finally:
        engine.dispose()


def test_a_new_database_equals_the_one_the_migrations_build(tmp_path: Path) -> None:
    migrated, copied = tmp_path / "migrated.db", tmp_path / "copied.db"
    engine = create_engine(f"sqlite:///{migrated}")
    assert upgrade(engine) == HEAD  # the migrations, one by one
    engine.dispose()
    SqlStore(f"sqlite:///{copied}", str(tmp_path / "artifacts")).close()

    objects, rows = _contents(copied)
    assert (objects, rows) == _contents(migrated)
    assert rows["alembic_version"] == [(HEAD,)]
    kinds = {o[0] for o in objects}
    assert {"table", "index", "trigger"} <= kinds  # the audit log's append-only triggers too


def test_the_copied_schema_keeps_the_audit_log_append_only(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "artifacts"))
    try:
        store.create_registered_model("churn")
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM registry_audit").scalar() == 1
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as c:
            c.exec_driver_sql("DELETE FROM registry_audit")
    finally:
        store.close()


def test_a_database_with_tables_is_left_to_the_migrations(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{db}")
    assert upgrade(engine, "0001") == "0001"  # an older mloop's database
    ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD
    engine.dispose()


def test_the_snapshot_is_built_once_per_process() -> None:
    assert sqlite_snapshot() is sqlite_snapshot()
    assert any(s.startswith("CREATE TRIGGER") for s in sqlite_snapshot().ddl)
