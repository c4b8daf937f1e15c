"""The prediction log's format: where segments go, and the Arrow rows of queued predictions.

A request of N rows becomes N rows: ``request_id``, ``row``, ``ts`` (timestamp[us, UTC]),
``model``, ``version``, ``latency_ms``, ``shadow``, one ``input.<column>`` per input column (or
one ``input`` column for an array input: a value, or a fixed-size list, per row), and ``output``
(``output.<name>`` for named outputs, ``output.<i>`` for the columns of a 2-D output).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa

__all__ = [
    "DAY_S",
    "US",
    "Record",
    "RequestFailure",
    "RequestRows",
    "conform",
    "date_folder",
    "input_kind",
    "model_dir",
    "prediction_batch",
    "runs",
    "sample_bucket",
    "unify",
    "uuid7",
]

US = 1_000_000
DAY_S = 86_400
_MAX_OUTPUT_COLUMNS = 64  # a 2-D output wider than this is one list column, not output.<i>


class RequestRows:
    """One request's rows as the log takes them: ``columns`` (name -> values) or ``array``;
    ``rows`` counts them. The inference server's parsed inputs are these."""

    __slots__ = ("array", "columns", "rows")

    def __init__(
        self, rows: int, columns: dict[str, list[Any]] | None, array: np.ndarray | None = None
    ) -> None:
        self.rows = rows
        self.columns = columns
        self.array = array


class RequestFailure:
    """The output of a request that failed: its HTTP ``status`` and ``error`` (the error code
    and the exception's class). Its rows are logged with these in the ``status`` and
    ``error`` columns and no output; answered rows have both null."""

    __slots__ = ("error", "status")

    def __init__(self, status: int, error: str) -> None:
        self.status = status
        self.error = error


# (request_id, time_s, model, version, inputs, outputs, latency_s, shadow); a tuple, not an
# object: the request path builds one per request. ``outputs`` is a RequestFailure for a
# request that failed.
Record = tuple[str, float, str, str, RequestRows, Any, float, bool]


def sample_bucket(request_id: str) -> float:
    """Where ``request_id`` falls in [0, 1): a request is logged when this is below the sample
    rate. CRC-32 of the UTF-8 id, so every replica, every language and the shadow copy of a
    request decide alike."""
    return zlib.crc32(request_id.encode("utf-8", "surrogatepass")) / 4_294_967_296.0


def model_dir(prefix: str, model: str) -> str:
    """The folder of ``model``'s segments: its name percent-encoded into one path segment (a
    leading ``_`` or ``.`` too, so no model collides with ``_feedback`` or ``..``)."""
    name = quote(model, safe="-@+=,~")
    if name[:1] in ("_", "."):
        name = f"%{ord(name[0]):02X}{name[1:]}"
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


_uuid_lock = threading.Lock()
_uuid_last = [0, 0]  # the last (ms, counter) given


def uuid7() -> str:
    """A time-ordered UUID (version 7, RFC 9562, with a counter in ``rand_a``): a folder's
    segments sort in the order they were written, so rows of one time read back in the order
    they were logged."""
    with _uuid_lock:
        ms, counter = time.time_ns() // 1_000_000, 0
        if ms <= _uuid_last[0]:
            ms, counter = _uuid_last[0], _uuid_last[1] + 1
            if counter > 0xFFF:
                ms, counter = ms + 1, 0
        _uuid_last[:] = [ms, counter]
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | counter << 64
    value |= 0b10 << 62 | int.from_bytes(os.urandom(8)) & (2**62 - 1)
    return uuid.UUID(int=value).hex


def date_folder(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_S, UTC).strftime("%Y-%m-%d")


def input_kind(inputs: RequestRows) -> Any:
    if not isinstance(inputs, RequestRows):
        raise TypeError(f"inputs must be RequestRows, got {type(inputs).__name__}")
    if inputs.columns is not None:
        return "columns"
    array = inputs.array
    return None if array is None else (array.shape[1:], array.dtype.kind)


