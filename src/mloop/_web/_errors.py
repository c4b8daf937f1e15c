"""Errors to HTTP, in one place: the status table, the JSON error shape and the handlers.

Every error response has one shape::

    {"error": {"code": "RUN_NOT_FOUND", "message": "no run with id '...'", "details": null}}

Domain code never sees a status code; this module is the only one that picks them.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from mloop.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidArgument,
    MloopError,
    NotFound,
    PayloadTooLarge,
    ServerBusy,
    StoreUnavailable,
    Unauthorized,
)

logger = logging.getLogger("mloop.server")

#: The one table. An error's status is that of the first class of its MRO found here, so a
#: specific class (``PayloadTooLarge``) wins over its base (``InvalidArgument``).
STATUS_BY_ERROR: dict[type[MloopError], int] = {
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    PayloadTooLarge: 413,
    InvalidArgument: 422,
    Unauthorized: 401,
    Forbidden: 403,
    StoreUnavailable: 503,
    ServerBusy: 503,
    MloopError: 500,
}

#: Codes of errors that do not come from an ``MloopError`` (framework errors, crashes).
INTERNAL_ERROR = "INTERNAL_ERROR"
_CODE_BY_STATUS = {
    400: InvalidArgument.code,
    401: Unauthorized.code,
    403: Forbidden.code,
    404: NotFound.code,
    405: "METHOD_NOT_ALLOWED",
    409: Conflict.code,
    413: PayloadTooLarge.code,
    422: InvalidArgument.code,
    503: StoreUnavailable.code,
}


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorInfo


def _described(text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


#: For ``responses=`` of routes, so OpenAPI documents the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _described("Not found (an unknown id, name or route)"),
    422: _described("Invalid argument (a bad name, value, filter or body)"),
    500: _described("Internal error; details.error_id names it in the server log"),
    503: _described("The store is unavailable, or the server is busy; retrying may help"),
    401: _described("No token, or an unknown, revoked or expired one (servers with --auth)"),
    403: _described("The token's role does not allow this (servers with --auth)"),
}
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
#: ``ERROR_RESPONSES`` for routes whose success is not JSON (files): FastAPI would document
#: their errors in the success's media type; errors are JSON whatever the route.
FILE_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": entry["description"],
        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
    }
    for status, entry in ERROR_RESPONSES.items()
}
CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: _described("Conflict with stored data (a taken name, a param with another value)")
}
TOO_LARGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    413: _described("The request body is over the server's limit")
}


def status_for(error: type[BaseException]) -> int:
    """The HTTP status of an error class (500 for anything unknown)."""
    for cls in error.__mro__:
        status = STATUS_BY_ERROR.get(cls)  # type: ignore[call-overload]
        if status is not None:
            return status
    return 500


class BodyTooLarge(HTTPException):
    """Raised while a request body is read past its limit (an ``HTTPException`` so that
    FastAPI's body reading lets it through unchanged)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")
        self.limit = limit


class JsonResponse(Response):
    """A JSON response serialized with orjson (numpy arrays allowed; NaN must be encoded by
    the caller, as orjson would write ``null``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JsonResponse:
    content = {"error": {"code": code, "message": message, "details": details}}
    try:
        return JsonResponse(content, status_code=status, headers=headers)
    except TypeError:
        # A message that quotes bad input (a lone surrogate, an integer past 64 bits): JSON
        # text with every non-ASCII character escaped can say it; orjson cannot.
        return _AsciiJsonResponse(content, status_code=status, headers=headers)


class _AsciiJsonResponse(JsonResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, default=repr).encode()


def internal_error_response(exc: BaseException, request_id: str | None) -> JsonResponse:
    """Log ``exc`` with its traceback under a new error id; answer 500 with that id only."""
    error_id = uuid.uuid4().hex
    logger.error(
        "unhandled error %s (request %s): %s: %s",
        error_id,
        request_id,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    return error_response(
        500,
        INTERNAL_ERROR,
        f"internal server error; quote error id {error_id} to the server's operator",
        {"error_id": error_id, "request_id": request_id},
    )


def _jsonable(details: Any) -> Any:
    # Details come from domain code; anything orjson cannot write is sent as its repr.
    try:
        orjson.dumps(details)
    except TypeError:
        return repr(details)
    return details


async def _mloop_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MloopError)
    status = status_for(type(exc))
    if status >= 500:  # the server's own trouble: the operator needs the traceback
        logger.error(
            "%s on %s %s: %s",
            exc.code,
            request.method,
            request.url.path,
            exc.message,
            exc_info=exc,
        )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, exc.code, exc.message, _jsonable(exc.details), headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            pos = loc[-1] if loc else None
            reason = (err.get("ctx") or {}).get("error", "invalid JSON")
            return error_response(
                422,
                InvalidArgument.code,
                f"the request body is not valid JSON: {reason} at position {pos}",
                {"position": pos},
            )
        problems.append(
            {"field": _field(loc), "message": err.get("msg", ""), "type": err.get("type")}
        )
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
    return error_response(422, InvalidArgument.code, message, problems)


#: What FastAPI answers (400) when decoding a JSON body fails other than as JSON: bytes that are
#: not UTF-8 text.
_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def _unreadable_body(exc: StarletteHTTPException) -> Response:
    """A body that is not UTF-8 text, answered like any other body that is not JSON: 422 (the
    status every route documents), not FastAPI's undocumented 400."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return error_response(
            422,
            InvalidArgument.code,
            f"the request body is not valid JSON: it is not UTF-8 text (byte {cause.start})",
            {"position": cause.start},
        )
    return error_response(
        422, InvalidArgument.code, "the request body is not valid JSON", {"position": None}
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and exc.detail == _FASTAPI_BODY_ERROR:
        return _unreadable_body(exc)
    code = _CODE_BY_STATUS.get(status, f"HTTP_{status}")
    if status == 404 and exc.detail == "Not Found":
        message = f"no route {request.method} {request.url.path}; see /docs for the API"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return error_response(status, code, message, None, headers or None)


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route of the request's path takes. Starlette's 405 names only the
    methods of the first route matching the path, and each method is its own route here; so
    ask the router, method by method, whether a route would take the path."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; unexpected exceptions are answered by the request middleware."""
    app.add_exception_handler(MloopError, _mloop_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


_OPENAPI_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def document_method_not_allowed(app: FastAPI, *, exclude: tuple[str, ...] = ()) -> None:
    """List the ``405`` of every operation in ``app``'s OpenAPI description, with its ``Allow``
    header (the methods the path takes) and the one error shape.

    A method the path does not take is answered 405 by the router before any route runs;
    OpenAPI can only describe it on the operations the path has, so each of them states it.
    Added once, when the description is first built (FastAPI caches it). Paths starting
    with one of ``exclude`` are left alone (routes that answer a wrong method otherwise).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        spec = build()
        for path, item in spec.get("paths", {}).items():
            if path.startswith(exclude):
                continue
            methods = [m for m in _OPENAPI_METHODS if m in item]
            allowed = ", ".join(m.upper() for m in methods)
            for method in methods:
                item[method].setdefault("responses", {}).setdefault(
                    "405",
                    {
                        "description": f"Method not allowed on this path (it takes {allowed})",
                        "headers": {
                            "Allow": {
                                "description": "every method the path takes",
                                "schema": {"type": "string", "example": allowed},
                            }
                        },
                        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                    },
                )
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
