"""Reading a table's columns for profiles and drift: one vectorized pass per column.

A pandas DataFrame or a pyarrow Table becomes, column by column, either numbers (float64, nulls
removed, infinities kept and counted by the caller) or exact value counts (string keys). Every
column gets a *kind*:

- ``numeric``: integer, float and decimal columns (and timedeltas, as nanoseconds);
- ``datetime``: timestamps and dates, as int64 nanoseconds since the epoch (UTC);
- ``boolean``: booleans, counted as the keys ``"True"`` and ``"False"``;
- ``categorical``: strings, pandas categoricals and anything else, as the string form of each
  value. An object column that mixes types (``1`` and ``"a"``) is read this way too, with a
  warning that names the types.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mloop.errors import InvalidData

Kind = Literal["numeric", "datetime", "boolean", "categorical"]
KINDS: tuple[Kind, ...] = ("numeric", "datetime", "boolean", "categorical")


@dataclass
class NumericColumn:
    """The non-null values of a numeric or datetime column (infinities included)."""

    name: str
    kind: Kind
    dtype: str
    values: npt.NDArray[np.float64]
    rows: int
    nulls: int
    integer: bool
    warnings: list[str] = field(default_factory=list)


@dataclass
class CountsColumn:
    """Exact value counts of a categorical or boolean column (nulls apart)."""

    name: str
    kind: Kind
    dtype: str
    keys: npt.NDArray[Any]  # object array of str, distinct
    counts: npt.NDArray[np.int64]
    rows: int
    nulls: int
    warnings: list[str] = field(default_factory=list)


Column = NumericColumn | CountsColumn


def column_names(table: Any) -> list[str]:
    """The column names of a pandas DataFrame or pyarrow Table, as strings."""
    table = _check_table(table)
    if _is_pandas(table):
        return [str(c) for c in table.columns]
    return [str(c) for c in table.column_names]


def n_rows(table: Any) -> int:
    _check_table(table)
    return len(table) if _is_pandas(table) else int(table.num_rows)


def _is_pandas(table: Any) -> bool:
    # A DataFrame exists only once pandas is imported: reading Arrow tables never imports it.
    # While another thread imports pandas the module is there but partly initialized; a
    # DataFrame cannot exist before it has its DataFrame class.
    frame = getattr(sys.modules.get("pandas"), "DataFrame", None)
    return frame is not None and isinstance(table, frame)


def _check_table(table: Any) -> Any:
    if _is_pandas(table):
        if table.columns.has_duplicates:
            dup = sorted({str(c) for c in table.columns[table.columns.duplicated()]})
            raise InvalidData(f"duplicate column names: {', '.join(dup)}; rename them first")
        return table
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pa = None
    if pa is not None and isinstance(table, pa.Table):
        return table
    if getattr(type(table), "lazy_columns", False):  # _files.ParquetColumns (no import cycle)
        return table
    raise InvalidData(
        f"expected a pandas DataFrame or a pyarrow Table, got {type(table).__name__}; "
        "load files with pandas.read_csv or pandas.read_parquet first"
    )


def check_columns(table: Any, names: Sequence[str]) -> None:
    """Raise :class:`InvalidData` naming every one of ``names`` that ``table`` lacks."""
    available = column_names(table)
    have = set(available)
    missing = [str(n) for n in names if str(n) not in have]
    if missing:
        raise InvalidData(
            f"column(s) not in the table: {', '.join(missing)} "
            f"(it has {len(available)}: {', '.join(available[:10])}"
            f"{', ...' if len(available) > 10 else ''})"
        )


def read_columns(table: Any, names: Sequence[str] | None = None) -> dict[str, Column]:
    """Read ``names`` (default: all) from ``table``; unknown names raise :class:`InvalidData`."""
    _check_table(table)
    available = column_names(table)
    wanted = list(available) if names is None else [str(n) for n in names]
    check_columns(table, wanted)
    if _is_pandas(table):
        by_name = {str(c): c for c in table.columns}
        return {n: read_pandas(n, table[by_name[n]]) for n in wanted}
    return {n: read_arrow(n, table.column(n)) for n in wanted}


# -- pandas -----------------------------------------------------------------------------------


def read_pandas(name: str, s: Any) -> Column:
    """One pandas Series as a numeric or counts column."""
    import pandas as pd
    from pandas.api import types as pt

    dtype = s.dtype
    rows = len(s)
    dname = str(dtype)
    if pt.is_bool_dtype(dtype):
        return _bool_counts(name, dname, s, rows)
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(s.cat.codes, dtype=np.int64)
        counts = np.bincount(codes + 1, minlength=len(dtype.categories) + 1).astype(np.int64)
        keys = np.asarray([str(c) for c in dtype.categories], dtype=object)
        present = counts[1:] > 0
        return _counts(name, "categorical", dname, keys[present], counts[1:][present], rows)
    if pt.is_datetime64_any_dtype(dtype):
        values = s
        if getattr(dtype, "tz", None) is not None:
            values = s.dt.tz_convert("UTC").dt.tz_localize(None)
        ns = np.asarray(values.to_numpy(dtype="datetime64[ns]")).view(np.int64)
        ok = ns != np.iinfo(np.int64).min
        return NumericColumn(
            name, "datetime", dname, ns[ok].astype(np.float64), rows, rows - int(ok.sum()), True
        )
    if pt.is_timedelta64_dtype(dtype):
        ns = np.asarray(s.to_numpy(dtype="timedelta64[ns]")).view(np.int64)
        ok = ns != np.iinfo(np.int64).min
        col = NumericColumn(
            name, "numeric", dname, ns[ok].astype(np.float64), rows, rows - int(ok.sum()), True
        )
        col.warnings.append("durations read as nanoseconds")
        return col
    if pt.is_numeric_dtype(dtype) and not pt.is_complex_dtype(dtype):
        integer = pt.is_integer_dtype(dtype)
        if isinstance(dtype, np.dtype):
            arr = s.to_numpy()
            values = arr if arr.dtype == np.float64 else arr.astype(np.float64)
        else:  # nullable extension types (Int64, Float64, pyarrow-backed)
            values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return _numeric(name, "numeric", dname, values, rows, integer)
    if pt.is_string_dtype(dtype) and not pt.is_object_dtype(dtype):
        return _string_counts(name, dname, s, rows)
    return _object(name, dname, s, rows)


def _numeric(
    name: str, kind: Kind, dname: str, values: npt.NDArray[np.float64], rows: int, integer: bool
) -> NumericColumn:
    nan = np.isnan(values)
    nulls = int(np.count_nonzero(nan))
    if nulls:
        values = values[~nan]
    return NumericColumn(name, kind, dname, values, rows, nulls, integer)


def _counts(
    name: str,
    kind: Kind,
    dname: str,
    keys: npt.NDArray[Any],
    counts: npt.NDArray[np.int64],
    rows: int,
    warnings: list[str] | None = None,
) -> CountsColumn:
    counts = np.asarray(counts, dtype=np.int64)
    nulls = rows - int(counts.sum())
    return CountsColumn(name, kind, dname, keys, counts, rows, nulls, warnings or [])


def _bool_counts(name: str, dname: str, s: Any, rows: int) -> CountsColumn:
    values = s.to_numpy(dtype=object, na_value=None) if not isinstance(s.dtype, np.dtype) else s
    arr = np.asarray(values)
    if arr.dtype == bool:
        n_true = int(np.count_nonzero(arr))
        n_false = arr.size - n_true
    else:
        n_true = int(np.sum(arr == True))  # noqa: E712 - object array with None
        n_false = int(np.sum(arr == False))  # noqa: E712
    keys = np.asarray(["False", "True"], dtype=object)
    counts = np.asarray([n_false, n_true], dtype=np.int64)
    present = counts > 0
    return _counts(name, "boolean", dname, keys[present], counts[present], rows)


def _string_counts(name: str, dname: str, s: Any, rows: int) -> CountsColumn:
    import pyarrow as pa

    try:
        arr = pa.array(s)
    except (pa.ArrowException, TypeError, ValueError):
        vc = s.value_counts(dropna=True)
        keys = np.asarray([str(k) for k in vc.index], dtype=object)
        return _counts(name, "categorical", dname, keys, vc.to_numpy(dtype=np.int64), rows)
    return _arrow_counts(name, "categorical", dname, arr, rows)


def _arrow_counts(name: str, kind: Kind, dname: str, arr: Any, rows: int) -> CountsColumn:
    import pyarrow as pa
    import pyarrow.compute as pc

    vc = None
    if pa.types.is_dictionary(arr.type):
        try:  # counted by dictionary index: no string is materialized
            if getattr(arr, "num_chunks", 1) > 1:
                arr = arr.unify_dictionaries()
            vc = pc.value_counts(arr)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            arr = arr.cast(arr.type.value_type)
    if vc is None:
        vc = pc.value_counts(arr)
    vc = vc.filter(vc.field("values").is_valid())
    values = vc.field("values")
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    counts = arrow_numpy(vc.field("counts"), np.int64)
    keys = np.empty(len(values), dtype=object)
    keys[:] = values.to_pylist()
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        keys = np.asarray([str(k) for k in keys], dtype=object)
    return _counts(name, kind, dname, keys, counts, rows)


def _object(name: str, dname: str, s: Any, rows: int) -> Column:
    import pandas as pd
    from pandas.api import types as pt

    inferred = pt.infer_dtype(s, skipna=True)
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return _numeric(name, "numeric", dname, values, rows, inferred == "integer")
    if inferred == "boolean":
        return _bool_counts(name, dname, s, rows)
    if inferred in ("datetime64", "datetime", "date"):
        try:
            converted = pd.to_datetime(s, utc=True)
        except (TypeError, ValueError):
            pass
        else:
            col = read_pandas(name, converted)
            col.dtype = dname
            return col
    vc = s.value_counts(dropna=True)
    warnings: list[str] = []
    if inferred in ("string", "empty"):
        keys = np.asarray(vc.index.to_numpy(dtype=object), dtype=object)
        counts = vc.to_numpy(dtype=np.int64)
    else:
        # Mixed or exotic values: count their string forms, and say which types were mixed.
        types = sorted({type(v).__name__ for v in vc.index})
        if len(types) > 1:
            warnings.append(
                f"mixed types in one column ({', '.join(types)}): "
                "profiled as categorical of their string forms"
            )
        else:
            warnings.append(f"values of type {types[0]}: profiled by their string forms")
        as_str = pd.Series(vc.to_numpy(dtype=np.int64), index=[str(k) for k in vc.index])
        grouped = as_str.groupby(level=0, sort=False).sum()
        keys = np.asarray(grouped.index.to_numpy(dtype=object), dtype=object)
        counts = grouped.to_numpy(dtype=np.int64)
    return _counts(name, "categorical", dname, keys, counts, rows, warnings)


# -- pyarrow ----------------------------------------------------------------------------------


def arrow_numpy(arr: Any, dtype: type[np.float64] | type[np.int64]) -> npt.NDArray[Any]:
    """A null-free float64 or int64 Arrow array (or chunked array) as a numpy array, read from
    its buffer: pyarrow's own ``to_numpy`` imports pandas, a second of CPU in a fresh process."""
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    if arr.null_count:
        raise ValueError("arrow_numpy takes arrays without nulls")
    dt = np.dtype(dtype)
    buf = arr.buffers()[1]
    if buf is None or len(arr) == 0:
        return np.empty(0, dtype=dt)
    return np.frombuffer(buf, dtype=dt, count=len(arr), offset=arr.offset * dt.itemsize)


