"""The root command: help speed, lazy imports, version, global options, error reporting."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mloop import __version__
from mloop.errors import RunNotFound

HEAVY = ("sqlalchemy", "pandas", "numpy", "sklearn", "fastapi", "uvicorn", "pydantic", "alembic")


def test_help_is_fast_and_lists_every_command(run_mloop: Any) -> None:
    run_mloop("--version")  # warm the bytecode cache, as any installed CLI has it
    started = time.perf_counter()
    result = run_mloop("--help")
    elapsed = time.perf_counter() - started
    print(f"mloop --help: {elapsed * 1000:.0f} ms")
    assert result.returncode == 0, result.stderr
    for command in ("demo", "experiments", "runs", "models", "server", "db", "--tracking-uri"):
        assert command in result.stdout
    assert elapsed < 1.5


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = (
        "import json, sys; import mloop.cli; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mloop {__version__}"


def test_usage_errors_exit_2(cli: Any) -> None:
    assert cli("no-such-command").exit_code == 2
    result = cli("runs", "list", "--max-results", "0")
    assert result.exit_code == 2
    assert "--max-results" in result.stderr
    assert cli("experiments", "list", "--view", "sideways").exit_code == 2


def test_an_mloop_error_is_one_red_line_and_exit_1(run_mloop: Any) -> None:
    result = run_mloop("runs", "show", "0123456789abcdef0123456789abcdef")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: no run with id '0123456789abcdef0123456789abcdef'"
    ]


def test_mloop_debug_shows_the_exception(cli: Any) -> None:
    result = cli("runs", "show", "nope", env={"MLOOP_DEBUG": "1"})
    assert result.exit_code == 1
    assert isinstance(result.exception, RunNotFound)


def test_invalid_configuration_is_reported(cli: Any) -> None:
    result = cli("experiments", "list", env={"MLOOP_LOG_BATCH_SIZE": "0"})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid configuration")
    assert "log_batch_size" in result.stderr


def test_tracking_uri_option_chooses_the_database(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "other.db"
    result = cli("--tracking-uri", f"sqlite:///{db}", "experiments", "create", "there", "--json")
    assert result.exit_code == 0, result.output
    assert db.exists()
    assert "there" not in cli("experiments", "list").stdout
    listed = cli("--tracking-uri", f"sqlite:///{db}", "experiments", "list", "--json")
    assert [e["name"] for e in json.loads(listed.stdout)["experiments"]] == ["there"]


def test_mloop_toml_overrides_the_environment(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Documented precedence: environment < mloop.toml < arguments.
    from_env, from_toml = tmp_path / "env.db", tmp_path / "toml.db"
    (tmp_path / "mloop.toml").write_text(f'tracking_uri = "sqlite:///{from_toml}"\n')
    result = cli("experiments", "create", "x", env={"MLOOP_TRACKING_URI": f"sqlite:///{from_env}"})
    assert result.exit_code == 0, result.output
    assert from_toml.exists()
    assert not from_env.exists()


def test_unsupported_tracking_uri(cli: Any) -> None:
    result = cli("--tracking-uri", "ftp://example.com/db", "experiments", "list")
    assert result.exit_code == 1
    assert "unsupported tracking URI scheme" in result.stderr
    assert "Traceback" not in result.output
