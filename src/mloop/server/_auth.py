"""Who may call what: the one role table and the one dependency that enforces it.

``create_app`` installs :func:`authorize` as a dependency of the whole application, so every
route, including routes added later by any module, is checked. The role a route needs is
:func:`required_role` of its method and path template: the first matching rule of
:data:`RULES` (public pages, reads that travel as POST, alias moves, deletions, tokens), else
the default by method (``GET``/``HEAD``: reader; any write: editor). A test walks every route
of the application and asserts that each resolves to a role.

With auth off (a local, unshared server) every request is served, and the identity is
``unverified:<the name the client sent>`` so the audit log never presents an unchecked name as
an identity. With auth on, a missing or unknown token is 401 with ``WWW-Authenticate: Bearer``
and a token without the role is 403, both in the one error shape.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from mloop._web._bearer import TokenCache, bearer_token
from mloop._web._errors import ERROR_RESPONSES
from mloop.errors import Forbidden, NotFound, RunNotFound
from mloop.store import Store
from mloop.store._tokens import ApiToken, NewToken, Role, TokenScopes

__all__ = [
    "PUBLIC",
    "RULES",
    "AuthConfig",
    "Identity",
    "IdentityDep",
    "Rule",
    "actor_of",
    "authorize",
    "check_run_scope",
    "required_role",
    "router",
    "scoped_experiment_ids",
]

#: What a route needs when anyone may call it (health, docs, the UI's static files).
PUBLIC: Final = "public"
Need = Role | Literal["public"]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ALL = _READS | _WRITES
_MLFLOW = "/api/2.0/mlflow"
_MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts"


@dataclass(frozen=True)
class Rule:
    """Requests whose method is in ``methods`` and whose route path template matches the
    glob ``path`` need ``need``."""

    methods: frozenset[str]
    path: str
    need: Need

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and fnmatch.fnmatchcase(path, self.path)


def _rule(methods: frozenset[str] | str, path: str, need: Need) -> Rule:
    return Rule(frozenset({methods}) if isinstance(methods, str) else methods, path, need)


#: The explicit table, first match wins; anything not here takes the default by method.
RULES: tuple[Rule, ...] = (
    # Open to anyone: health, metrics for scrapers, the API's own description, the UI's files
    # (they hold no data; the data comes from /api/v1 with the user's token).
    _rule(_READS, "/healthz", PUBLIC),
    _rule(_READS, "/metrics", PUBLIC),
    _rule(_READS, "/openapi.json", PUBLIC),
    _rule(_READS, "/docs", PUBLIC),
    _rule(_READS, "/docs/*", PUBLIC),
    _rule(_READS, "/redoc", PUBLIC),
    _rule(_READS, "/", PUBLIC),
    _rule(_READS, "/ui", PUBLIC),
    _rule(_READS, "/ui/*", PUBLIC),
    # Tokens: admins only, reads included (a list of who holds which role).
    _rule(_ALL, "/api/v1/auth/tokens*", Role.ADMIN),
    # Reads that travel as POST (a filter or a column list in the body).
    _rule("POST", "/api/v1/runs/search", Role.READER),
    _rule("POST", "/api/v1/runs/table", Role.READER),
    _rule("POST", "/api/v1/runs/keys", Role.READER),
    _rule("POST", "/api/v1/runs/series", Role.READER),
    _rule("POST", "/api/v1/metrics/histories", Role.READER),
    _rule("POST", "/api/v1/views/*", Role.READER),
    _rule("POST", f"{_MLFLOW}/*/search", Role.READER),
    _rule("POST", f"{_MLFLOW}/registered-models/get-latest-versions", Role.READER),
    # What changes what is served: aliases, deployments, promotions, stages, loops.
    _rule(_WRITES, "/api/v1/registered-models/*/aliases/*", Role.DEPLOYER),
    _rule(_WRITES, "/api/v1/deployments*", Role.DEPLOYER),
    _rule(_WRITES, "/api/v1/registered-models/*/deployment", Role.DEPLOYER),
    _rule(_WRITES, "*/promote", Role.DEPLOYER),
    _rule(_WRITES, "*/promote/*", Role.DEPLOYER),
    _rule(_WRITES, "/api/v1/loops*", Role.DEPLOYER),
    _rule(_WRITES, f"{_MLFLOW}/registered-models/alias", Role.DEPLOYER),
    _rule(_WRITES, f"{_MLFLOW}/model-versions/transition-stage", Role.DEPLOYER),
    # Tags are removed by editors (they write them too).
    _rule("DELETE", "*/tags/*", Role.EDITOR),
    _rule(_WRITES, f"{_MLFLOW}/*/delete-tag", Role.EDITOR),
    # Deletion and restore, and ending other people's runs: admins.
    _rule("POST", "/api/v1/runs/sweep", Role.ADMIN),
    _rule("DELETE", "*", Role.ADMIN),
    _rule(_WRITES, "*/restore", Role.ADMIN),
    _rule(_WRITES, f"{_MLFLOW}/*/delete", Role.ADMIN),
)


def required_role(method: str, path: str) -> Need:
    """The role a request of ``method`` on the route template ``path`` needs."""
    for rule in RULES:
        if rule.matches(method, path):
            return rule.need
    return Role.READER if method in _READS else Role.EDITOR


@dataclass
class AuthConfig:
    """``app.state.auth``: whether tokens are required, and the cache that checks them."""

    enabled: bool = False
    cache: TokenCache | None = None
    #: ``/metrics`` needs a reader token too (it is open to scrapers otherwise).
    metrics_auth: bool = False
    clock: Callable[[], float] = field(default=time.time)


class Identity(BaseModel):
    """Who makes a request: a token's identity, or an unverified local caller."""

    name: str = Field(description="the identity recorded as the actor")
    role: Role
    scopes: TokenScopes = Field(default_factory=TokenScopes)
    token_id: str | None = None
    expires_at: int | None = Field(default=None, description="ms since epoch; None: never")
    authenticated: bool = False


