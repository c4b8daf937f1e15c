"""What the MLflow-compatible API shares: MLflow's error shape, request parsing, id mapping.

MLflow clients read errors as ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}``
with MLflow's HTTP status for that code; the routes under ``/api/2.0/mlflow`` answer in that
shape (the rest of the server keeps mloop's). :class:`MlflowRoute` does the translation for
every route of the MLflow routers, so a route raises mloop's errors like any other.

MLflow sends GET parameters in the query string and everything else as a JSON body (protobuf's
JSON mapping: 64-bit integers may arrive as strings, repeated fields as lists).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mloop._web._errors import JsonResponse
from mloop.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidArgument,
    MloopError,
    NotFound,
    ParamConflict,
    StoreUnavailable,
    Unauthorized,
)
from mloop.store import Store

logger = logging.getLogger("mloop.server")

PREFIX = "/api/2.0/mlflow"
ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts"

#: MLflow's name for the experiment every client uses when none is set. mloop's ids start at
#: 1, so "0" never names a stored experiment: it stands for mloop's default experiment.
MLFLOW_DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT = "default"

#: MLflow error code -> HTTP status (the subset mloop answers with; MLflow's own table).
STATUS_BY_CODE: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_CONFLICT": 409,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
}

#: mloop error class -> MLflow error code; the first class of an error's MRO found wins.
CODE_BY_ERROR: dict[type[MloopError], str] = {
    ParamConflict: "INVALID_PARAMETER_VALUE",  # MLflow: "changing param values is not allowed"
    NotFound: "RESOURCE_DOES_NOT_EXIST",
    AlreadyExists: "RESOURCE_ALREADY_EXISTS",
    Conflict: "RESOURCE_CONFLICT",
    InvalidArgument: "INVALID_PARAMETER_VALUE",
    Unauthorized: "UNAUTHENTICATED",
    Forbidden: "PERMISSION_DENIED",
    StoreUnavailable: "TEMPORARILY_UNAVAILABLE",
    MloopError: "INTERNAL_ERROR",
}


def code_for(error: type[BaseException]) -> str:
    """The MLflow error code of an mloop error class."""
    for cls in error.__mro__:
        code = CODE_BY_ERROR.get(cls)  # type: ignore[call-overload]
        if code is not None:
            return code
    return "INTERNAL_ERROR"


_MLFLOW_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error_code", "message"],
}
_MLFLOW_ERROR_TEXT = {
    400: "Invalid parameter value, or a name that exists already (MLflow's codes)",
    401: "No token, or an unknown, revoked or expired one (servers with --auth)",
    403: "The token's role does not allow this (servers with --auth)",
    404: "No such resource",
    409: "Conflict with stored data",
    413: "The request body is over the server's limit",
    500: "Internal error",
    501: "An MLflow endpoint mloop does not implement",
    503: "The store is unavailable; retrying may help",
}
#: For ``responses=`` of the MLflow routers: every error they answer, in MLflow's shape.
MLFLOW_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "content": {"application/json": {"schema": _MLFLOW_ERROR_SCHEMA}},
    }
    for status, text in _MLFLOW_ERROR_TEXT.items()
}


def mlflow_error(code: str, message: str) -> JsonResponse:
    """An error response in MLflow's shape."""
    return JsonResponse(
        {"error_code": code, "message": message}, status_code=STATUS_BY_CODE.get(code, 500)
    )


def not_implemented(what: str, hint: str = "") -> JsonResponse:
    """The answer to an MLflow operation mloop does not offer."""
    return mlflow_error("NOT_IMPLEMENTED", f"mloop does not support {what}{hint}")


def _from_exception(request: Request, exc: Exception) -> Response:
    if isinstance(exc, MloopError):
        code = code_for(type(exc))
        if code == "INTERNAL_ERROR":
            logger.error(
                "%s on %s %s: %s",
                exc.code,
                request.method,
                request.url.path,
                exc.message,
                exc_info=exc,
            )
        return mlflow_error(code, exc.message)
    if isinstance(exc, RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: "
            f"{e.get('msg', '')}"
            for e in exc.errors()
        ]
        return mlflow_error("INVALID_PARAMETER_VALUE", "; ".join(problems) or "invalid request")
    if isinstance(exc, StarletteHTTPException):
        code = "ENDPOINT_NOT_FOUND" if exc.status_code == 404 else "BAD_REQUEST"
        return mlflow_error(code, str(exc.detail))
    error_id = uuid.uuid4().hex
    logger.error(
        "unhandled error %s on %s %s: %s: %s",
        error_id,
        request.method,
        request.url.path,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    return mlflow_error(
        "INTERNAL_ERROR", f"internal server error; quote error id {error_id} to the operator"
    )


class _OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson (FastAPI reads a route's body through
    ``request.json()``, with the standard library's parser: three times slower on a
    1,000-metric ``log-batch``). What orjson refuses but Python's parser takes (``NaN``
    literals, integers past 64 bits, lone surrogates) falls back to the standard parser, so
    every body reads as before."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)  # the same answer, or the same error, as before
        return self._json