def read_arrow(name: str, col: Any) -> Column:
    """One pyarrow ChunkedArray as a numeric or counts column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    rows = len(col)
    dname = str(t)
    if pa.types.is_dictionary(t):
        t = t.value_type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return _arrow_counts(name, "categorical", dname, col, rows)
        col = col.cast(t)
    if pa.types.is_boolean(t):
        n_true = int(pc.sum(col).as_py() or 0)
        n_false = rows - col.null_count - n_true
        keys = np.asarray(["False", "True"], dtype=object)
        counts = np.asarray([n_false, n_true], dtype=np.int64)
        present = counts > 0
        return _counts(name, "boolean", dname, keys[present], counts[present], rows)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        values = arrow_numpy(pc.drop_null(col).cast(pa.float64()), np.float64)
        c = _numeric(name, "numeric", dname, values, rows, pa.types.is_integer(t))
        c.nulls += col.null_count
        return c
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        ns = arrow_numpy(pc.drop_null(col).cast(pa.timestamp("ns")).cast(pa.int64()), np.int64)
        return NumericColumn(
            name, "datetime", dname, np.asarray(ns, dtype=np.float64), rows, col.null_count, True
        )
    if pa.types.is_duration(t):
        ns = arrow_numpy(pc.drop_null(col).cast(pa.duration("ns")).cast(pa.int64()), np.int64)
        out = NumericColumn(
            name, "numeric", dname, np.asarray(ns, dtype=np.float64), rows, col.null_count, True
        )
        out.warnings.append("durations read as nanoseconds")
        return out
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _arrow_counts(name, "categorical", dname, col, rows)
    if pa.types.is_null(t):
        return _counts(
            name, "categorical", dname, np.empty(0, dtype=object), np.empty(0, np.int64), rows
        )
    # Binary, nested and other types: through pandas, as the string forms of the values.
    return _object(name, dname, col.to_pandas(), rows)
