"""``POST /v1/feedback``: the inference server's route for late labels.

The labels are checked and queued by the prediction log (:mod:`mloop.monitor`); this module is
only the HTTP side: the body limit, the OpenAPI description, the 202 answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mloop._web._errors import ERROR_RESPONSES, TOO_LARGE_RESPONSE, ErrorBody, JsonResponse
from mloop.errors import PayloadTooLarge
from mloop.monitor._feedback import MAX_FEEDBACK_ITEMS, MAX_REQUEST_ID, parse_feedback_body
from mloop.serve._payload import decode_json

if TYPE_CHECKING:
    from mloop.monitor import PredictionLog

__all__ = ["MAX_FEEDBACK_BODY", "feedback_router"]

MAX_FEEDBACK_BODY = 16 * 1024 * 1024

_FEEDBACK_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "One request's label(s), or up to 10,000 in 'items'. A label "
                    "is a JSON scalar or an object of named scalars; a list gives one per row "
                    "of the request (null: no label for that row).",
                    "properties": {
                        "request_id": {"type": "string", "maxLength": MAX_REQUEST_ID},
                        "label": {},
                        "time": {
                            "description": "when the label became known: ISO-8601 or seconds "
                            "since the epoch (default: now)"
                        },
                        "items": {
                            "type": "array",
                            "maxItems": MAX_FEEDBACK_ITEMS,
                            "items": {
                                "type": "object",
                                "required": ["request_id", "label"],
                                "properties": {
                                    "request_id": {"type": "string"},
                                    "label": {},
                                    "time": {},
                                },
                            },
                        },
                    },
                },
                "examples": {
                    "one": {"value": {"request_id": "4f1c9a...", "label": 1}},
                    "per row": {"value": {"request_id": "4f1c9a...", "label": [1, 0, None]}},
                    "many": {
                        "value": {
                            "items": [
                                {"request_id": "4f1c9a...", "label": "churned"},
                                {"request_id": "77ab02...", "label": {"churned": False}},
                            ]
                        }
                    },
                },
            }
        },
    },
}
_FEEDBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Queued for the prediction log",
        "content": {"application/json": {"example": {"accepted": 1}}},
    },
    **{k: v for k, v in ERROR_RESPONSES.items() if k != 404},
    **TOO_LARGE_RESPONSE,
    503: {
        "model": ErrorBody,
        "description": "The feedback queue is full (the artifact store is not keeping up); retry",
    },
}


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(
            f"the request body ({length} bytes) is over the limit of {limit} bytes; send fewer "
            "labels per request",
            details={"limit": limit},
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the request body is over the limit of {limit} bytes; send fewer labels per "
                "request",
                details={"limit": limit},
            )
        chunks.append(chunk)
    return b"".join(chunks)


def feedback_router(
    log: PredictionLog,
    *,
    max_items: int = MAX_FEEDBACK_ITEMS,
    max_body_bytes: int = MAX_FEEDBACK_BODY,
) -> APIRouter:
    """``POST /v1/feedback``: late labels, joined to the logged predictions by request id.

    Answers 202 ``{"accepted": n}`` (n labels queued); 422 for a bad body (nothing is kept),
    413 over ``max_items`` labels or ``max_body_bytes``, 503 while the queue is full. Errors
    take the server's one shape; the app must have :func:`install_error_handlers`.

    Example::

        app.include_router(feedback_router(log))
    """
    router = APIRouter(tags=["feedback"])

    @router.post(
        "/v1/feedback",
        summary="Send late labels for logged predictions",
        description="Labels arrive after the prediction (a chargeback, a churned customer); "
        "each is stored with its request id and joined to the logged prediction rows when the "
        "log is read. The latest label of a row wins.",
        status_code=202,
        openapi_extra=_FEEDBACK_OPENAPI,
        responses=_FEEDBACK_RESPONSES,
    )
    async def feedback(request: Request) -> Response:
        body = decode_json(await _read_body(request, max_body_bytes))
        items = parse_feedback_body(body, log.clock, max_items)
        log.enqueue_feedback(items)
        return JsonResponse({"accepted": len(items)}, status_code=202)

    return router
