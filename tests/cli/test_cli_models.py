"""``mloop models``: list, show, register, alias, archive, history."""

from __future__ import annotations

import json
from typing import Any

import pytest


def _ok(cli: Any, *args: str, **kwargs: Any) -> Any:
    result = cli(*args, **kwargs)
    assert result.exit_code == 0, result.output
    return result


def _json(cli: Any, *args: str) -> Any:
    result = _ok(cli, *args, "--json")
    return json.loads(result.stdout)


def _fails(cli: Any, *args: str) -> str:
    """Run a command that must fail with one ``error: ...`` line; return that line."""
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    return str(result.stderr)


@pytest.fixture
def churn(cli: Any) -> Any:
    """Model ``churn`` with versions 1 and 2 and @champion -> 1."""
    _ok(cli, "models", "register", "s3://bucket/churn/1", "churn", "--reason", "first")
    _ok(cli, "models", "register", "s3://bucket/churn/2", "churn")
    _ok(cli, "models", "alias", "churn", "champion", "1")
    return cli


def test_list_empty(cli: Any) -> None:
    result = _ok(cli, "models", "list")
    assert "no registered models" in result.stdout
    assert _json(cli, "models", "list") == {"models": []}


def test_register(cli: Any) -> None:
    result = _ok(cli, "models", "register", "s3://bucket/churn/1", "churn", "--reason", "first")
    assert result.stdout.strip() == "registered churn version 1 (models:/churn/1)"
    body = _json(
        cli,
        "models",
        "register",
        "/models/churn-2",
        "churn",
        "--description",
        "retrained",
        "--tag",
        "team=growth",
        "--tag",
        "data=2024-05",
    )
    assert body["name"] == "churn"
    assert body["version"] == 2
    assert body["uri"] == "models:/churn/2"
    assert body["status"] == "READY"
    assert body["source"] == "/models/churn-2"
    assert body["description"] == "retrained"
    assert body["tags"] == {"team": "growth", "data": "2024-05"}
    assert body["run_id"] is None


def test_register_a_run_records_its_id(cli: Any, seeded: Any) -> None:
    run_id = seeded.runs["beta"]
    body = _json(cli, "models", "register", f"runs:/{run_id}/model", "churn")
    assert body["run_id"] == run_id
    table = _ok(cli, "models", "show", "churn").stdout
    assert run_id[:8] in table
    assert f"runs:/{run_id}/model" in table


def test_register_bad_tag_is_a_usage_error(cli: Any) -> None:
    result = cli("models", "register", "s3://b/m", "churn", "--tag", "novalue")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.stderr
    assert _json(cli, "models", "list") == {"models": []}


def test_list(churn: Any) -> None:
    _ok(churn, "models", "register", "s3://bucket/fraud/1", "fraud")
    _ok(churn, "models", "alias", "churn", "challenger", "2")
    table = _ok(churn, "models", "list").stdout
    lines = {line.split()[0]: line for line in table.splitlines() if line.split()}
    assert "challenger→2, champion→1" in lines["churn"]
    assert " 2 " in lines["churn"]
    assert "fraud" in lines
    models = _json(churn, "models", "list")["models"]
    assert [m["name"] for m in models] == ["churn", "fraud"]
    assert models[0]["latest_version"] == 2
    assert models[0]["aliases"] == {"challenger": 2, "champion": 1}
    assert models[1]["aliases"] == {}


def test_show(churn: Any) -> None:
    _ok(churn, "models", "alias", "churn", "champion", "2")
    _ok(churn, "models", "archive", "churn", "1")
    out = _ok(churn, "models", "show", "churn").stdout
    assert out.startswith("model churn")
    assert "champion→2" in out
    rows = {
        line.split()[0]: line for line in out.splitlines() if line.split()[:1] in (["1"], ["2"])
    }
    assert "READY" in rows["2"]
    assert "@champion" in rows["2"]
    assert "s3://bucket/churn/2" in rows["2"]
    assert "ARCHIVED" in rows["1"]

    body = _json(churn, "models", "show", "churn")
    assert body["name"] == "churn"
    assert body["aliases"] == {"champion": 2}
    assert [(v["version"], v["status"], v["aliases"]) for v in body["versions"]] == [
        (2, "READY", ["champion"]),
        (1, "ARCHIVED", []),
    ]
    assert body["versions"][0]["uri"] == "models:/churn/2"


