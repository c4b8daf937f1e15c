"""The token part of the Store contract, on SQLite, PostgreSQL and over HTTP."""

from __future__ import annotations

import pytest

from mloop.errors import InvalidArgument, NotFound, StoreUnavailable, Unauthorized
from mloop.store import HttpStore, SqlStore, Store
from mloop.store._tokens import Role, hash_secret, parse_token


def test_create_list_revoke(store: Store) -> None:
    new = store.create_token("alice", "editor", scopes={"experiments": ["1"]})
    token_id, secret = parse_token(new.token)
    assert token_id == new.info.token_id
    assert new.info.role is Role.EDITOR
    assert new.info.scopes.experiments == ["1"]
    assert new.info.scopes.models is None
    listed = store.list_tokens()
    assert [t.token_id for t in listed] == [token_id]
    assert secret not in repr(listed)
    revoked = store.revoke_token(token_id)
    assert revoked.revoked_at is not None
    assert store.revoke_token(token_id).revoked_at == revoked.revoked_at  # the first time kept
    with pytest.raises(NotFound):
        store.revoke_token("000000000000")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": "", "role": "reader"}, "token name"),
        ({"name": "-x", "role": "reader"}, "token name"),
        ({"name": "a b", "role": "reader"}, "token name"),
        ({"name": "a", "role": "root"}, "role"),
        ({"name": "a", "role": "reader", "scopes": {"inference": ["sudo"]}}, "inference scope"),
        ({"name": "a", "role": "reader", "scopes": {"models": "churn"}}, "scopes.models"),
        ({"name": "a", "role": "reader", "expires_at": -5}, "expires_at"),
    ],
)
def test_bad_tokens_are_refused(store: Store, kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle):
        store.create_token(**kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest) -> SqlStore:
    return request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "pg_store")  # type: ignore[no-any-return]


def test_authenticate(sql_store: SqlStore) -> None:
    now = 1_800_000_000_000
    new = sql_store.create_token("ci", "deployer", expires_at=now + 1000)
    found = sql_store.authenticate(new.token, now=now)
    assert (found.name, found.role) == ("ci", Role.DEPLOYER)
    assert found.last_used_at is None  # recorded as used, after this read
    assert sql_store.list_tokens()[0].last_used_at == now
    _, secret = parse_token(new.token)
    wrong = new.token[:-1] + ("A" if new.token[-1] != "A" else "B")
    for bad in (wrong, "mlp_nothex______", "Bearer " + new.token, ""):
        with pytest.raises(Unauthorized, match="token"):
            sql_store.authenticate(bad, now=now)
    with pytest.raises(Unauthorized, match="unknown, revoked or expired"):
        sql_store.authenticate(new.token, now=now + 1000)
    # Only the hash is stored.
    with sql_store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT secret_sha256 FROM api_tokens").scalar_one()
    assert stored == hash_secret(secret)
    assert secret not in stored


def test_has_valid_admin_token(sql_store: SqlStore) -> None:
    assert not sql_store.has_valid_admin_token()
    sql_store.create_token("r", "reader")
    assert not sql_store.has_valid_admin_token()
    admin = sql_store.create_token("a", "admin", expires_at=2_000)
    assert sql_store.has_valid_admin_token(now=1_000)
    assert not sql_store.has_valid_admin_token(now=2_000)
    sql_store.revoke_token(admin.info.token_id)
    assert not sql_store.has_valid_admin_token(now=1_000)


def test_http_store_asks_the_server_which_vouches_only_with_auth(http_store: HttpStore) -> None:
    # A server started without --auth checks no token, so it vouches for none (with --auth:
    # tests/serve/test_serve_http_tokens.py).
    new = http_store.create_token("x", "reader")
    with pytest.raises(StoreUnavailable, match="runs without --auth, so it vouches for no token"):
        http_store.authenticate(new.token)
