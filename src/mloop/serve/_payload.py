"""Request bodies in, predictions out: the v1 formats, the Open Inference Protocol v2 tensors.

A body becomes an :class:`Inputs`: columns (name -> list of values) or one array, with its row
count, cheap to merge with other requests' inputs into one batch. Bodies are parsed with orjson,
not pydantic: the hot path pays for one ``orjson.loads`` and a few type checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from mloop.errors import InvalidPayload
from mloop.models import ColSpec, Signature, TensorSpec
from mloop.monitor._predformat import RequestRows

__all__ = [
    "OIP_DATATYPES",
    "Inputs",
    "columns_frame",
    "decode_json",
    "merge_inputs",
    "output_slice",
    "parse_v1",
    "parse_v2",
    "v2_outputs",
    "v2_tensor_metadata",
]

V1_FORMATS = (
    '{"records": [{col: value, ...}, ...]}, {"columns": [...], "data": [[...], ...]}, '
    '{"instances": [...]} or {"inputs": ...}'
)


class Inputs(RequestRows):
    """One request's rows: ``columns`` (name -> values) or ``array``; ``rows`` counts them.
    The prediction log records them as they are (:class:`~mloop.monitor.RequestRows`)."""

    __slots__ = ()

    def to_model_input(self, all_float: bool = False) -> Any:
        if self.columns is not None:
            return columns_frame(self.columns, all_float)
        return self.array


def columns_frame(columns: dict[str, list[Any]], all_float: bool) -> pd.DataFrame:
    """A DataFrame of ``columns``. When every signature column is float64 (``all_float``) and
    every value is a number, one 2-D array makes one pandas block: ~5x cheaper than a dict of
    lists. Anything else (strings, nulls, bools) takes pandas' own path, so the signature
    check sees exactly what was sent."""
    if all_float:
        arr = np.array(list(columns.values()))
        if arr.ndim == 2 and arr.dtype.kind in "fi":
            return pd.DataFrame(arr.T.astype(np.float64, copy=False), columns=list(columns))
    return pd.DataFrame(columns)


def decode_json(body: bytes) -> Any:
    """``orjson.loads``, with the error as an :class:`InvalidPayload` naming the position."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(
            f"the request body is not valid JSON: {exc.msg} at position {exc.pos}",
            details={"position": exc.pos},
        ) from None


def _bad(message: str, field: str) -> InvalidPayload:
    return InvalidPayload(message, details={"field": field})


def _records(records: Any, field: str) -> Inputs:
    if not isinstance(records, list) or not records:
        raise _bad(f"'{field}' must be a non-empty list of objects", field)
    first = records[0]
    if not isinstance(first, dict):
        raise _bad(f"'{field}[0]' must be an object (column -> value)", field)
    keys = list(first)
    uniform = True
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise _bad(f"'{field}[{i}]' must be an object (column -> value)", field)
        if uniform and (len(rec) != len(keys) or any(k not in rec for k in keys)):
            uniform = False
    if uniform:
        return Inputs(len(records), {k: [rec[k] for rec in records] for k in keys})
    union: dict[str, None] = {}
    for rec in records:
        union.update(dict.fromkeys(rec))
    # A record without a key sends null in that column (the signature decides if that is fine).
    return Inputs(len(records), {k: [rec.get(k) for rec in records] for k in union})


def _split(body: dict[str, Any], field: str = "") -> Inputs:
    columns, data = body.get("columns"), body.get("data")
    where = f"{field}." if field else ""
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise _bad(f"'{where}columns' must be a list of column names", f"{where}columns")
    if not isinstance(data, list) or not data:
        raise _bad(f"'{where}data' must be a non-empty list of rows", f"{where}data")
    width = len(columns)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise _bad(
                f"'{where}data[{i}]' must be a list of {width} values, one per column",
                f"{where}data",
            )
    return Inputs(len(data), {c: [row[j] for row in data] for j, c in enumerate(columns)})


def _columnar(mapping: dict[str, Any], field: str) -> Inputs:
    if not mapping:
        raise _bad(f"'{field}' must name at least one column", field)
    rows: int | None = None
    columns: dict[str, list[Any]] = {}
    for name, values in mapping.items():
        vals = values if isinstance(values, list) else [values]
        if rows is None:
            rows = len(vals)
        elif len(vals) != rows:
            raise _bad(
                f"'{field}.{name}' has {len(vals)} values, the other columns {rows}",
                f"{field}.{name}",
            )
        columns[name] = vals
    if not rows:
        raise _bad(f"'{field}' holds no rows", field)
    return Inputs(rows, columns)