class MlflowRoute(APIRoute):
    """A route whose errors are answered in MLflow's shape instead of mloop's, and whose JSON
    body is parsed by orjson."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(_OrjsonRequest(request.scope, request.receive))
            except Exception as exc:
                return _from_exception(request, exc)

        return answer


# -- request bodies ----------------------------------------------------------------------------


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object of a POST/PATCH/DELETE body (``{}`` when empty)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(
            f"the request body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from None
    if not isinstance(data, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return data


def query_args(request: Request) -> dict[str, Any]:
    """The query string as a mapping; a parameter given more than once becomes a list."""
    out: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def req_str(args: Mapping[str, Any], key: str) -> str:
    """A required string field."""
    value = args.get(key)
    if value is None or value == "":
        raise InvalidArgument(f"missing value for required parameter '{key}'")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidArgument(f"parameter '{key}' must be a string, got {type(value).__name__}")
    return str(value)


def opt_str(args: Mapping[str, Any], key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidArgument(f"parameter '{key}' must be a string, got {type(value).__name__}")
    return str(value)


def opt_int(args: Mapping[str, Any], key: str) -> int | None:
    """An optional 64-bit integer; protobuf's JSON mapping may send it as a string."""
    value = args.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidArgument(f"parameter '{key}' must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidArgument(f"parameter '{key}' must be an integer, got {value!r:.40}")


def str_list(args: Mapping[str, Any], key: str) -> list[str]:
    value = args.get(key)
    if value is None:
        return []
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [str(value)]
    if not isinstance(value, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        raise InvalidArgument(f"parameter '{key}' must be a list of strings")
    return [str(v) for v in value]


def key_values(args: Mapping[str, Any], key: str) -> dict[str, str]:
    """A repeated ``{key, value}`` field (tags, params) as a mapping."""
    items = args.get(key) or []
    if not isinstance(items, list):
        raise InvalidArgument(f"'{key}' must be a list of {{key, value}} objects")
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise InvalidArgument(f"{key}[{i}] must be an object with a string 'key'")
        value = item.get("value", "")
        out[item["key"]] = "" if value is None else str(value)
    return out


def view_of(value: Any) -> str:
    """MLflow's ViewType (``ACTIVE_ONLY``, ``DELETED_ONLY``, ``ALL`` or 1, 2, 3) as mloop's."""
    names = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}
    if value is None or value == "":
        return "active"
    if isinstance(value, int) and not isinstance(value, bool):
        value = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}.get(value, value)
    if isinstance(value, str) and value.upper() in names:
        return names[value.upper()]
    if isinstance(value, str) and value.isdigit():
        return view_of(int(value))
    raise InvalidArgument(f"view type must be ACTIVE_ONLY, DELETED_ONLY or ALL, got {value!r:.40}")


def kv_list(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


# -- experiments -------------------------------------------------------------------------------


def experiment_id_in(store: Store, experiment_id: str) -> str:
    """mloop's id for an experiment id an MLflow client sent ("0": mloop's default one)."""
    if experiment_id != MLFLOW_DEFAULT_EXPERIMENT_ID:
        return experiment_id
    return default_experiment_id(store)


def default_experiment_id(store: Store) -> str:
    """mloop's default experiment, created on first use (as MLflow's "Default" always exists)."""
    from mloop.errors import ExperimentAlreadyExists, ExperimentNotFound

    try:
        return store.get_experiment_by_name(DEFAULT_EXPERIMENT).experiment_id
    except ExperimentNotFound:
        pass
    try:
        return store.create_experiment(DEFAULT_EXPERIMENT).experiment_id
    except ExperimentAlreadyExists:  # another request created it meanwhile
        return store.get_experiment_by_name(DEFAULT_EXPERIMENT).experiment_id
