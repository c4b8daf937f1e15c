"""``mloop serve --auth``: bearer tokens with inference scopes on the inference server.

Predictions and model metadata need a token with the ``predict`` scope, ``POST /v1/feedback``
one with ``feedback``; health (``/healthz``, ``/readyz``, ``/v2/health/*``) and the API's
description stay open, and ``/metrics`` too unless ``metrics_auth``. A token scoped to models
may call only those. Tokens are checked against the metadata store the server follows, through
a cache (:class:`~mloop._web._bearer.TokenCache`): a revoked token is refused within 30 s, and
the hot path costs a dictionary lookup.

The check is a pure ASGI middleware, outermost, so it runs before the predict fast path.
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mloop._web._bearer import TokenCache, bearer_token
from mloop._web._errors import error_response, status_for
from mloop.errors import Forbidden, MloopError
from mloop.store._tokens import ApiToken

__all__ = ["ServeAuth", "needed_scope"]

_OPEN = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect"})


def needed_scope(method: str, path: str, *, metrics_auth: bool = False) -> str | None:
    """The inference scope a request needs (``None``: open to anyone; ``""``: any valid
    token)."""
    if path in _OPEN or path.startswith("/v2/health/"):
        return None
    if path == "/metrics":
        return "" if metrics_auth else None
    if path == "/v1/feedback":
        return "feedback"
    return "predict"


def _model_of(path: str) -> str | None:
    for prefix in ("/v1/models/", "/v2/models/"):
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            return rest.split("/", 1)[0].split(":", 1)[0] or None
    return None


class ServeAuth:
    """The token check of ``mloop serve --auth`` (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, cache: TokenCache, metrics_auth: bool = False) -> None:
        self.app = app
        self.cache = cache
        self.metrics_auth = metrics_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        scope_needed = needed_scope(scope["method"], path, metrics_auth=self.metrics_auth)
        if scope_needed is not None:
            try:
                self._check(await self._token(scope), scope_needed, path)
            except MloopError as exc:
                status = status_for(type(exc))
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                response = error_response(status, exc.code, exc.message, exc.details, headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _token(self, scope: Scope) -> ApiToken:
        token = bearer_token(Headers(scope=scope).get("authorization"))
        hit = self.cache.cached(token)
        if hit is not None:
            return hit
        return await asyncio.to_thread(self.cache.authenticate, token)

    @staticmethod
    def _check(token: ApiToken, needed: str, path: str) -> None:
        if needed and needed not in token.scopes.inference:
            raise Forbidden(
                f"token {token.token_id} ({token.name}) lacks the {needed!r} scope: create one "
                f"with mloop token create NAME --scope {needed}",
                details={"needed": needed},
            )
        model = _model_of(path)
        if model is not None and not token.scopes.allows_model(model):
            raise Forbidden(
                f"token {token.token_id} ({token.name}) may not call model {model!r}",
                details={"model": model},
            )