def _instances(items: Any, field: str, signature: Signature | None) -> Inputs:
    if not isinstance(items, list) or not items:
        raise _bad(f"'{field}' must be a non-empty list", field)
    if isinstance(items[0], dict):
        return _records(items, field)
    spec = signature.inputs if signature is not None else None
    if isinstance(spec, list):  # column signature: rows of values in the signature's order
        names = [c.name for c in spec]
        for i, row in enumerate(items):
            if not isinstance(row, list) or len(row) != len(names):
                raise _bad(
                    f"'{field}[{i}]' must be a list of {len(names)} values in the signature's "
                    f"column order ({', '.join(names)}) or an object",
                    field,
                )
        return Inputs(len(items), {c: [row[j] for row in items] for j, c in enumerate(names)})
    dtype = _tensor_dtype(spec)
    try:
        array = np.asarray(items, dtype=dtype)
    except (ValueError, TypeError) as exc:
        what = dtype or "values"
        raise _bad(f"'{field}' is not a rectangular array of {what}: {exc}", field) from None
    if array.ndim == 0:
        array = array.reshape(1)
    return Inputs(len(array), None, array)


def _tensor_dtype(spec: Any) -> Any:
    if isinstance(spec, TensorSpec):
        return np.dtype(spec.dtype) if spec.dtype not in ("string", "binary", "datetime") else None
    return None


_V1_KEYS = ("records", "dataframe_records", "dataframe_split", "instances", "inputs")


def parse_v1(body: Any, signature: Signature | None) -> Inputs:
    """The rows of a ``/v1/models/{name}:predict`` body (already decoded)."""
    if not isinstance(body, dict):
        raise _bad(f"the request body must be a JSON object: {V1_FORMATS}", "body")
    formats = [k for k in _V1_KEYS if k in body]
    if "columns" in body or "data" in body:
        formats.append("columns/data")
    if len(formats) > 1:  # which one would win is not the client's guess to make
        raise _bad(
            f"the request body holds {' and '.join(formats)}: send exactly one format", "body"
        )
    if "records" in body:
        return _records(body["records"], "records")
    if "dataframe_records" in body:
        return _records(body["dataframe_records"], "dataframe_records")
    if "columns" in body or "data" in body:
        return _split(body)
    split = body.get("dataframe_split")
    if isinstance(split, dict):
        return _split(split, "dataframe_split")
    if "instances" in body:
        return _instances(body["instances"], "instances", signature)
    if "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            return _columnar(inputs, "inputs")
        return _instances(inputs, "inputs", signature)
    raise _bad(
        f"the request body has none of the accepted keys ({', '.join(sorted(body)) or 'empty'}); "
        f"send {V1_FORMATS}",
        "body",
    )


# -- merging a batch --------------------------------------------------------------------------


def merge_inputs(items: Sequence[Inputs], all_float: bool = False) -> Any:
    """One model input for a batch, or None when the requests cannot share one call."""
    first = items[0]
    if first.columns is not None:
        keys = list(first.columns)
        merged: dict[str, list[Any]] = {k: [] for k in keys}
        for item in items:
            cols = item.columns
            if cols is None or len(cols) != len(keys):
                return None
            for k in keys:
                values = cols.get(k)
                if values is None:
                    return None
                merged[k] += values
        return columns_frame(merged, all_float)
    arrays = [item.array for item in items]
    if any(a is None for a in arrays):
        return None
    shapes = {a.shape[1:] for a in arrays if a is not None}
    dtypes = {a.dtype for a in arrays if a is not None}
    if len(shapes) != 1 or len(dtypes) != 1:
        return None
    return np.concatenate([a for a in arrays if a is not None])


def output_slice(out: Any, start: int, stop: int) -> Any:
    """The predictions of rows ``start:stop`` as something orjson writes: a numpy array, a list
    of values (one output column) or a list of records."""
    if isinstance(out, pd.DataFrame):
        part = out.iloc[start:stop]
        if part.shape[1] == 1:
            return _jsonable_array(part.iloc[:, 0].to_numpy())
        return part.to_dict("records")
    if isinstance(out, np.ndarray):
        return _jsonable_array(out[start:stop])
    return list(out[start:stop])


def _jsonable_array(arr: np.ndarray) -> Any:
    if arr.dtype.kind in "biuf" and arr.dtype != np.float16:
        return np.ascontiguousarray(arr)
    return arr.tolist()


# -- Open Inference Protocol v2 ---------------------------------------------------------------

#: OIP datatype -> numpy dtype (None: Python objects, for BYTES).
OIP_DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": None,
}
_OIP_BY_KIND = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}


def oip_datatype(type_name: str) -> str:
    """The OIP datatype of a signature type or numpy dtype name (``BYTES`` for the others)."""
    return _OIP_BY_KIND.get(type_name, "BYTES")


