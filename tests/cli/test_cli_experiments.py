"""``mloop experiments``: list, create, rename, delete, restore."""

from __future__ import annotations

import json
from typing import Any


def _names(cli: Any, *args: str) -> list[str]:
    result = cli("experiments", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return [e["name"] for e in json.loads(result.stdout)["experiments"]]


def test_list_empty(cli: Any) -> None:
    result = cli("experiments", "list")
    assert result.exit_code == 0
    assert "no active experiments" in result.stdout
    assert json.loads(cli("experiments", "list", "--json").stdout) == {"experiments": []}


def test_create_and_list(cli: Any) -> None:
    result = cli("experiments", "create", "churn")
    assert result.exit_code == 0, result.output
    assert "created experiment 'churn' with id" in result.stdout
    created = cli("experiments", "create", "fraud", "--json")
    body = json.loads(created.stdout)
    assert body["name"] == "fraud"
    assert body["lifecycle_stage"] == "active"
    assert created.stderr == ""

    table = cli("experiments", "list").stdout
    assert "churn" in table
    assert "fraud" in table
    assert body["experiment_id"] in table
    assert _names(cli) == ["churn", "fraud"]


def test_create_duplicate_fails(cli: Any) -> None:
    cli("experiments", "create", "churn")
    result = cli("experiments", "create", "churn")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: an experiment named 'churn' exists already")
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_rename(cli: Any) -> None:
    exp_id = json.loads(cli("experiments", "create", "old", "--json").stdout)["experiment_id"]
    result = cli("experiments", "rename", exp_id, "new")
    assert result.exit_code == 0, result.output
    assert f"renamed experiment {exp_id} to 'new'" in result.stdout
    assert _names(cli) == ["new"]


def test_rename_unknown_id(cli: Any) -> None:
    result = cli("experiments", "rename", "999", "new")
    assert result.exit_code == 1
    assert "999" in result.stderr
    assert result.stderr.startswith("error: ")


def test_delete_and_restore(cli: Any) -> None:
    exp_id = json.loads(cli("experiments", "create", "tmp", "--json").stdout)["experiment_id"]
    result = cli("experiments", "delete", exp_id)
    assert result.exit_code == 0, result.output
    assert f"mloop experiments restore {exp_id}" in result.stdout
    assert _names(cli) == []
    assert _names(cli, "--view", "deleted") == ["tmp"]
    table = cli("experiments", "list", "--view", "all").stdout
    assert "deleted" in table
    assert "tmp" in table

    result = cli("experiments", "restore", exp_id)
    assert result.exit_code == 0, result.output
    assert "restored experiment 'tmp'" in result.stdout
    assert _names(cli) == ["tmp"]


def test_delete_unknown_id(cli: Any) -> None:
    result = cli("experiments", "delete", "4242")
    assert result.exit_code == 1
    assert "4242" in result.stderr
