"""The root command: help speed, lazy imports, version, global options, error reporting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mloop import __version__
from mloop.errors import RunNotFound

MLOOP = Path(sys.executable).with_name("mloop")
HEAVY = ("sqlalchemy", "pandas", "numpy", "sklearn", "fastapi", "uvicorn", "pydantic", "alembic")


# `mloop --help` imports about 350 modules today (typer, rich, mloop.cli); one heavy library
# would add hundreds (pandas alone brings ~500). How long it takes: benchmarks/cli.py.
HELP_MODULE_BUDGET = 600


def test_help_lists_every_command_and_imports_only_the_cli(mloop_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(MLOOP), "--help"],
        env={**os.environ, "MLOOP_HOME": str(mloop_home), "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("demo", "experiments", "runs", "models", "server", "db", "--tracking-uri"):
        assert command in result.stdout
    imported = [
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and not line.rstrip().endswith("imported package")
    ]
    assert "mloop.cli" in imported
    assert sorted({m.split(".")[0] for m in imported} & set(HEAVY)) == []
    assert len(imported) < HELP_MODULE_BUDGET, f"mloop --help imported {len(imported)} modules"


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


@pytest.mark.slow
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


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["drift", "a.csv", "b.csv"], "drift"),
        (["--tracking-uri", "sqlite:///x.db", "pipeline", "run", "f.py:p"], "pipeline"),
        (["--artifacts=/tmp/a", "runs", "list"], "runs"),
        ([], None),
        (["--help"], None),
        (["-V"], None),
        (["--unknown", "drift"], None),
        (["drif"], None),  # misspelt: the whole tree, for Click's "did you mean"
        (["--tracking-uri"], None),
    ],
)
def test_invoked_command_is_read_from_the_arguments(args: list[str], expected: str | None) -> None:
    from mloop.cli._main import invoked_command

    assert invoked_command(args) == expected


def test_a_command_builds_only_itself_and_the_app_keeps_every_command() -> None:
    from mloop.cli import app
    from mloop.cli._main import COMMANDS, GROUPS, build_app

    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert names == set(COMMANDS) | set(GROUPS)
    only = build_app("drift")
    assert [c.name for c in only.registered_commands] == ["drift"]
    assert only.registered_groups == []
    assert [g.name for g in build_app("pipeline").registered_groups] == ["pipeline"]


def test_running_a_command_imports_no_other_command(mloop_home: Path) -> None:
    # importlib.import_module bypasses -X importtime's log: ask sys.modules instead.
    code = (
        "import json, sys\n"
        "from mloop.cli import main\n"
        "sys.argv = ['mloop', 'drift', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mloop.cli.'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "MLOOP_HOME": str(mloop_home), "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Test each column of CURRENT for drift from REFERENCE" in result.stdout
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "mloop.cli._drift" in loaded
    assert not loaded & {"mloop.cli._runs", "mloop.cli._serve", "mloop.cli._pipeline"}
