"""The FastAPI application: ``create_app(store)``."""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from mloop._core import Settings
from mloop._web._bearer import TokenCache
from mloop._web._errors import (
    ERROR_RESPONSES,
    document_method_not_allowed,
    install_error_handlers,
)
from mloop.server import (
    _auth,
    _datasets,
    _docs,
    _genai_api,
    _loop_api,
    _metrics,
    _previews,
    _registry,
    _tracking,
    _tune,
    _ui,
    _views,
)
from mloop.server._metrics import ServerMetrics
from mloop.server._middleware import RequestMiddleware
from mloop.server._mlflow import include_mlflow_api
from mloop.store import Store

#: Request bodies above this many bytes are refused with 413 (artifact uploads are exempt: they
#: are streamed to the store, never held in memory).
DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024


def _version() -> str:
    try:
        return importlib.metadata.version("mloop")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class Health(BaseModel):
    status: str


def _check_store(store: Store) -> None:
    # The Store interface has no health check: look up a name that normally does not exist,
    # one indexed query that fails with StoreUnavailable when the database is gone.
    store.ping()


def create_app(
    store: Store,
    *,
    settings: Settings | None = None,
    max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
    auth: bool = False,
    metrics_auth: bool = False,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The REST server of ``store``.

    Args:
        store: where the data lives (kept on ``app.state.store``; it must be thread-safe).
        settings: kept on ``app.state.settings`` for routes that need configuration.
        max_body_size: the largest request body in bytes (``None``: no limit); artifact uploads
            are streamed and exempt.
        auth: require a bearer token with the route's role on every request but health, docs
            and the UI's static files (see :mod:`mloop.server._auth`).
        metrics_auth: with ``auth``, ``/metrics`` needs a reader token too.
        clock: seconds since the epoch, for token expiry.

    Example::

        app = create_app(SqlStore("sqlite:///mloop.db", "./artifacts"))
        uvicorn.run(app)
    """
    app = FastAPI(
        title="mloop",
        version=_version(),
        description=(
            "The mloop REST API under /api/v1; MLflow's REST API under /api/2.0/mlflow; "
            "the web UI under /ui/."
        ),
        # Served by _docs from the package's own copies, not FastAPI's CDN.
        docs_url=None,
        redoc_url=None,
        # One dependency for every route, those added later included: the role table.
        dependencies=[Depends(_auth.authorize)],
    )
    app.state.auth = _auth.AuthConfig(
        enabled=auth,
        cache=TokenCache(store, clock=clock) if auth else None,
        metrics_auth=metrics_auth,
        clock=clock,
    )
    metrics = ServerMetrics()
    app.state.store = store
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    # The MLflow-compatible routes answer a wrong method as MLflow does (404
    # ENDPOINT_NOT_FOUND); every other path answers 405 with Allow, as its spec says.
    document_method_not_allowed(app, exclude=("/api/2.0/",))
    app.add_middleware(RequestMiddleware, metrics=metrics, max_body_size=max_body_size)

    @app.get("/healthz", tags=["operations"], responses={503: ERROR_RESPONSES[503]})
    def healthz(request: Request) -> Health:
        """``ok`` when the server can reach its store."""
        _check_store(request.app.state.store)
        return Health(status="ok")

    app.include_router(_metrics.router)
    app.include_router(_auth.router)
    app.include_router(_tracking.router)
    app.include_router(_registry.router)
    app.include_router(_loop_api.router)
    app.include_router(_datasets.router)
    app.include_router(_tune.router)
    app.include_router(_genai_api.router)
    app.include_router(_views.router)
    app.include_router(_previews.router)
    include_mlflow_api(app)
    app.include_router(_ui.router)
    app.include_router(_docs.router)
    return app
