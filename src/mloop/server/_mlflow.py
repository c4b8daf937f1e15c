"""The MLflow-compatible API: MLflow's tracking, registry and artifact-proxy REST endpoints on
mloop's store, so MLflow clients log to and load from an ``mloop server`` unchanged
(``MLFLOW_TRACKING_URI=http://host:port``). See ``docs/mlflow.md`` for what is covered."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from mloop.server import _mlflow_artifacts, _mlflow_registry, _mlflow_tracking
from mloop.server._mlflow_common import MLFLOW_ERROR_RESPONSES, PREFIX, MlflowRoute, mlflow_error

_fallback = APIRouter(prefix=PREFIX, route_class=MlflowRoute, responses=MLFLOW_ERROR_RESPONSES)


@_fallback.api_route(
    "/{rest:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"], include_in_schema=False
)
def unknown_endpoint(rest: str, request: Request) -> Response:
    """An MLflow endpoint mloop does not offer: MLflow's own error, not mloop's 404."""
    return mlflow_error(
        "ENDPOINT_NOT_FOUND",
        f"mloop does not offer {request.method} {request.url.path}; docs/mlflow.md lists the "
        "MLflow endpoints it answers",
    )


def include_mlflow_api(app: FastAPI) -> None:
    """Add the MLflow-compatible routes to ``app`` (the fallback last, so it matches only what
    no other route does)."""
    app.include_router(_mlflow_tracking.router)
    app.include_router(_mlflow_registry.router)
    app.include_router(_mlflow_artifacts.router)
    app.include_router(_fallback)
