"""Late labels: validated here, queued by the :class:`~mloop.monitor.PredictionLog`, written
as Parquet segments under ``<prefix>/_feedback/`` and joined to the prediction rows by
``(request_id, row)`` when read (:func:`~mloop.monitor.read_predictions`). The route that
accepts them over HTTP, ``POST /v1/feedback``, is the inference server's
(:mod:`mloop.serve._feedback_api`).

A label is stored as its JSON text (one schema for every model and label type); a label without
a row (one value for a whole request) applies to every row of that request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from mloop.errors import InvalidArgument, InvalidPayload, PayloadTooLarge

__all__ = [
    "FEEDBACK_DIR",
    "FEEDBACK_SCHEMA",
    "MAX_FEEDBACK_ITEMS",
    "Feedback",
    "feedback_batch",
    "parse_feedback_body",
    "validate_feedback",
]

FEEDBACK_DIR = "_feedback"
FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),  # null: every row of the request
        ("ts", pa.timestamp("us", tz="UTC")),
        ("label", pa.string()),  # the label's JSON
    ]
)
MAX_REQUEST_ID = 128
MAX_LABEL_CHARS = 4_096
MAX_LABEL_FIELDS = 100
MAX_LABEL_ROWS = 100_000
MAX_FEEDBACK_ITEMS = 10_000
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Feedback:
    """One validated label: of one row of a request, or (``row`` None) of all its rows."""

    request_id: str
    row: int | None
    ts_us: int
    label: str  # JSON


def _bad(message: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, details={"field": field})


def _check_request_id(request_id: Any, field: str) -> str:
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_REQUEST_ID:
        got = (
            f"a string of {len(request_id)} characters"
            if isinstance(request_id, str)
            else type(request_id).__name__
        )
        raise _bad(
            f"'{field}' must be a non-empty string of at most {MAX_REQUEST_ID} characters (the "
            f"request_id of the prediction's answer), got {got}",
            field,
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in request_id):
        raise _bad(f"'{field}' must not contain control characters", field)
    return request_id


def _scalar(value: Any, field: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(f"'{field}' must be a finite number, got {value}", field)
        return value
    if isinstance(value, str):
        if len(value) > MAX_LABEL_CHARS:
            raise _bad(
                f"'{field}' is a string of {len(value)} characters; at most {MAX_LABEL_CHARS}",
                field,
            )
        return value
    raise _bad(
        f"'{field}' must be a JSON scalar (string, number or boolean), got {type(value).__name__}",
        field,
    )


def _label(value: Any, field: str) -> str:
    """The JSON of one label: a scalar, or an object of named scalars (nulls allowed)."""
    if isinstance(value, dict):
        if not value or len(value) > MAX_LABEL_FIELDS:
            raise _bad(
                f"'{field}' must name 1 to {MAX_LABEL_FIELDS} labels, got {len(value)}", field
            )
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key or len(key) > MAX_REQUEST_ID:
                raise _bad(f"'{field}' has a label name that is not a short string: {key!r}", field)
            out[key] = None if item is None else _scalar(item, f"{field}.{key}")
        return orjson.dumps(out).decode()
    return orjson.dumps(_scalar(value, field)).decode()


# Times a Parquet timestamp[us] and a date folder can hold: 1970-01-01 to 9999-12-31.
_MAX_US = 253_402_300_800 * _US


def _ts_us(when: Any, clock: Callable[[], float], field: str) -> int:
    ts = _parse_ts_us(when, clock, field)
    if not 0 <= ts < _MAX_US:
        raise _bad(f"'{field}' must be between 1970 and 9999, got {when!r}", field)
    return ts


def _parse_ts_us(when: Any, clock: Callable[[], float], field: str) -> int:
    if when is None:
        return int(clock() * _US)
    if isinstance(when, datetime):
        moment = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        try:
            return int(moment.timestamp() * _US)
        except (ValueError, OverflowError):  # before year 1 once shifted to UTC
            return -1
    if isinstance(when, str):
        try:
            return _parse_ts_us(datetime.fromisoformat(when), clock, field)
        except (ValueError, OverflowError):
            raise _bad(
                f"'{field}' must be an ISO-8601 time or seconds since the epoch, got {when!r}",
                field,
            ) from None
    if isinstance(when, int | float) and not isinstance(when, bool) and math.isfinite(when):
        return int(when * _US)
    raise _bad(
        f"'{field}' must be an ISO-8601 time or seconds since the epoch, got {type(when).__name__}",
        field,
    )


def validate_feedback(
    request_id: Any,
    labels: Any,
    time: Any,
    clock: Callable[[], float],
    field: str = "",
) -> list[Feedback]:
    """The labels of one request, checked (see :meth:`PredictionLog.record_feedback`).

    Raises:
        InvalidArgument: names the field (``items[3].label[7]``) and what is wrong with it.
    """
    where = f"{field}." if field else ""
    rid = _check_request_id(request_id, f"{where}request_id")
    ts = _ts_us(time, clock, f"{where}time")
    name = f"{where}label"
    if labels is None:
        raise _bad(
            f"'{name}' is missing or null: send one label, an object of named labels, or a "
            "list with one label per row of the request",
            name,
        )
    if isinstance(labels, list | tuple | np.ndarray):
        values = labels.tolist() if isinstance(labels, np.ndarray) else labels
        if not values or len(values) > MAX_LABEL_ROWS:
            raise _bad(
                f"'{name}' must be a list of 1 to {MAX_LABEL_ROWS} labels, one per row, got "
                f"{len(values)}",
                name,
            )
        items = [
            Feedback(rid, i, ts, _label(v, f"{name}[{i}]"))
            for i, v in enumerate(values)
            if v is not None
        ]
        if not items:
            raise _bad(f"'{name}' holds only nulls: send at least one label", name)
        return items
    return [Feedback(rid, None, ts, _label(labels, name))]


def feedback_batch(items: Sequence[Feedback]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array([f.request_id for f in items], pa.string()),
            pa.array([f.row for f in items], pa.int32()),
            pa.array([f.ts_us for f in items], pa.timestamp("us", tz="UTC")),
            pa.array([f.label for f in items], pa.string()),
        ],
        schema=FEEDBACK_SCHEMA,
    )


def parse_feedback_body(
    body: Any, clock: Callable[[], float], max_items: int = MAX_FEEDBACK_ITEMS
) -> list[Feedback]:
    """The labels of a ``POST /v1/feedback`` body: ``{"request_id", "label"[, "time"]}`` or
    ``{"items": [...]}``; all checked before any is kept."""
    if not isinstance(body, dict):
        raise InvalidPayload(
            'the body must be a JSON object: {"request_id": "...", "label": ...} or '
            '{"items": [{"request_id": "...", "label": ...}, ...]}',
            details={"field": "body"},
        )
    if "items" in body:
        items = body["items"]
        if not isinstance(items, list) or not items:
            raise InvalidPayload(
                "'items' must be a non-empty list of {request_id, label} objects",
                details={"field": "items"},
            )
        if len(items) > max_items:
            raise PayloadTooLarge(
                f"'items' holds {len(items)} labels; send at most {max_items} per request",
                details={"field": "items", "limit": max_items},
            )
        out: list[Feedback] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidPayload(
                    f"'items[{i}]' must be an object with request_id and label",
                    details={"field": f"items[{i}]"},
                )
            out += _one(item, clock, f"items[{i}]")
        return out
    return _one(body, clock, "")


def _one(item: dict[str, Any], clock: Callable[[], float], field: str) -> list[Feedback]:
    where = f"{field}." if field else ""
    for key in ("request_id", "label"):
        if key not in item:
            raise InvalidPayload(
                f"'{where}{key}' is missing: send request_id (from the prediction's answer) and "
                "label",
                details={"field": f"{where}{key}"},
            )
    unknown = sorted(set(item) - {"request_id", "label", "time"})
    if unknown:
        raise InvalidPayload(
            f"unknown key(s) {', '.join(repr(k) for k in unknown)} in "
            f"{repr(field) if field else 'the body'}; accepted: request_id, label, time",
            details={"field": field or "body", "unknown": unknown},
        )
    return validate_feedback(item["request_id"], item["label"], item.get("time"), clock, field)
