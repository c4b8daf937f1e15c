"""API tokens: who may call a shared server, with which role and scopes.

A token is ``mlp_<id>_<secret>``: ``id`` is 12 hex characters (public, it finds the row) and
``secret`` 32 random bytes (``secrets.token_urlsafe``). Only ``sha256(secret)`` is stored: the
secret has 256 bits of entropy, so a slow hash would buy nothing. The whole token is shown once,
when it is created, and never logged (log lines carry the token id).

Roles are ordered, each including the ones before it: ``reader < editor < deployer < admin``.
Resource scopes narrow a token to experiments (``experiments``) or registered models
(``models``); inference scopes (``predict``, ``feedback``) are what ``mloop serve --auth`` asks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mloop._core import now_ms
from mloop.errors import InvalidArgument, Unauthorized
from mloop.store._checks import check_text

__all__ = [
    "INFERENCE_SCOPES",
    "ApiToken",
    "NewToken",
    "Role",
    "TokenScopes",
    "TokenStore",
    "hash_secret",
    "new_token",
    "parse_token",
]

_TOKEN = re.compile(r"^mlp_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@\-]{0,127}$")
#: The scopes ``mloop serve --auth`` checks; a token with them needs no role on the server.
INFERENCE_SCOPES = frozenset({"predict", "feedback"})
_MAX_SCOPED = 1_000


class Role(StrEnum):
    """What a token may do; each role includes the ones before it."""

    READER = "reader"
    EDITOR = "editor"
    DEPLOYER = "deployer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """True when this role includes ``needed``."""
        return self.rank >= needed.rank


_RANKS = {role: i for i, role in enumerate(Role)}


class TokenScopes(BaseModel):
    """What narrows a token. ``None`` for a resource list means no narrowing (every
    experiment, every model); an empty list means none at all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    experiments: list[str] | None = None
    models: list[str] | None = None
    inference: list[str] = Field(default_factory=list, description="predict, feedback")

    def allows_experiment(self, experiment_id: str) -> bool:
        return self.experiments is None or experiment_id in self.experiments

    def allows_model(self, name: str) -> bool:
        return self.models is None or name in self.models


class ApiToken(BaseModel):
    """A stored token, never its secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_id: str
    name: str = Field(description="the identity the token acts as (the audit log's actor)")
    role: Role
    scopes: TokenScopes = Field(default_factory=TokenScopes)
    created_at: int
    created_by: str = ""
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None

    def is_valid(self, now: int) -> bool:
        """Not revoked and not expired at ``now`` (milliseconds)."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class NewToken(BaseModel):
    """A token just created: the record and the whole token, shown this once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str
    info: ApiToken


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh ``(token_id, secret, token)``."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"mlp_{token_id}_{secret}"


def parse_token(token: str) -> tuple[str, str]:
    """``(token_id, secret)`` of a token string.

    Raises:
        Unauthorized: it is not of the form ``mlp_<id>_<secret>``.
    """
    match = _TOKEN.match(token)
    if match is None:
        raise Unauthorized("the token is malformed: expected mlp_<id>_<secret>")
    return match.group(1), match.group(2)


def secret_matches(secret: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_sha256)


def validate_token_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(
            f"token name {name!r:.80} must be 1-128 letters, digits or '_ . @ -', "
            "not starting with '.', '@' or '-' (it names the identity in the audit log)"
        )
    return name


def validate_role(role: Any) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidArgument(
            f"role {role!r:.40} is not one of {', '.join(r.value for r in Role)}"
        ) from None


def _check_list(values: Sequence[str] | None, what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or len(values) > _MAX_SCOPED:
        raise InvalidArgument(f"{what} must be a list of at most {_MAX_SCOPED} names")
    return [check_text(v, what, 256) for v in values]


def validate_scopes(scopes: TokenScopes | dict[str, Any] | None) -> TokenScopes:
    if scopes is None:
        return TokenScopes()
    if isinstance(scopes, dict):
        try:
            scopes = TokenScopes.model_validate(scopes)
        except ValidationError as exc:
            problems = "; ".join(
                f"scopes.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidArgument(f"invalid token scopes: {problems}") from None
    unknown = set(scopes.inference) - INFERENCE_SCOPES
    if unknown:
        raise InvalidArgument(
            f"unknown inference scope(s) {sorted(unknown)}: use {sorted(INFERENCE_SCOPES)}"
        )
    return TokenScopes(
        experiments=_check_list(scopes.experiments, "experiment scope"),
        models=_check_list(scopes.models, "model scope"),
        inference=sorted(set(scopes.inference)),
    )


class TokenStore(ABC):
    """The token half of the ``Store`` interface."""

    def create_token(
        self,
        name: str,
        role: Role | str,
        *,
        scopes: TokenScopes | dict[str, Any] | None = None,
        expires_at: int | None = None,
        created_by: str = "",
    ) -> NewToken:
        """Create a token for identity ``name``; the returned ``token`` is shown only now.

        Args:
            name: the identity the token acts as (``alice``, ``ci-churn``).
            role: ``reader``, ``editor``, ``deployer`` or ``admin``.
            scopes: experiments and models it is limited to, inference scopes.
            expires_at: milliseconds since the epoch after which it is refused.
            created_by: who created it (the admin's identity).

        Example::

            new = store.create_token("ci-churn", "editor", scopes={"models": ["churn"]})
            print(new.token)  # once
        """
        if expires_at is not None and (isinstance(expires_at, bool) or expires_at <= 0):
            raise InvalidArgument("expires_at must be a positive time in milliseconds")
        return self._create_token(
            validate_token_name(name),
            validate_role(role),
            validate_scopes(scopes),
            expires_at,
            check_text(created_by, "created_by", 256),
        )

    def list_tokens(self) -> list[ApiToken]:
        """Every token (revoked and expired ones too), oldest first; never a secret."""
        return self._list_tokens()

    def revoke_token(self, token_id: str) -> ApiToken:
        """Revoke a token at once; revoking twice keeps the first time.

        Raises:
            NotFound: no token with that id.
        """
        return self._revoke_token(check_text(token_id, "token id", 64))

    def authenticate(self, token: str, *, now: int | None = None) -> ApiToken:
        """The token record behind ``token`` when it is valid at ``now`` (ms; default: now).

        Raises:
            Unauthorized: malformed, unknown, wrong secret, revoked or expired (one message,
                so a caller learns nothing about which).
        """
        token_id, secret = parse_token(token)
        at = now_ms() if now is None else now
        found = self._verify_token(token_id, secret, at)
        if found is None or not found.is_valid(at):
            raise Unauthorized("the token is unknown, revoked or expired")
        return found

    @abstractmethod
    def _create_token(
        self,
        name: str,
        role: Role,
        scopes: TokenScopes,
        expires_at: int | None,
        created_by: str,
    ) -> NewToken: ...

    @abstractmethod
    def _list_tokens(self) -> list[ApiToken]: ...

    @abstractmethod
    def _revoke_token(self, token_id: str) -> ApiToken: ...

    @abstractmethod
    def _verify_token(self, token_id: str, secret: str, now: int) -> ApiToken | None:
        """The record when the secret matches (validity is checked by the caller)."""
