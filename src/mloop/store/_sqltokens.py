"""The token part of ``SqlStore``: API tokens in the ``api_tokens`` table, secrets hashed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from mloop._core import now_ms
from mloop.errors import NotFound
from mloop.store import _schema as t
from mloop.store._sqldb import Database
from mloop.store._tokens import (
    ApiToken,
    NewToken,
    Role,
    TokenScopes,
    hash_secret,
    new_token,
    secret_matches,
)

#: ``last_used_at`` is written at most this often per token (one write a minute, not per call).
LAST_USED_EVERY_MS = 60_000


def _token(row: Mapping[str, Any] | sa.RowMapping) -> ApiToken:
    return ApiToken(
        token_id=row["token_id"],
        name=row["name"],
        role=Role(row["role"]),
        scopes=TokenScopes.model_validate(orjson.loads(row["scopes"])),
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class SqlTokens:
    """API tokens in the database ``db`` (``SqlStore`` delegates to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        name: str,
        role: Role,
        scopes: TokenScopes,
        expires_at: int | None,
        created_by: str,
    ) -> NewToken:
        token_id, secret, token = new_token()
        now = now_ms()
        row = {
            "token_id": token_id,
            "name": name,
            "secret_sha256": hash_secret(secret),
            "role": role.value,
            "scopes": orjson.dumps(scopes.model_dump(mode="json")).decode(),
            "created_at": now,
            "created_by": created_by,
            "expires_at": expires_at,
            "revoked_at": None,
            "last_used_at": None,
        }
        self.db.write("creating a token", lambda conn: conn.execute(sa.insert(t.api_tokens), row))
        return NewToken(token=token, info=_token(row))

    def list(self) -> list[ApiToken]:
        c = t.api_tokens.c
        with self.db.read("listing tokens") as conn:
            rows = conn.execute(sa.select(t.api_tokens).order_by(c.created_at, c.token_id)).all()
        return [_token(r._mapping) for r in rows]

    def revoke(self, token_id: str) -> ApiToken:
        c = t.api_tokens.c

        def fn(conn: sa.Connection) -> ApiToken:
            conn.execute(
                sa.update(t.api_tokens)
                .where(c.token_id == token_id, c.revoked_at.is_(None))
                .values(revoked_at=now_ms())
            )
            row = conn.execute(sa.select(t.api_tokens).where(c.token_id == token_id)).first()
            if row is None:
                raise NotFound(f"no token with id {token_id!r}", details={"token_id": token_id})
            return _token(row._mapping)

        return self.db.write("revoking a token", fn)

    def verify(self, token_id: str, secret: str, now: int) -> ApiToken | None:
        c = t.api_tokens.c
        with self.db.read("checking a token") as conn:
            row = conn.execute(sa.select(t.api_tokens).where(c.token_id == token_id)).first()
        if row is None or not secret_matches(secret, row.secret_sha256):
            return None
        found = _token(row._mapping)
        if found.is_valid(now) and (
            row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY_MS
        ):
            self.db.write(
                "recording a token's use",
                lambda conn: conn.execute(
                    sa.update(t.api_tokens).where(c.token_id == token_id).values(last_used_at=now)
                ),
            )
        return found

    def has_valid_admin(self, now: int) -> bool:
        c = t.api_tokens.c
        with self.db.read("looking for an admin token") as conn:
            rows = conn.execute(
                sa.select(c.expires_at).where(c.role == Role.ADMIN.value, c.revoked_at.is_(None))
            ).all()
        return any(r.expires_at is None or now < r.expires_at for r in rows)