def test_alias_move_and_delete(churn: Any) -> None:
    assert _ok(churn, "models", "alias", "churn", "champion", "2").stdout.strip() == (
        "champion: 1 -> 2"
    )
    assert _ok(churn, "models", "alias", "churn", "shadow", "2").stdout.strip() == (
        "shadow: (new) -> 2"
    )
    assert "(unchanged)" in _ok(churn, "models", "alias", "churn", "shadow", "2").stdout
    assert _json(churn, "models", "alias", "churn", "champion", "1") == {
        "name": "churn",
        "alias": "champion",
        "before": 2,
        "after": 1,
    }
    result = _ok(churn, "models", "alias", "churn", "shadow", "--delete", "--reason", "done")
    assert result.stdout.strip() == "shadow: 2 -> (deleted)"
    assert _json(churn, "models", "show", "churn")["aliases"] == {"champion": 1}


def test_alias_needs_a_version_or_delete(churn: Any) -> None:
    assert churn("models", "alias", "churn", "champion").exit_code == 2
    assert churn("models", "alias", "churn", "champion", "2", "--delete").exit_code == 2
    assert churn("models", "alias", "churn", "champion", "0").exit_code == 2
    assert _json(churn, "models", "show", "churn")["aliases"] == {"champion": 1}


def test_archive(churn: Any) -> None:
    result = _ok(churn, "models", "archive", "churn", "2", "--reason", "leaky feature")
    assert result.stdout.strip() == "archived churn version 2 (models:/churn/2)"
    body = _json(churn, "models", "archive", "churn", "2")  # archiving again changes nothing
    assert body["status"] == "ARCHIVED"
    assert body["version"] == 2


def test_history_shows_actor_and_reason(churn: Any) -> None:
    _ok(
        churn,
        "models",
        "alias",
        "churn",
        "champion",
        "2",
        "--reason",
        "beats v1 on AUC",
        env={"LOGNAME": "alice"},
    )
    out = _ok(churn, "models", "history", "churn").stdout
    last = [line for line in out.splitlines() if line.strip()][-1]
    assert "alice" in last
    assert "set_alias" in last
    assert "@champion: 1 -> 2" in last
    assert "beats v1 on AUC" in last
    assert "source=s3://bucket/churn/1" in out

    body = _json(churn, "models", "history", "churn")
    assert body["name"] == "churn"
    entries = body["entries"]
    assert [e["action"] for e in entries] == [
        "create_model",
        "create_version",
        "create_version",
        "set_alias",
        "set_alias",
    ]
    assert entries[1]["reason"] == "first"
    assert entries[-1]["actor"] == "alice"
    assert entries[-1]["before"] == {"alias": "champion", "version": 1}
    assert entries[-1]["after"] == {"alias": "champion", "version": 2}


@pytest.mark.parametrize(
    "args",
    [
        ("show", "ghost"),
        ("history", "ghost"),
        ("archive", "ghost", "1"),
        ("alias", "ghost", "champion", "1"),
    ],
)
def test_unknown_model(cli: Any, args: tuple[str, ...]) -> None:
    assert "'ghost'" in _fails(cli, "models", *args)


def test_alias_errors(churn: Any) -> None:
    assert "has no version 7" in _fails(churn, "models", "alias", "churn", "champion", "7")
    assert "reserved" in _fails(churn, "models", "alias", "churn", "latest", "2")
    assert "@nope" in _fails(churn, "models", "alias", "churn", "nope", "--delete")
    _ok(churn, "models", "archive", "churn", "2")
    assert "archived" in _fails(churn, "models", "alias", "churn", "champion", "2")
    assert _json(churn, "models", "show", "churn")["aliases"] == {"champion": 1}


def test_archive_a_version_an_alias_points_at(churn: Any) -> None:
    message = _fails(churn, "models", "archive", "churn", "1")
    assert "@champion" in message
    assert "move the alias" in message
    assert _json(churn, "models", "show", "churn")["versions"][-1]["status"] == "READY"


def test_bad_model_name(cli: Any) -> None:
    assert "model name 'bad name'" in _fails(cli, "models", "register", "s3://b/m", "bad name")
    assert "model name" in _fails(cli, "models", "show", "../etc")
    assert _json(cli, "models", "list") == {"models": []}
