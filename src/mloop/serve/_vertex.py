"""The Vertex AI custom-container contract: the routes Vertex AI calls on ``mloop serve``.

Vertex AI starts the container with ``AIP_HTTP_PORT`` (where to listen), ``AIP_HEALTH_ROUTE``
(polled with GET; 200 once the model answers) and ``AIP_PREDICT_ROUTE`` (POST
``{"instances": [...], "parameters": {...}}``, answered ``{"predictions": [...]}``). ``mloop
serve`` reads them at startup (see ``mloop.cli``) and adds these two routes for its first
served model; the predict route goes through the same batching, validation, metrics and
prediction log as ``/v1/models/{name}:predict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from fastapi import Request
from starlette.responses import Response

from mloop._web._errors import JsonResponse
from mloop._web._request_id import REQUEST_ID_HEADER, request_id_of
from mloop.errors import InvalidArgument

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from fastapi import FastAPI


class _Server(Protocol):
    """What the Vertex routes need of the serve app's server (``serve._app._Server``)."""

    @property
    def slots(self) -> Mapping[str, Any]: ...

    @property
    def ready(self) -> bool: ...

    async def body(self, request: Request) -> bytes: ...

    async def infer(
        self,
        name: str,
        v2: bool,
        request_id: str,
        read_body: Callable[[], Awaitable[bytes]],
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> Response: ...


__all__ = ["VertexRoutes", "add_vertex_routes"]


@dataclass(frozen=True)
class VertexRoutes:
    """Where Vertex AI checks health and sends predictions (``AIP_HEALTH_ROUTE``,
    ``AIP_PREDICT_ROUTE``)."""

    health_route: str
    predict_route: str

    def __post_init__(self) -> None:
        for what, route in (("health", self.health_route), ("predict", self.predict_route)):
            if not isinstance(route, str) or not route.startswith("/") or " " in route:
                raise InvalidArgument(
                    f"the Vertex AI {what} route must be a path starting with '/', got {route!r}"
                )
        if self.health_route == self.predict_route:
            raise InvalidArgument("the Vertex AI health and predict routes must differ")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VertexRoutes | None:
        """The routes ``AIP_HEALTH_ROUTE`` and ``AIP_PREDICT_ROUTE`` name, or None when the
        process does not run under Vertex AI (neither is set)."""
        health, predict = env.get("AIP_HEALTH_ROUTE"), env.get("AIP_PREDICT_ROUTE")
        if not health and not predict:
            return None
        if not health or not predict:
            missing = "AIP_PREDICT_ROUTE" if health else "AIP_HEALTH_ROUTE"
            raise InvalidArgument(
                f"{missing} is not set: Vertex AI sets AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE "
                "together"
            )
        return cls(health, predict)


def add_vertex_routes(app: FastAPI, server: _Server, routes: VertexRoutes) -> None:
    """Add the Vertex AI health and predict routes to the serve app of ``server``."""
    name = next(iter(server.slots))

    async def health() -> Response:
        ready = server.ready
        return JsonResponse({"ready": ready}, status_code=200 if ready else 503)

    async def predict(request: Request) -> Response:
        body = await server.body(request)
        try:
            decoded = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            decoded = None  # the predict path answers the parse error in the usual shape
        if isinstance(decoded, dict) and "instances" not in decoded:
            raise InvalidArgument(
                'a Vertex AI prediction request is {"instances": [...]}; '
                f"got the keys {', '.join(sorted(decoded)) or 'none'}"
            )

        async def read() -> bytes:
            return body

        answer = await server.infer(
            name,
            False,
            request_id_of(request.headers.get(REQUEST_ID_HEADER)),
            read,
            request.scope["headers"],
        )
        if answer.status_code != 200:
            return answer
        content = orjson.loads(answer.body)
        headers = {"x-request-id": answer.headers.get("x-request-id", "")}
        model = content.get("model") or {}
        if model.get("version") is not None:
            headers["x-mloop-model-version"] = str(model["version"])
        return JsonResponse({"predictions": content["predictions"]}, headers=headers)

    app.add_api_route(
        routes.health_route,
        health,
        methods=["GET"],
        tags=["vertex ai"],
        summary="Vertex AI health check (AIP_HEALTH_ROUTE)",
    )
    app.add_api_route(
        routes.predict_route,
        predict,
        methods=["POST"],
        tags=["vertex ai"],
        summary="Vertex AI prediction (AIP_PREDICT_ROUTE)",
    )