#: With auth off, every caller may do everything; the actor says the name is unverified.
LOCAL = Identity(name="", role=Role.ADMIN)


def route_path(scope: Any) -> str:
    """The path template of the route a request matched, every include prefix included
    (``/api/v1/runs/{run_id}``); the request's path when no route is known."""
    # FastAPI keeps the router's own route in scope["route"], whose path lacks the prefixes
    # given to include_router(); the effective route context has the full template.
    try:
        from fastapi.routing import _get_scope_effective_route_context
    except ImportError:  # another FastAPI: the route's own path
        context = None
    else:
        context = _get_scope_effective_route_context(scope)
    for holder in (context, scope.get("route")):
        path = getattr(holder, "path", None)
        if isinstance(path, str) and path:
            return path
    return str(scope.get("path", ""))


def _route_path(request: Request) -> str:
    return route_path(request.scope)


async def authorize(request: Request) -> None:
    """The application-wide dependency: checks the token and the role of every request.

    Async, so that it runs on the event loop: a cached token costs a dictionary lookup and no
    thread hop; only a token not seen in the last 30 s is checked in the store, in a thread."""
    config: AuthConfig = request.app.state.auth
    need = required_role(request.method, _route_path(request))
    if not config.enabled:
        request.state.identity = LOCAL
        return
    if need == PUBLIC and not (config.metrics_auth and _route_path(request) == "/metrics"):
        return
    if need == PUBLIC:
        need = Role.READER
    assert config.cache is not None
    given = bearer_token(request.headers.get("authorization"))
    token = config.cache.cached(given)
    if token is None:
        token = await run_in_threadpool(config.cache.authenticate, given)
    if not token.role.allows(Role(need)):
        raise Forbidden(
            f"token {token.token_id} ({token.name}) has role {token.role.value}; "
            f"{request.method} {_route_path(request)} needs {need}",
            details={"role": token.role.value, "needed": str(need)},
        )
    identity = Identity(
        name=token.name,
        role=token.role,
        scopes=token.scopes,
        token_id=token.token_id,
        expires_at=token.expires_at,
        authenticated=True,
    )
    request.state.identity = identity
    run_id = request.path_params.get("run_id")
    if (
        identity.scopes.experiments is not None
        and isinstance(run_id, str)
        and _route_path(request).startswith("/api/v1/")
    ):
        store: Store = request.app.state.store
        await run_in_threadpool(check_run_scope, identity, store, run_id)


