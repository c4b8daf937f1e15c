"""``mloop db upgrade``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mloop.store._migrate import HEAD


def _revision(db: Path) -> str | None:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        engine.dispose()


def test_upgrade_a_new_database(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    result = cli("db", "upgrade", "--backend-store-uri", f"sqlite:///{db}")
    assert result.exit_code == 0, result.output
    assert f"upgraded from an empty database to revision {HEAD}" in result.stdout
    assert _revision(db) == HEAD

    again = cli("db", "upgrade", "--backend-store-uri", f"sqlite:///{db}", "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {
        "database": f"sqlite:///{db}",
        "from_revision": HEAD,
        "revision": HEAD,
        "head": HEAD,
    }


def test_upgrade_defaults_to_the_tracking_uri(cli: Any) -> None:
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"revision {HEAD}" in result.stdout
    assert _revision(cli.home / "mloop.db") == HEAD
    assert f"already at revision {HEAD}" in cli("db", "upgrade").stdout


def test_upgrade_refuses_a_server_url(cli: Any) -> None:
    result = cli("--tracking-uri", "http://127.0.0.1:1", "db", "upgrade")
    assert result.exit_code == 1
    assert "not a database" in result.stderr