def runs(records: list[Record]) -> list[list[Record]]:
    """Consecutive records whose inputs merge into one batch (same kind and row shape)."""
    runs: list[list[Record]] = []
    current: list[Record] = []
    kind: Any = object()
    for rec in records:
        k = input_kind(rec[4])
        if k != kind and current:
            runs.append(current)
            current = []
        kind = k
        current.append(rec)
    if current:
        runs.append(current)
    return runs


def _pa_array(values: Any) -> pa.Array:
    """An Arrow array of ``values``; values of mixed types become strings (never dropped)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _array_column(array: np.ndarray) -> pa.Array:
    """Rows of an n-d array: scalars for 1-D, a fixed-size list per row otherwise."""
    if array.dtype.kind in "OUSMm" or array.dtype == np.float16:
        if array.ndim == 1:
            return _pa_array(array.tolist())
        return _pa_array(array.reshape(len(array), -1).tolist())
    if array.ndim == 1:
        return pa.array(array)
    flat = np.ascontiguousarray(array.reshape(len(array), -1))
    width = flat.shape[1]
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), width)


def prediction_batch(records: Sequence[Record]) -> pa.RecordBatch:
    """One record batch of the rows of ``records`` (whose inputs share one kind)."""
    counts = [rec[4].rows for rec in records]
    total = sum(counts)
    if total == len(records):  # one row per request: no repeats
        request_ids: list[Any] = [rec[0] for rec in records]
        row_index: Any = np.zeros(total, np.int32)
        ts: Any = [int(rec[1] * US) for rec in records]
        latency: Any = [rec[6] * 1000.0 for rec in records]
        shadow: Any = [bool(rec[7]) for rec in records]
    else:
        reps = np.asarray(counts, np.int64)
        request_ids = np.repeat(np.asarray([rec[0] for rec in records], object), reps).tolist()
        starts = np.cumsum(reps) - reps
        row_index = (np.arange(total) - np.repeat(starts, reps)).astype(np.int32)
        ts = np.repeat(np.asarray([int(rec[1] * US) for rec in records], np.int64), reps)
        latency = np.repeat(np.asarray([rec[6] * 1000.0 for rec in records], np.float64), reps)
        shadow = np.repeat(np.asarray([bool(rec[7]) for rec in records], np.bool_), reps)
    first = records[0]
    names = ["request_id", "row", "ts", "model", "version", "latency_ms", "shadow"]
    arrays: list[pa.Array] = [
        pa.array(request_ids, pa.string()),
        pa.array(row_index, pa.int32()),
        pa.array(ts, pa.timestamp("us", tz="UTC")),
        pa.repeat(pa.scalar(first[2], pa.string()), total),
        pa.repeat(pa.scalar(str(first[3]), pa.string()), total),
        pa.array(latency, pa.float64()),
        pa.array(shadow, pa.bool_()),
    ]
    for name, arr in _input_columns(records, counts, total):
        names.append(name)
        arrays.append(arr)
    failures = [rec[5] if isinstance(rec[5], RequestFailure) else None for rec in records]
    answered = [rec for rec, f in zip(records, failures, strict=True) if f is None]
    if answered:
        outputs = records
        if len(answered) < len(records):  # the failed ones have no output
            outputs = [
                rec if f is None else (*rec[:5], None, *rec[6:])
                for rec, f in zip(records, failures, strict=True)
            ]  # type: ignore[misc]
        for name, arr in _output_columns(outputs, counts, total):
            names.append(name)
            arrays.append(arr)
    if len(answered) < len(records):
        reps = np.asarray(counts, np.int64)
        status = [None if f is None else f.status for f in failures]
        error = [None if f is None else f.error for f in failures]
        names += ["status", "error"]
        arrays.append(pa.array(np.repeat(np.asarray(status, object), reps).tolist(), pa.int32()))
        arrays.append(pa.array(np.repeat(np.asarray(error, object), reps).tolist(), pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _input_columns(
    records: Sequence[Record], counts: list[int], total: int
) -> list[tuple[str, pa.Array]]:
    if records[0][4].columns is not None:
        merged: dict[str, list[Any]] = {}
        filled = 0
        for rec, n in zip(records, counts, strict=True):
            columns = rec[4].columns or {}
            for key, values in columns.items():
                column = merged.get(key)
                if column is None:
                    column = merged[key] = [None] * filled
                column.extend(values)
            filled += n
            for column in merged.values():
                if len(column) != filled:  # a column this request lacks, or a ragged one
                    del column[filled:]
                    column.extend([None] * (filled - len(column)))
        return [(f"input.{k}", _pa_array(v)) for k, v in merged.items()]
    arrays = [rec[4].array for rec in records]
    present = [a for a in arrays if a is not None]
    if len(present) != len(arrays):
        return []
    array = present[0] if len(present) == 1 else np.concatenate(present)
    if array.ndim == 0:
        array = array.reshape(1)
    return [("input", _array_column(array))]


def _output_columns(
    records: Sequence[Record], counts: list[int], total: int
) -> list[tuple[str, pa.Array]]:
    outs = [rec[5] for rec in records]
    if all(
        isinstance(o, np.ndarray) and o.ndim >= 1 and len(o) == n
        for o, n in zip(outs, counts, strict=True)
    ):
        shapes = {(o.shape[1:], o.dtype) for o in outs}
        if len(shapes) == 1:
            array = outs[0] if len(outs) == 1 else np.concatenate(outs)
            if array.ndim == 2 and 1 < array.shape[1] <= _MAX_OUTPUT_COLUMNS:
                return [(f"output.{i}", _array_column(array[:, i])) for i in range(array.shape[1])]
            if array.ndim == 2 and array.shape[1] == 1:
                return [("output", _array_column(array[:, 0]))]
            return [("output", _array_column(array))]
    values: list[Any] = []
    for out, n in zip(outs, counts, strict=True):
        rows = out.tolist() if isinstance(out, np.ndarray) else list(out) if out is not None else []
        if len(rows) != n:
            rows = (rows + [None] * n)[:n]
        values.extend(rows)
    if (
        values
        and all(isinstance(v, dict) for v in values if v is not None)
        and any(v is not None for v in values)
    ):
        keys: dict[str, None] = {}
        for v in values:
            if v is not None:
                keys.update(dict.fromkeys(v))
        return [
            (f"output.{k}", _pa_array([None if v is None else v.get(k) for v in values]))
            for k in keys
        ]
    return [("output", _pa_array(values))]


def unify(a: pa.Schema, b: pa.Schema) -> pa.Schema | None:
    """One schema for two batches of a segment (int -> float, nulls, new columns), or None when
    they cannot share one (string and number, vectors of other widths)."""
    if a == b:
        return a
    try:
        unified = pa.unify_schemas([a, b], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    for f in unified:
        for s in (a, b):
            i = s.get_field_index(f.name)
            if i >= 0 and s.field(i).type != f.type and not _castable(s.field(i).type, f.type):
                return None
    return unified


def _castable(src: pa.DataType, dst: pa.DataType) -> bool:
    if pa.types.is_null(src):
        return True
    if (pa.types.is_integer(src) or pa.types.is_boolean(src)) and pa.types.is_floating(dst):
        return True
    if pa.types.is_integer(src) and pa.types.is_integer(dst):
        return True
    return bool(pa.types.is_floating(src) and pa.types.is_floating(dst))


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for f in schema:
        i = batch.schema.get_field_index(f.name)
        if i < 0:
            arrays.append(pa.nulls(batch.num_rows, f.type))
            continue
        column = batch.column(i)
        if column.type != f.type:
            column = column.cast(f.type)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
