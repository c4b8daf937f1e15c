"""What the inference server's operational routes answer, for its OpenAPI description.

These routes return pre-serialized JSON (no pydantic model per request), so FastAPI cannot
infer their bodies; the schemas here state them, so a schema-driven client or fuzzer checks
the real answers (a 503 while models warm up included).
"""

from __future__ import annotations

from typing import Any

__all__ = ["HEALTH", "LIVE", "MODELS", "READY", "SERVER", "V2_READY"]


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
    }


def _answers(
    ok: dict[str, Any], unavailable: dict[str, Any] | None = None
) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {
        200: {"description": "OK", "content": {"application/json": {"schema": ok}}}
    }
    if unavailable is not None:
        out[503] = {
            "description": "Not ready (models still loading or warming up)",
            "content": {"application/json": {"schema": unavailable}},
        }
    return out


_STATUS = {"type": "string"}

#: ``GET /healthz``: the process answers.
HEALTH = _answers(_object({"status": {"type": "string", "enum": ["ok"]}}))
#: ``GET /readyz``: every model is loaded and warmed up (else 503, naming what waits).
READY = _answers(
    _object({"status": {"type": "string", "enum": ["ready"]}}),
    _object(
        {
            "status": {"type": "string", "enum": ["not ready"]},
            "models": {"type": "object", "additionalProperties": _STATUS},
        }
    ),
)
#: ``GET /v2/health/live`` (Open Inference Protocol v2).
LIVE = _answers(_object({"live": {"type": "boolean"}}))
#: ``GET /v2/health/ready`` (Open Inference Protocol v2).
V2_READY = _answers(
    _object({"ready": {"type": "boolean"}}), _object({"ready": {"type": "boolean"}})
)
#: ``GET /v2``: the server's metadata (Open Inference Protocol v2).
SERVER = _answers(
    _object(
        {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        }
    )
)
#: ``GET /v1/models``: each model slot, its versions, traffic and load errors.
MODELS = _answers(
    _object({"models": {"type": "array", "items": {"type": "object"}}}),
)
