"""Shared fixtures: real stores on SQLite, PostgreSQL and over HTTP against a real server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("MLOOP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:  # any failure means: no server to test against
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test process, dropped at the end."""
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required in CI: {problem}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {problem}")
    name = f"mloop_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename != 'alembic_version'"
            )
        ]
        if tables:
            # The audit log refuses TRUNCATE by trigger (append-only); a test reset may clear it.
            audit = "registry_audit" in tables
            if audit:
                conn.exec_driver_sql("ALTER TABLE registry_audit DISABLE TRIGGER USER")
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            if audit:
                conn.exec_driver_sql("ALTER TABLE registry_audit ENABLE TRIGGER USER")
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[object]:
    from mloop.store import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'mloop.db'}", str(tmp_path / "artifacts"))
    yield store
    store.close()


@pytest.fixture
def pg_store(pg_database: str, tmp_path: Path) -> Iterator[object]:
    from mloop.store import SqlStore

    store = SqlStore(pg_database, str(tmp_path / "artifacts"))
    _truncate_pg(pg_database)
    yield store
    store.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    """A real mloop server on an ephemeral 127.0.0.1 port over a fresh SQLite store."""
    from mloop.server import ServerThread, create_app
    from mloop.store import SqlStore

    backend = SqlStore(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "server-artifacts"))
    with ServerThread(create_app(backend)) as server:
        yield server.url
    backend.close()


@pytest.fixture
def http_store(live_server: str) -> Iterator[object]:
    from mloop.store import HttpStore

    store = HttpStore(live_server)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgres", "http"])
def store(request: pytest.FixtureRequest) -> object:
    """The same contract, on every kind of store."""
    return request.getfixturevalue(
        f"{'pg' if request.param == 'postgres' else request.param}_store"
    )


@pytest.fixture(autouse=True)
def _default_store_context() -> Iterator[None]:
    """Each test starts and ends with the process default store read from the environment:
    a CLI run in-process (whose global options set the default) or a test that set it leaves
    nothing behind."""
    from mloop.store import _context

    _context.set_default()
    yield
    _context.set_default()


@pytest.fixture
def mloop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated MLOOP_HOME, the current store's default, with the fluent API's state and
    the shared stores reset around the test."""
    from mloop.store import _context
    from mloop.tracking import _client, _fluent

    home = tmp_path / "home"
    monkeypatch.setenv("MLOOP_HOME", str(home))
    monkeypatch.delenv("MLOOP_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLOOP_ARTIFACTS", raising=False)
    monkeypatch.chdir(tmp_path)
    _fluent.reset()
    _context.set_default()
    yield home
    _fluent.reset()
    _client.close_writers()
    _context.close_stores()
    _context.set_default()


@dataclass
class Elsewhere:
    """A store set with ``mloop.set_tracking_uri`` while the working folder is empty."""

    uri: str
    db: Path
    work: Path


@pytest.fixture
def elsewhere(
    mloop_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Elsewhere]:
    """``mloop.set_tracking_uri("sqlite:///.../other.db")`` in an empty working folder with the
    default MLOOP_HOME (``./.mloop``) and the artifacts elsewhere: anything a domain writes to
    ``./.mloop`` means it ignored the store it was told to use (checked after the test)."""
    import mloop

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLOOP_HOME")
    monkeypatch.setenv("MLOOP_ARTIFACTS", str(tmp_path / "artifacts"))
    db = tmp_path / "other.db"
    mloop.set_tracking_uri(f"sqlite:///{db}")
    yield Elsewhere(f"sqlite:///{db}", db, work)
    assert not (work / ".mloop").exists(), "something used the default store instead"
