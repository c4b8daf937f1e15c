"""Checking input rows against a signature, converting them safely, and shaping outputs.

The validators are built once per loaded model (column order, dtypes and checks precomputed) so
that a DataFrame or an array that already matches the signature passes with a handful of cheap
checks and no copy. Everything else takes the slow path, which converts what is safe to convert
and reports every column that is not, in one :class:`~mloop.errors.SignatureMismatch`.

Safe conversions: any integer to a float; an integer to another integer width when every value
fits; a float to an integer when every value is a whole number; a float to a narrower or wider
float. Refused: strings to numbers or numbers to strings, fractional floats to integers, numbers
to bool and booleans to numbers (``true`` for a numeric feature is a client's mistake, not a 1),
anything to datetime but datetimes.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mloop.errors import SignatureMismatch
from mloop.models._signature import ColSpec, Spec, TensorSpec, numpy_dtype

__all__ = [
    "make_input_validator",
    "make_output_shaper",
]

Validator = Callable[[Any], Any]

_INT_TYPES = frozenset(["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"])
_FLOAT_TYPES = frozenset(["float16", "float32", "float64"])

# The fast path reads pandas' blocks (``df._mgr.blocks``: one 2-D array per dtype, with the
# column positions it holds), which is ~10x cheaper than ``DataFrame.dtypes`` and lets one NaN
# check cover every float column of a block. It falls back to pandas' per-column iterator, and
# without either (a future pandas) every DataFrame takes the slow path: correct, only slower.
_iter_column_arrays: Callable[[pd.DataFrame], Any] | None = getattr(
    pd.DataFrame, "_iter_column_arrays", None
)


class _Issue(NamedTuple):
    kind: str  # "type", "null" or "range"
    got: str  # what was found instead, for the message
    mask: np.ndarray  # True where a row (or value) has the problem


# -- normalising one column -------------------------------------------------------------------


class _Column(NamedTuple):
    kind: str  # int, float, bool, string, datetime, null (all missing), mixed, or a dtype name
    label: str  # the source type as the message names it
    values: Any  # numpy array (numbers, objects) or the original array (strings, datetimes)
    mask: np.ndarray | None  # True where null; None when nothing is null


def _normalize(series: pd.Series) -> _Column:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = pd.Series(np.asarray(series, dtype=object))
        dtype = series.dtype
    if isinstance(dtype, np.dtype):
        kind = dtype.kind
        arr = series.to_numpy()
        if kind in "iu":
            return _Column("int", dtype.name, arr, None)
        if kind == "b":
            return _Column("bool", "bool", arr, None)
        if kind == "f":
            nan = np.isnan(arr)
            return _Column("float", dtype.name, arr, nan if nan.any() else None)
        if kind == "M":
            nat = np.isnat(arr)
            return _Column("datetime", "datetime", series.array, nat if nat.any() else None)
        if kind in "US":
            return _Column("string", "string", arr.astype(object), None)
        if kind == "O":
            return _normalize_objects(arr)
        return _Column(dtype.name, dtype.name, arr, None)
    mask = np.asarray(series.isna(), dtype=bool)
    null = mask if mask.any() else None
    if isinstance(dtype, pd.StringDtype) or _is_arrow_string(dtype):
        return _Column("string", "string", series.array, null)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _Column("datetime", "datetime", series.array, null)
    numpy_dt = getattr(dtype, "numpy_dtype", None)  # masked (Int64, Float64, boolean), Arrow
    if isinstance(numpy_dt, np.dtype) and numpy_dt.kind in "iufb":
        fill: Any = np.nan if numpy_dt.kind == "f" else 0
        arr = series.to_numpy(dtype=numpy_dt, na_value=fill)
        family = {"i": "int", "u": "int", "f": "float", "b": "bool"}[numpy_dt.kind]
        return _Column(family, numpy_dt.name if family != "bool" else "bool", arr, null)
    return _normalize_objects(np.asarray(series, dtype=object))


def _is_arrow_string(dtype: Any) -> bool:
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    import pyarrow as pa

    t = dtype.pyarrow_dtype
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _normalize_objects(arr: np.ndarray) -> _Column:
    mask = np.asarray(pd.isna(arr), dtype=bool)
    null = mask if mask.any() else None
    inferred = pd.api.types.infer_dtype(arr, skipna=True)
    try:
        if inferred == "string":
            return _Column("string", "string", arr, null)
        if inferred == "empty":
            return _Column("null", "null", arr, mask)
        if inferred == "integer":
            if null is None:
                return _Column("int", "int", np.asarray(arr.tolist(), dtype=np.int64), None)
            return _Column("float", "int", np.where(mask, np.nan, arr).astype(np.float64), null)
        if inferred in ("floating", "mixed-integer-float", "decimal"):
            return _Column("float", "float", np.where(mask, np.nan, arr).astype(np.float64), null)
        if inferred == "boolean":
            return _Column("bool", "bool", np.where(mask, False, arr).astype(np.bool_), null)
        if inferred in ("datetime", "datetime64", "date"):
            values = pd.to_datetime(pd.Series(arr)).array
            return _Column("datetime", "datetime", values, null)
    except (OverflowError, TypeError, ValueError):
        pass  # e.g. integers beyond int64, mixed time zones: judge value by value
    return _Column("mixed", "mixed", arr, mask)


def _classify(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float" if float(value).is_integer() else "non-integer float"
    if isinstance(value, _dt.date | np.datetime64):
        return "datetime"
    return type(value).__name__


# -- converting one column to its type --------------------------------------------------------


def _type_issue(label: str, mask: np.ndarray) -> _Issue:
    return _Issue("type", label, mask)


def _all_rows(col: _Column, n: int) -> np.ndarray:
    return ~col.mask if col.mask is not None else np.ones(n, dtype=bool)


def _mixed_issue(col: _Column, allowed: frozenset[str], n: int) -> tuple[np.ndarray, _Issue | None]:
    """Classify an object column value by value; the issue names the bad classes found."""
    mask = col.mask if col.mask is not None else np.zeros(n, dtype=bool)
    classes = ["null" if m else _classify(v) for v, m in zip(col.values, mask, strict=True)]
    bad = np.array([c != "null" and c not in allowed for c in classes], dtype=bool)
    if not bad.any():
        return mask, None
    found: dict[str, int] = {}
    for c, b in zip(classes, bad, strict=True):
        if b:
            found[c] = found.get(c, 0) + 1
    label = " or ".join(sorted(found, key=lambda c: -found[c]))
    return mask, _type_issue(label, bad)


def _convert(col: _Column, type_: str, nullable: bool, n: int) -> tuple[Any, list[_Issue]]:
    """Convert a normalised column to ``type_``; returns the values and the problems found."""
    issues: list[_Issue] = []
    if type_ in _INT_TYPES:
        out = _to_int(col, type_, nullable, n, issues)
    elif type_ in _FLOAT_TYPES:
        out = _to_float(col, type_, n, issues)
    elif type_ == "bool":
        out = _to_bool(col, nullable, n, issues)
    elif type_ == "string":
        out = _to_string(col, n, issues)
    else:
        out = _to_datetime(col, n, issues)
    if col.mask is not None and not nullable and col.mask.any():
        issues.append(_Issue("null", "null", col.mask))
    return out, issues


def _from_mixed_numbers(
    col: _Column, allowed: frozenset[str], n: int, issues: list[_Issue]
) -> _Column | None:
    mask, issue = _mixed_issue(col, allowed, n)
    if issue is not None:
        issues.append(issue)
        return None
    values = np.array(
        [np.nan if m else float(v) for v, m in zip(col.values, mask, strict=True)], dtype=np.float64
    )
    return _Column("float", "float", values, mask if mask.any() else None)


def _to_int(col: _Column, type_: str, nullable: bool, n: int, issues: list[_Issue]) -> Any:
    target = numpy_dtype(type_)
    if col.kind == "mixed":
        allowed = frozenset(["int", "float"])
        converted = _from_mixed_numbers(col, allowed, n, issues)
        if converted is None:
            return None
        col = converted
    if col.kind == "null":
        return np.full(n, np.nan) if n else np.empty(0, dtype=target)
    if col.kind not in ("int", "float"):
        issues.append(_type_issue(col.label, _all_rows(col, n)))
        return None
    values = col.values
    valid = ~col.mask if col.mask is not None else None
    if col.kind == "float":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values != np.trunc(values))
        if valid is not None:
            bad &= valid
        if bad.any():
            issues.append(_type_issue(f"non-integer {col.label}", bad))
            return None
    if col.kind != "bool" and not np.can_cast(values.dtype, target):
        info = np.iinfo(target)
        with np.errstate(invalid="ignore"):
            out_of_range = (values < info.min) | (values > info.max)
        if valid is not None:
            out_of_range &= valid
        if out_of_range.any():
            issues.append(_Issue("range", f"{col.label} values out of its range", out_of_range))
            return None
    if col.mask is not None:
        if not nullable:
            return None
        # numpy integers cannot hold a null: a nullable integer column with nulls goes as float64
        out = values.astype(np.float64)
        out[col.mask] = np.nan
        return out
    return values.astype(target, copy=False)


def _to_float(col: _Column, type_: str, n: int, issues: list[_Issue]) -> Any:
    target = numpy_dtype(type_)
    if col.kind == "mixed":
        converted = _from_mixed_numbers(
            col, frozenset(["int", "float", "non-integer float"]), n, issues
        )
        if converted is None:
            return None
        col = converted
    if col.kind == "null":
        return np.full(n, np.nan, dtype=target)
    if col.kind not in ("int", "float"):
        issues.append(_type_issue(col.label, _all_rows(col, n)))
        return None
    out = col.values.astype(target, copy=False)
    if col.mask is not None and col.kind != "float":
        out = out.copy()
        out[col.mask] = np.nan
    return out


def _to_bool(col: _Column, nullable: bool, n: int, issues: list[_Issue]) -> Any:
    if col.kind == "mixed":
        mask, issue = _mixed_issue(col, frozenset(["bool"]), n)
        if issue is not None:
            issues.append(issue)
            return None
        col = _Column("bool", "bool", np.where(mask, False, col.values).astype(np.bool_), col.mask)
    if col.kind == "null":
        return pd.array([None] * n, dtype="boolean")
    if col.kind != "bool":
        issues.append(_type_issue(col.label, _all_rows(col, n)))
        return None
    if col.mask is not None:
        return pd.arrays.BooleanArray(col.values, col.mask) if nullable else None
    return col.values


def _to_string(col: _Column, n: int, issues: list[_Issue]) -> Any:
    if col.kind == "mixed":
        _, issue = _mixed_issue(col, frozenset(["string"]), n)
        if issue is not None:
            issues.append(issue)
            return None
        return col.values
    if col.kind in ("string", "null"):
        return col.values
    issues.append(_type_issue(col.label, _all_rows(col, n)))
    return None


def _to_datetime(col: _Column, n: int, issues: list[_Issue]) -> Any:
    if col.kind == "mixed":
        _, issue = _mixed_issue(col, frozenset(["datetime"]), n)
        if issue is not None:
            issues.append(issue)
            return None
        try:
            return pd.to_datetime(pd.Series(col.values)).array
        except (TypeError, ValueError):
            issues.append(_type_issue("mixed time zones", _all_rows(col, n)))
            return None
    if col.kind == "null":
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if col.kind == "datetime":
        return col.values
    issues.append(_type_issue(col.label, _all_rows(col, n)))
    return None


# -- reporting --------------------------------------------------------------------------------


def _detail(column: str | None, expected: str, issue: _Issue, unit: str) -> dict[str, Any]:
    rows = int(issue.mask.sum())
    total = len(issue.mask)
    first = int(issue.mask.argmax())
    where = f"in {rows} of {total} {unit} (first at {unit[:-1]} {first})"
    name = "" if column is None else f"{column!r} "
    if issue.kind == "null":
        message = f"{name}is not nullable, got null {where}"
    else:
        message = f"{name}expected {expected}, got {issue.got} {where}"
    return {
        "column": column,
        "problem": issue.kind,
        "expected": expected,
        "got": issue.got,
        "rows": rows,
        "of": total,
        "first_row": first,
        "message": message,
    }


def _mismatch(details: list[dict[str, Any]], tensor: bool = False) -> SignatureMismatch:
    parts = "; ".join(d["message"] for d in details)
    if tensor:
        return SignatureMismatch(
            f"the input does not match the model's signature: {parts}", details=details
        )
    columns = len({d["column"] for d in details})
    verb = "column does" if columns == 1 else "columns do"
    return SignatureMismatch(
        f"{columns} {verb} not match the model's signature: {parts}", details=details
    )


def _not_a_table(data: Any, expected: str) -> SignatureMismatch:
    return SignatureMismatch(
        f"predict takes a pandas DataFrame, a pyarrow Table, a numpy array or a list of dicts "
        f"({expected}); got {type(data).__name__}",
        details=[{"column": None, "problem": "input", "got": type(data).__name__}],
    )


# -- tables -----------------------------------------------------------------------------------


def _fast_check(spec: ColSpec) -> Callable[[Any], bool]:
    """A cheap test that a column array already is what the signature asks (no conversion)."""
    type_, nullable = spec.type, spec.nullable
    if type_ in _FLOAT_TYPES:
        ft = numpy_dtype(type_)
        if nullable:
            return lambda a: a.dtype == ft  # type: ignore[no-any-return]
        return lambda a: a.dtype == ft and not np.isnan(a).any()  # type: ignore[no-any-return]
    if type_ in _INT_TYPES or type_ == "bool":
        it = numpy_dtype(type_)
        return lambda a: a.dtype == it  # type: ignore[no-any-return]
    if type_ == "string":

        def string_ok(a: Any) -> bool:
            dt = a.dtype
            if isinstance(dt, pd.StringDtype):
                return nullable or not a.isna().any()
            if dt == np.dtype(object) and pd.api.types.infer_dtype(a, skipna=True) == "string":
                return nullable or not pd.isna(a).any()
            return False

        return string_ok

    def datetime_ok(a: Any) -> bool:
        dt = a.dtype
        if (isinstance(dt, np.dtype) and dt.kind == "M") or isinstance(dt, pd.DatetimeTZDtype):
            return nullable or not pd.isna(a).any()
        return False

    return datetime_ok


class TableValidator:
    """Checks and converts a table to the signature's columns, in the signature's order."""

    def __init__(self, columns: Sequence[ColSpec]) -> None:
        self.specs = list(columns)
        self.names = [c.name for c in self.specs]
        self._checks = [_fast_check(c) for c in self.specs]
        # per position: the numpy dtype a number/bool column must already have, and whether a
        # NaN must be looked for (a float column that is not nullable)
        self._dtypes: list[np.dtype[Any] | None] = [
            numpy_dtype(c.type) if c.type in _INT_TYPES | _FLOAT_TYPES | {"bool"} else None
            for c in self.specs
        ]
        self._nan = [c.type in _FLOAT_TYPES and not c.nullable for c in self.specs]
        self._positions = range(len(self.specs))
        self._seen: pd.Index | None = None  # the last columns object that matched, by identity

    def __call__(self, data: Any) -> pd.DataFrame:
        if type(data) is pd.DataFrame:
            if self._matches(data):
                return data
            return self._convert(data)
        return self._convert(self._to_frame(data))

    def _matches(self, df: pd.DataFrame) -> bool:
        """True when ``df`` already is what the signature asks: same columns in the same order,
        the exact dtypes, no null where none is allowed. False sends it to the slow path, which
        decides; so a check here may be stricter than needed, never looser."""
        columns = df.columns
        if columns is not self._seen:
            if len(columns) != len(self.names) or columns.tolist() != self.names:
                return False
            self._seen = columns  # pandas Index objects are immutable
        try:
            blocks = df._mgr.blocks
        except AttributeError:
            return self._matches_by_column(df)
        for block in blocks:
            values = block.values
            locs = block.mgr_locs.indexer
            positions = self._positions[locs] if isinstance(locs, slice) else locs
            if type(values) is np.ndarray and values.dtype.kind in "iufb":
                dtype = values.dtype
                strict = []  # rows of the block that must hold no NaN
                for i, p in enumerate(positions):
                    if self._dtypes[p] != dtype:
                        return False
                    if self._nan[p]:
                        strict.append(i)
                if not strict:
                    continue
                # one check for the whole block when no column in it may hold NaN
                if len(strict) == len(values):
                    if np.isnan(values).any():
                        return False
                elif any(np.isnan(values[i]).any() for i in strict):
                    return False
            elif values.ndim == 2:  # objects: one row of the block per column
                for i, p in enumerate(positions):
                    if not self._checks[p](values[i]):
                        return False
            elif not self._checks[positions[0]](values):  # an extension array: one column
                return False
        return True

    def _matches_by_column(self, df: pd.DataFrame) -> bool:
        if _iter_column_arrays is None:
            return False
        for check, array in zip(self._checks, _iter_column_arrays(df), strict=True):
            if not check(array):
                return False
        return True

    def _to_frame(self, data: Any) -> pd.DataFrame:
        expected = f"columns {', '.join(map(repr, self.names))}"
        if type(data).__module__.startswith("pyarrow") and type(data).__name__ == "Table":
            return data.to_pandas()  # type: ignore[no-any-return]
        if isinstance(data, pd.DataFrame):
            return data
        if isinstance(data, pd.Series):
            name = data.name if data.name is not None else self.names[0]
            return data.to_frame(name)
        if isinstance(data, np.ndarray):
            if data.dtype.names:
                return pd.DataFrame(data)
            if data.ndim == 2 and data.shape[1] == len(self.names):
                return pd.DataFrame(data, columns=self.names)  # by position
            if data.ndim == 1 and len(self.names) == 1:
                return pd.DataFrame({self.names[0]: data})
            raise SignatureMismatch(
                f"the model takes a table with {len(self.names)} columns ({expected}); got an "
                f"array of shape {data.shape}",
                details=[{"column": None, "problem": "shape", "got": list(data.shape)}],
            )
        if isinstance(data, Mapping):
            try:
                return pd.DataFrame(dict(data))
            except ValueError as exc:
                raise SignatureMismatch(
                    f"the columns given do not make a table: {exc}",
                    details=[{"column": None, "problem": "input", "got": str(exc)}],
                ) from None
        if isinstance(data, Sequence) and not isinstance(data, str | bytes):
            if all(isinstance(row, Mapping) for row in data):
                return pd.DataFrame(list(data), columns=None if data else self.names)
            try:  # rows as lists; object keeps numbers apart from strings
                rows = np.asarray(data, dtype=object)
            except ValueError:
                raise _not_a_table(data, expected) from None
            if rows.ndim == 2:
                return self._to_frame(rows)
        raise _not_a_table(data, expected)

    def _convert(self, df: pd.DataFrame) -> pd.DataFrame:
        n = len(df)
        columns = df.columns
        counts = columns.value_counts() if columns.has_duplicates else None
        details: list[dict[str, Any]] = []
        out: dict[str, Any] = {}
        for spec in self.specs:
            name = spec.name
            if name not in columns:
                details.append(
                    {"column": name, "problem": "missing", "message": f"{name!r} is missing"}
                )
                continue
            if counts is not None and counts[name] > 1:
                details.append(
                    {
                        "column": name,
                        "problem": "duplicate",
                        "message": f"{name!r} appears {counts[name]} times",
                    }
                )
                continue
            values, issues = _convert(_normalize(df[name]), spec.type, spec.nullable, n)
            if issues:
                details.extend(_detail(name, spec.type, issue, "rows") for issue in issues)
            else:
                out[name] = values
        if details:
            raise _mismatch(details)
        return pd.DataFrame(out, index=df.index, copy=False)


# -- tensors ----------------------------------------------------------------------------------


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class TensorValidator:
    """Checks and converts an array to the signature's dtype and shape."""

    def __init__(self, spec: TensorSpec) -> None:
        self.spec = spec
        self.dtype = numpy_dtype(spec.dtype)
        self.ndim = len(spec.shape)
        self.fixed = tuple((i, d) for i, d in enumerate(spec.shape) if d != -1)

    def __call__(self, data: Any) -> np.ndarray:
        if type(data) is np.ndarray and data.dtype == self.dtype and data.ndim == self.ndim:
            shape = data.shape
            for i, d in self.fixed:
                if shape[i] != d:
                    break
            else:
                return data
        return self._convert(data)

    def _to_array(self, data: Any) -> np.ndarray:
        if isinstance(data, np.ndarray):
            return data
        if type(data).__module__.startswith("pyarrow") and type(data).__name__ == "Table":
            data = data.to_pandas()
        if isinstance(data, pd.DataFrame | pd.Series):
            return np.asarray(data.to_numpy())
        if isinstance(data, Sequence) and not isinstance(data, str | bytes):
            if data and all(isinstance(row, Mapping) for row in data):
                return np.asarray(pd.DataFrame(list(data)).to_numpy())
            try:
                return np.asarray(data)
            except ValueError as exc:  # ragged nested lists
                raise SignatureMismatch(
                    f"the input is not a rectangular array: {exc}",
                    details=[{"column": None, "problem": "shape", "got": str(exc)}],
                ) from None
        if hasattr(data, "__array__"):
            return np.asarray(data)
        raise _not_a_table(data, f"an array of {self.spec.dtype}")

    def _convert(self, data: Any) -> np.ndarray:
        arr = self._to_array(data)
        expected = self.spec.dtype
        details: list[dict[str, Any]] = []
        shape_ok = arr.ndim == self.ndim and all(arr.shape[i] == d for i, d in self.fixed)
        if not shape_ok:
            details.append(
                {
                    "column": None,
                    "problem": "shape",
                    "expected": list(self.spec.shape),
                    "got": list(arr.shape),
                    "message": f"expected shape {_shape_text(self.spec.shape)}, "
                    f"got {_shape_text(arr.shape)}",
                }
            )
        out = arr
        if arr.dtype != self.dtype and arr.ndim > 0:
            flat = pd.Series(arr.reshape(-1))
            # Tensors hold no nulls, except as NaN in floats (and None in strings).
            nullable = expected in _FLOAT_TYPES or expected in ("string", "datetime")
            values, issues = _convert(_normalize(flat), expected, nullable, len(flat))
            rows = arr.shape[0]
            for issue in issues:
                per_row = np.asarray(
                    issue.mask.reshape(rows, -1).any(axis=1) if rows else issue.mask
                )
                details.append(_detail(None, expected, issue._replace(mask=per_row), "rows"))
            if not issues:
                out = np.asarray(values, dtype=self.dtype).reshape(arr.shape)
        if details:
            raise _mismatch(details, tensor=True)
        return out


