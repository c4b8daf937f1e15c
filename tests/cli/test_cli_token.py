"""``mloop token``: create (shown once), list (never a secret), revoke; the bootstrap token."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from mloop.cli._server import bootstrap_admin_token
from mloop.cli._token import parse_duration_ms
from mloop.errors import InvalidArgument
from mloop.store import SqlStore


def test_create_list_revoke(cli: Any) -> None:
    created = cli("token", "create", "alice", "--role", "deployer", "--model", "churn", "--json")
    assert created.exit_code == 0, created.output
    new = json.loads(created.stdout)
    token, info = new["token"], new["info"]
    assert token.startswith(f"mlp_{info['token_id']}_")
    assert info["role"] == "deployer"
    assert info["scopes"]["models"] == ["churn"]

    listed = cli("token", "list", "--json")
    assert listed.exit_code == 0, listed.output
    # never the secret (base64url: it may hold '_' itself)
    assert token.removeprefix(f"mlp_{info['token_id']}_") not in listed.stdout
    [row] = json.loads(listed.stdout)["tokens"]
    assert row["name"] == "alice"
    assert row["revoked_at"] is None

    table = cli("token", "list").stdout
    assert "alice" in table and "valid" in table

    revoked = cli("token", "revoke", info["token_id"])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked token" in revoked.stdout
    assert "revoked" in cli("token", "list").stdout
    store = SqlStore(cli.db_uri, cli.artifacts)
    try:
        with pytest.raises(PermissionError):
            store.authenticate(token)
    finally:
        store.close()


def test_create_prints_the_token_once_in_text(cli: Any) -> None:
    result = cli(
        "token", "create", "ci", "--role", "editor", "--expires", "30d", "--scope", "predict"
    )
    assert result.exit_code == 0, result.output
    assert "it is shown only now" in result.stdout
    assert "mlp_" in result.stdout
    [row] = json.loads(cli("token", "list", "--json").stdout)["tokens"]
    assert row["expires_at"] - row["created_at"] == pytest.approx(30 * 86_400_000, abs=60_000)
    assert row["scopes"]["inference"] == ["predict"]


def test_bad_input_is_refused(cli: Any) -> None:
    bad_role = cli("token", "create", "x", "--role", "god")
    assert bad_role.exit_code != 0
    assert "reader, editor, deployer, admin" in bad_role.output
    bad_scope = cli("token", "create", "x", "--scope", "root")
    assert bad_scope.exit_code != 0 and "predict" in bad_scope.output
    assert cli("token", "revoke", "nope").exit_code != 0


@pytest.mark.parametrize(
    ("text", "ms"),
    [("45s", 45_000), ("90m", 5_400_000), ("12h", 43_200_000), ("2w", 1_209_600_000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "0d", "3y", "-1d", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_duration_ms(text)


def test_bootstrap_token(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/b.db", str(tmp_path / "a"))
    try:
        path = bootstrap_admin_token(store, tmp_path / "home")
        assert path is not None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        found = store.authenticate(path.read_text().strip())
        assert (found.name, found.role.value) == ("bootstrap-admin", "admin")
        assert bootstrap_admin_token(store, tmp_path / "home") is None  # an admin exists
        store.revoke_token(found.token_id)
        assert bootstrap_admin_token(store, tmp_path / "home") is not None
    finally:
        store.close()