def _tensor(item: Any, i: int) -> tuple[str, np.ndarray]:
    field = f"inputs[{i}]"
    if not isinstance(item, dict):
        raise _bad(f"'{field}' must be an object with name, shape, datatype and data", field)
    name, shape, datatype, data = (
        item.get("name"),
        item.get("shape"),
        item.get("datatype"),
        item.get("data"),
    )
    if not isinstance(name, str):
        raise _bad(f"'{field}.name' must be a string", f"{field}.name")
    if datatype not in OIP_DATATYPES:
        raise _bad(
            f"'{field}.datatype' of {name!r} must be one of {', '.join(OIP_DATATYPES)}, "
            f"got {datatype!r}",
            f"{field}.datatype",
        )
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _bad(f"'{field}.shape' of {name!r} must be a list of sizes", f"{field}.shape")
    if not isinstance(data, list):
        raise _bad(f"'{field}.data' of {name!r} must be a list", f"{field}.data")
    dtype = OIP_DATATYPES[datatype]
    try:
        array = np.asarray(data, dtype=dtype if dtype is not None else object)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _bad(
            f"'{field}.data' of {name!r} does not hold {datatype} values: {exc}", f"{field}.data"
        ) from None
    size = int(np.prod(shape)) if shape else 1
    if array.size != size:
        raise _bad(
            f"'{field}' ({name!r}) has {array.size} values but shape {shape} needs {size}",
            f"{field}.data",
        )
    return name, array.reshape(shape)


def parse_v2(body: Any, signature: Signature | None) -> tuple[Inputs, Any]:
    """The rows of an OIP v2 ``infer`` body and its ``id``: one tensor per signature column, or
    one tensor for a tensor signature."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise _bad("the body must be an object with a non-empty 'inputs' list of tensors", "inputs")
    tensors = [_tensor(item, i) for i, item in enumerate(body["inputs"])]
    spec = signature.inputs if signature is not None else None
    request_id = body.get("id")
    if isinstance(spec, TensorSpec) or (spec is None and len(tensors) == 1):
        if len(tensors) != 1:
            raise _bad(f"this model takes one input tensor, got {len(tensors)}", "inputs")
        array = tensors[0][1]
        if array.ndim == 0:
            array = array.reshape(1)
        return Inputs(len(array), None, array), request_id
    columns: dict[str, list[Any]] = {}
    rows: int | None = None
    for name, array in tensors:
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise _bad(
                f"input {name!r} must have shape [rows] or [rows, 1] for this column model, "
                f"got {list(array.shape)}",
                "inputs",
            )
        if rows is None:
            rows = len(array)
        elif len(array) != rows:
            raise _bad(f"input {name!r} has {len(array)} rows, the others {rows}", "inputs")
        columns[name] = array.tolist()
    assert rows is not None
    return Inputs(rows, columns), request_id


#: The OIP name of a model's one output tensor, in ``/infer`` answers and the metadata.
OUTPUT_TENSOR = "predict"


def v2_outputs(predictions: Any, signature: Signature | None) -> list[dict[str, Any]]:
    """OIP output tensors for one request's predictions (see :func:`output_slice`)."""
    if isinstance(predictions, list) and predictions and isinstance(predictions[0], dict):
        frame = pd.DataFrame(predictions)
        return [_out_tensor(str(c), frame[c].to_numpy()) for c in frame.columns]
    array = np.asarray(predictions)
    name = OUTPUT_TENSOR
    outputs = signature.outputs if signature is not None else None
    if isinstance(outputs, list) and len(outputs) == 1:
        name = outputs[0].name
    return [_out_tensor(name, array)]


def _out_tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    datatype = oip_datatype(array.dtype.name)
    data: Any = array.reshape(-1)
    if datatype == "BYTES":
        data = [v if isinstance(v, str) else str(v) for v in data.tolist()]
    elif datatype == "FP16":
        data = data.astype(np.float32)
    elif not data.flags.c_contiguous:
        data = np.ascontiguousarray(data)
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def v2_tensor_metadata(
    spec: list[ColSpec] | TensorSpec | None, tensor_name: str = "input"
) -> list[dict[str, Any]]:
    """OIP ``inputs``/``outputs`` metadata of a signature part; a tensor part is named
    ``tensor_name`` (``input``, or ``predict`` for outputs: the name ``/infer`` answers with)."""
    if spec is None:
        return []
    if isinstance(spec, TensorSpec):
        return [
            {"name": tensor_name, "datatype": oip_datatype(spec.dtype), "shape": list(spec.shape)}
        ]
    return [{"name": c.name, "datatype": oip_datatype(c.type), "shape": [-1]} for c in spec]