def identity_of(request: Request) -> Identity:
    """The identity :func:`authorize` found (the local one on a public route)."""
    found = getattr(request.state, "identity", None)
    return found if isinstance(found, Identity) else LOCAL


async def _identity(request: Request) -> Identity:
    return identity_of(request)  # async: no thread hop for a dictionary read


IdentityDep = Annotated[Identity, Depends(_identity)]


def actor_of(identity: Identity, claimed: str) -> str:
    """The actor to record: the authenticated identity, never a name from the request; with
    auth off, ``unverified:<claimed>``."""
    if identity.authenticated:
        return identity.name
    return f"unverified:{claimed}" if claimed else "unverified:"


def check_experiment_scope(identity: Identity, experiment_id: str) -> None:
    """404 (not 403) for an experiment outside the token's scopes."""
    if not identity.scopes.allows_experiment(str(experiment_id)):
        raise NotFound(
            f"no experiment with id {experiment_id!r}", details={"experiment_id": experiment_id}
        )


def check_run_scope(identity: Identity, store: Store, run_id: str) -> None:
    """404 (as for a run that does not exist) for a run of an experiment outside the token's
    scopes; a run that does not exist is the store's own 404."""
    if identity.scopes.experiments is None:
        return
    experiment_id = store.get_run(run_id).info.experiment_id
    if not identity.scopes.allows_experiment(experiment_id):
        raise RunNotFound(f"no run with id {run_id!r}", details={"run_id": run_id})


def scoped_experiment_ids(identity: Identity, asked: list[str]) -> list[str] | None:
    """The experiments a search over ``asked`` (every one when empty) may read: ``asked`` for
    an unscoped token, else those of the token's scopes; ``None`` when that leaves none."""
    allowed = identity.scopes.experiments
    if allowed is None:
        return asked
    ids = [i for i in asked if i in allowed] if asked else list(allowed)
    return ids or None


def check_model_scope(identity: Identity, name: str) -> None:
    """404 (not 403, so scopes do not leak names) for a model outside the token's scopes."""
    if not identity.scopes.allows_model(name):
        raise NotFound(f"no registered model named {name!r}", details={"name": name})


# -- routes: who am I, tokens -------------------------------------------------------------------

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=ERROR_RESPONSES)


class WhoAmI(BaseModel):
    name: str
    role: Role
    scopes: TokenScopes
    auth_enabled: bool
    token_id: str | None = Field(default=None, description="the token's public id (--auth)")
    expires_at: int | None = Field(default=None, description="ms since epoch; None: never")


@router.get("/whoami")
def whoami(request: Request, identity: IdentityDep) -> WhoAmI:
    """The caller's identity, role and scopes; ``auth_enabled: false`` on a server without
    ``--auth`` (where every caller may do everything). ``mloop serve --auth`` on a tracking
    URI that is this server checks the tokens presented to it here."""
    config: AuthConfig = request.app.state.auth
    return WhoAmI(
        name=identity.name,
        role=identity.role,
        scopes=identity.scopes,
        auth_enabled=config.enabled,
        token_id=identity.token_id,
        expires_at=identity.expires_at,
    )


class CreateTokenBody(BaseModel):
    name: str = Field(description="the identity the token acts as", examples=["ci-churn"])
    role: Role
    scopes: TokenScopes = Field(default_factory=TokenScopes)
    expires_at: int | None = Field(default=None, ge=1, lt=2**63, description="ms since epoch")


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@router.post("/tokens", status_code=201)
def create_token(body: CreateTokenBody, request: Request, identity: IdentityDep) -> NewToken:
    """Create a token; the answer holds the whole token, shown only this once."""
    return _store(request).create_token(
        body.name,
        body.role,
        scopes=body.scopes,
        expires_at=body.expires_at,
        created_by=actor_of(identity, ""),
    )


@router.get("/tokens")
def list_tokens(request: Request) -> list[ApiToken]:
    """Every token, oldest first; never a secret."""
    return _store(request).list_tokens()


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, request: Request) -> ApiToken:
    """Revoke a token (servers that cached it refuse it within 30 s)."""
    return _store(request).revoke_token(token_id)
