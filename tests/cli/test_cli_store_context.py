"""The global options make the current store of the whole process: the commands and the library
calls they make use one store, and the environment is left as it was."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import mloop.store


def test_global_options_set_the_current_store_not_the_environment(cli: Any, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'given.db'}"
    before = dict(os.environ)
    result = cli(
        "--tracking-uri",
        uri,
        "--artifacts",
        str(tmp_path / "art"),
        "experiments",
        "create",
        "churn",
    )
    assert result.exit_code == 0, result.output
    assert dict(os.environ) == before
    current = mloop.store.current()
    assert current.settings.tracking_uri == uri
    assert current.settings.artifacts == str(tmp_path / "art")
    # the command wrote through the very store the library uses
    assert current.store.get_experiment_by_name("churn").name == "churn"
    assert not (cli.home / "mloop.db").exists()


def test_without_options_the_environment_decides(cli: Any) -> None:
    result = cli("experiments", "create", "churn")
    assert result.exit_code == 0, result.output
    assert mloop.store.current().settings.tracking_uri == cli.db_uri
    assert (cli.home / "mloop.db").exists()


def test_an_invalid_configuration_is_one_clear_line(cli: Any) -> None:
    result = cli("experiments", "list", env={"MLOOP_HTTP_TIMEOUT_S": "-1"})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid configuration")
    assert "http_timeout_s" in result.stderr
