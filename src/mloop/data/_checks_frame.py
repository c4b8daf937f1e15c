"""The table that checks run on: pandas values, Arrow types, and helpers shared by ``check`` and
``infer_checks``.

Every input becomes a pandas DataFrame with string column names and positional rows (row ``17``
is the 18th row, whatever the caller's index), plus the Arrow type of each column. A pandas
column whose values mix types has no Arrow type (``None``): checks then look at each value.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import InvalidArgument, InvalidData

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mloop.store import Store

MAX_TEXT = 200


@dataclass
class Frame:
    """A table ready for checks."""

    df: pd.DataFrame
    types: dict[str, pa.DataType | None]
    labels: pd.Index | None
    description: str

    @property
    def num_rows(self) -> int:
        return len(self.df)

    @property
    def num_columns(self) -> int:
        return len(self.df.columns)

    def label(self, row: int) -> Any:
        """The caller's index label of a row, when it differs from the row number."""
        return None if self.labels is None else plain(self.labels[row])


def prepare(data: Any, *, store: Store | None = None) -> Frame:
    """A :class:`Frame` from a DataFrame, an Arrow table, a Parquet or CSV path, a Dataset or a
    ``datasets:/`` URI.

    Raises:
        InvalidArgument: an unsupported input or a missing file.
        InvalidData: a table that cannot be read (the message names the column).
        DatasetNotFound: a dataset that does not exist.
    """
    import pandas as pd
    import pyarrow as pa

    from mloop.data._dataset import load, read_table

    if isinstance(data, pd.DataFrame):
        return _from_pandas(data, "DataFrame")
    if isinstance(data, str) and data.startswith("datasets:/"):
        return from_arrow(load(data, as_arrow=True, store=store), data)
    if hasattr(data, "name") and hasattr(data, "version") and hasattr(data, "digest"):
        table = load(data, as_arrow=True, store=store)
        return from_arrow(table, f"datasets:/{data.name}/{data.version}")
    if isinstance(data, pa.Table | pa.RecordBatch):
        return from_arrow(read_table(data), "table")
    if isinstance(data, str | os.PathLike):
        return from_arrow(read_table(data), Path(data).name)
    raise InvalidArgument(
        "expected a pandas DataFrame, a pyarrow Table, the path of a Parquet or CSV file, a "
        f"Dataset or a datasets:/ URI, got {type(data).__name__}"
    )


def _from_pandas(data: pd.DataFrame, description: str) -> Frame:
    import pandas as pd
    import pyarrow as pa

    names = [str(c) for c in data.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidData(
            f"column names must be unique; repeated: {', '.join(map(repr, dupes))}",
            details={"columns": dupes},
        )
    default = isinstance(data.index, pd.RangeIndex) and data.index.equals(pd.RangeIndex(len(data)))
    df = data.copy(deep=False)
    df.columns = pd.Index(names, dtype=object)
    labels = None if default else data.index
    df = df.reset_index(drop=True)
    types: dict[str, pa.DataType | None] = {}
    for name in names:
        try:
            types[name] = pa.array(df[name], from_pandas=True).type
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            types[name] = None  # mixed types: checked value by value
    return Frame(df=df, types=types, labels=labels, description=description)


def from_arrow(table: pa.Table, description: str) -> Frame:
    """A frame of an Arrow table: integers and booleans become pandas' nullable dtypes, so that a
    column with nulls keeps its type."""
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    names = table.column_names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidData(
            f"column names must be unique; repeated: {', '.join(map(repr, dupes))}",
            details={"columns": dupes},
        )
    df = table.to_pandas(types_mapper=mapping.get)
    df.columns = pd.Index([str(c) for c in df.columns], dtype=object)
    return Frame(
        df=df,
        types={f.name: f.type for f in table.schema},
        labels=None,
        description=description,
    )


# -- types -------------------------------------------------------------------------------------


def type_matches(expected: str, actual: pa.DataType) -> bool:
    """Whether an Arrow type satisfies a type name of the checks format."""
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(actual):
        if expected == "category":
            return True
        return type_matches(expected, actual.value_type)
    families: dict[str, Callable[[pa.DataType], bool]] = {
        "integer": t.is_integer,
        "float": t.is_floating,
        "number": lambda a: t.is_integer(a) or t.is_floating(a) or t.is_decimal(a),
        "string": lambda a: t.is_string(a) or t.is_large_string(a) or t.is_string_view(a),
        "bool": t.is_boolean,
        "timestamp": t.is_timestamp,
        "date": t.is_date,
        "category": t.is_dictionary,
        "binary": lambda a: t.is_binary(a) or t.is_large_binary(a) or t.is_fixed_size_binary(a),
        "float16": lambda a: a == pa.float16(),
        "float32": lambda a: a == pa.float32(),
        "float64": lambda a: a == pa.float64(),
    }
    if expected in families:
        return families[expected](actual)
    try:
        return bool(actual == pa.type_for_alias(expected))
    except (ValueError, KeyError):
        return False


def is_integer_type(expected: str) -> bool:
    return expected == "integer" or expected.startswith(("int", "uint"))


def is_float_type(expected: str) -> bool:
    return expected in ("float", "float16", "float32", "float64")


def value_fits(expected: str, value: Any) -> bool:
    """Whether one Python value (of a column that mixes types) fits a type name."""
    import numpy as np
    import pandas as pd

    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    is_float = isinstance(value, float | np.floating)
    if is_integer_type(expected):
        return is_int or (is_float and math.isfinite(value) and float(value).is_integer())
    if is_float_type(expected):
        return is_float or is_int
    if expected == "number":
        return is_int or is_float
    if expected == "string":
        return isinstance(value, str)
    if expected == "bool":
        return isinstance(value, bool | np.bool_)
    if expected == "timestamp":
        return isinstance(value, dt.datetime | pd.Timestamp | np.datetime64)
    if expected == "date":
        return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    if expected == "binary":
        return isinstance(value, bytes | bytearray)
    return False


def type_label(actual: pa.DataType | None) -> str:
    """How reports name a column's type: Arrow's name, ``string`` for any text type."""
    if actual is None:
        return "mixed types"
    text = str(actual)
    if text in ("large_string", "string_view"):
        return "string"
    if text == "double":
        return "float64"
    if text == "float":
        return "float32"
    return text


def python_kind(value: Any) -> str:
    """A short name of a value's kind, for messages about mixed columns."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


# -- values ------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A value as plain JSON data: numpy scalars unwrapped, NaN as None, infinities as
    ``"Infinity"``/``"-Infinity"``, times in ISO format, long text cut."""
    import numpy as np
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return plain(repr(bytes(value)))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return plain(str(value))


def show(value: Any) -> str:
    """A value as reports print it: text quoted, numbers as they are."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value in ("Infinity", "-Infinity"):  # an infinity made plain for JSON
        return "inf" if value == "Infinity" else "-inf"
    value = plain(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    return str(value)