def _pass_through(data: Any) -> Any:
    """No signature: tables of other kinds become DataFrames, the rest goes to the model as is."""
    if isinstance(data, pd.DataFrame | np.ndarray):
        return data
    if type(data).__module__.startswith("pyarrow") and type(data).__name__ == "Table":
        return data.to_pandas()
    if isinstance(data, Mapping):
        return pd.DataFrame(dict(data))
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        return pd.DataFrame(data)
    return data


def make_input_validator(spec: Spec | None) -> Validator:
    """The function ``predict`` runs on its input: check, convert, and order the columns."""
    if spec is None:
        return _pass_through
    if isinstance(spec, TensorSpec):
        return TensorValidator(spec)
    return TableValidator(spec)


# -- outputs ----------------------------------------------------------------------------------


def _to_numpy(out: Any) -> np.ndarray:
    if isinstance(out, np.ndarray):
        return out
    if isinstance(out, pd.DataFrame | pd.Series):
        return np.asarray(out.to_numpy())
    detach = getattr(out, "detach", None)  # a torch tensor
    if detach is not None:
        return np.asarray(detach().cpu().numpy())
    return np.asarray(out)


def _as_frame(out: Any, names: Sequence[str] | None) -> pd.DataFrame:
    if isinstance(out, pd.DataFrame):
        return out
    if isinstance(out, pd.Series):
        name = out.name if out.name is not None else (names[0] if names else "prediction")
        return out.to_frame(name)
    arr = _to_numpy(out)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if names is not None and arr.ndim == 2 and arr.shape[1] == len(names):
        return pd.DataFrame(arr, columns=list(names))
    return pd.DataFrame(arr)


def _default_output(out: Any) -> Any:
    if isinstance(out, pd.DataFrame):
        return out
    if isinstance(out, pd.Series):
        return _as_frame(out, None)
    return _to_numpy(out)


def make_output_shaper(spec: Spec | None) -> Callable[[Any], Any]:
    """The function ``predict`` runs on the model's result.

    Tabular outputs (a column list in the signature) come back as a DataFrame; tensor outputs as
    a numpy array; without an output signature, a DataFrame or Series result as a DataFrame and
    anything else as a numpy array.
    """
    if spec is None:
        return _default_output
    if isinstance(spec, TensorSpec):
        return _to_numpy
    names = [c.name for c in spec]
    return lambda out: _as_frame(out, names)
