"""The request middleware (pure ASGI, so streamed bodies pass through untouched): request id,
body size limit, one JSON log line and Prometheus metrics per request, and the last-resort
answer to unexpected exceptions."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mloop._web._errors import BodyTooLarge, internal_error_response
from mloop._web._request_id import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from mloop.server._metrics import UNMATCHED, ServerMetrics

logger = logging.getLogger("mloop.server")

#: Scope key holding the body limit in bytes for this request; a route that streams its
#: body (artifact upload) sets it to ``None`` before reading.
BODY_LIMIT_KEY = "mloop.max_body_size"


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None


def lift_body_limit(scope: Scope) -> None:
    """Let this request's body be of any size (the route streams it rather than holding it)."""
    scope[BODY_LIMIT_KEY] = None


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics, max_body_size: int | None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = Headers(scope=scope)
        given = headers.get(REQUEST_ID_HEADER)
        request_id = given if given and REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        scope[BODY_LIMIT_KEY] = self.max_body_size

        status = 500
        started = False
        received = 0
        checked_length = False

        async def limited_receive() -> Message:
            nonlocal received, checked_length
            limit = scope.get(BODY_LIMIT_KEY)
            if limit is not None and not checked_length:
                checked_length = True
                length = headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > limit:
                    raise BodyTooLarge(limit)
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception as exc:
            if started:  # a streamed response broke half-way: nothing left to answer with
                logger.exception("response to request %s failed after it started", request_id)
                raise
            response = internal_error_response(exc, request_id)
            await response(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - start
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.observe(method, route, status, seconds)
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    orjson.dumps(
                        {
                            "event": "request",
                            "method": method,
                            "route": route,
                            "path": scope.get("path", ""),
                            "status": status,
                            "duration_ms": round(seconds * 1000, 3),
                            "request_id": request_id,
                        }
                    ).decode()
                )


def _route_template(scope: Scope) -> str:
    # path_format drops convertors: "/runs/{run_id}/artifacts/{path}", not "{path:path}"
    route: Any = scope.get("route")
    path = getattr(route, "path_format", None)
    return path if isinstance(path, str) else UNMATCHED
