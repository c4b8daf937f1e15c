"""Signatures: what a model takes and returns, as typed columns or one tensor, and their inference.

A signature's ``inputs`` (and ``outputs``) is either a list of :class:`ColSpec` (a table: named,
typed columns that may or may not hold nulls) or one :class:`TensorSpec` (an n-dimensional array
of one dtype, ``-1`` for a dimension of any size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias, get_args

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mloop.errors import InvalidArgument

__all__ = [
    "TYPES",
    "ColSpec",
    "ColumnType",
    "Signature",
    "Spec",
    "TensorSpec",
    "infer_signature",
    "infer_spec",
    "numpy_dtype",
]

ColumnType: TypeAlias = Literal[
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "bool",
    "string",
    "datetime",
]
TYPES: tuple[str, ...] = get_args(ColumnType)

_NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    **{t: np.dtype(t) for t in TYPES[:11]},
    "bool": np.dtype(np.bool_),
    "string": np.dtype(object),
    "datetime": np.dtype("datetime64[ns]"),
}


def numpy_dtype(type_: str) -> np.dtype[Any]:
    """The numpy dtype that holds values of a signature type (``object`` for strings)."""
    return _NUMPY_DTYPES[type_]


class ColSpec(BaseModel):
    """One column of a table: its name, its type and whether it may hold nulls.

    Example::

        ColSpec(name="age", type="int64")
        ColSpec(name="city", type="string", nullable=True)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    type: ColumnType
    nullable: bool = False


class TensorSpec(BaseModel):
    """An n-dimensional array of one dtype; ``-1`` in ``shape`` is a dimension of any size.

    Example::

        TensorSpec(dtype="float32", shape=(-1, 4))  # any number of rows of 4 values
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dtype: ColumnType
    shape: tuple[int, ...]

    @field_validator("shape")
    @classmethod
    def _dims(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < -1 for d in shape):
            raise ValueError("a dimension is a size >= 0, or -1 for any size")
        return shape


Spec: TypeAlias = list[ColSpec] | TensorSpec


class Signature(BaseModel):
    """The inputs a model takes and, when known, the outputs it returns.

    Example::

        Signature(
            inputs=[ColSpec(name="age", type="int64"), ColSpec(name="income", type="float64")],
            outputs=TensorSpec(dtype="int64", shape=(-1,)),
        )
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[ColSpec] | TensorSpec
    outputs: list[ColSpec] | TensorSpec | None = None

    @field_validator("inputs", "outputs")
    @classmethod
    def _unique_columns(cls, spec: Spec | None) -> Spec | None:
        if isinstance(spec, list):
            if not spec:
                raise ValueError("a table needs at least one column")
            seen: set[str] = set()
            for col in spec:
                if col.name in seen:
                    raise ValueError(f"column {col.name!r} appears twice")
                seen.add(col.name)
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The signature as it is written to ``mloop-model.yaml``."""
        return self.model_dump(mode="json")


def infer_signature(input_example: Any, output: Any = None) -> Signature:
    """Infer a signature from an example of the input and, optionally, of the output.

    Tables (a pandas DataFrame, a pyarrow Table, a list of dicts, a dict of columns) give
    columns; a column is nullable when the example holds a null in it. A numpy array gives a
    tensor whose first dimension (the rows) is ``-1``.

    Args:
        input_example: a few representative rows.
        output: what the model returns for them (a DataFrame, Series or array).

    Raises:
        InvalidArgument: a column's type cannot be told (only nulls, or mixed types), a column
            name is not a string, or the example is of an unsupported kind.

    Example::

        sig = infer_signature(X.head(20), model.predict(X.head(20)))
    """
    return Signature(
        inputs=infer_spec(input_example, "input example"),
        outputs=None if output is None else infer_spec(output, "output"),
    )


def infer_spec(data: Any, what: str = "data") -> Spec:
    """The columns or the tensor that describe ``data``."""
    if isinstance(data, pd.DataFrame):
        return [_col_spec(name, data[name]) for name in _column_names(data.columns, what)]
    if isinstance(data, pd.Series):
        name = "prediction" if data.name is None else data.name
        return [_col_spec(_column_names(pd.Index([name]), what)[0], data)]
    if _is_arrow_table(data):
        return _arrow_spec(data, what)
    if isinstance(data, np.ndarray):
        if data.dtype.names:  # a structured array is a table
            return infer_spec(pd.DataFrame(data), what)
        return _tensor_spec(data, what)
    if isinstance(data, Mapping):
        return infer_spec(pd.DataFrame(dict(data)), what)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        if data and all(isinstance(row, Mapping) for row in data):
            return infer_spec(pd.DataFrame(list(data)), what)
        return _tensor_spec(np.asarray(data), what)
    if hasattr(data, "__array__"):  # a torch tensor, a keras output
        return _tensor_spec(np.asarray(data), what)
    raise InvalidArgument(
        f"cannot infer a signature from the {what}: expected a pandas DataFrame, a pyarrow "
        f"Table, a numpy array or a list of dicts, got {type(data).__name__}"
    )


def _is_arrow_table(data: Any) -> bool:
    return type(data).__module__.startswith("pyarrow") and type(data).__name__ == "Table"


def _column_names(columns: pd.Index, what: str) -> list[str]:
    bad = [c for c in columns if not isinstance(c, str) or not c]
    if bad:
        raise InvalidArgument(
            f"the {what} has column names that are not strings ({bad[0]!r}): name the columns, "
            "or pass a numpy array for a tensor input"
        )
    if columns.has_duplicates:
        dup = columns[columns.duplicated()][0]
        raise InvalidArgument(f"the {what} has the column {dup!r} twice")
    return list(columns)


def _numpy_type(dtype: np.dtype[Any]) -> str | None:
    if dtype.kind in "iuf" and dtype.name in _NUMPY_DTYPES:
        return dtype.name
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "US":
        return "string"
    if dtype.kind == "M":
        return "datetime"
    return None


# pandas' names for what an object column holds -> signature type.
_INFERRED = {
    "string": "string",
    "integer": "int64",
    "floating": "float64",
    "mixed-integer-float": "float64",
    "decimal": "float64",
    "boolean": "bool",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}


def _object_type(values: Any, what: str) -> str:
    kind = pd.api.types.infer_dtype(values, skipna=True)
    found = _INFERRED.get(kind)
    if found is not None:
        return found
    if kind == "empty":
        raise InvalidArgument(
            f"{what} holds only missing values, so its type cannot be inferred: "
            "add a value to the example, or pass a signature"
        )
    raise InvalidArgument(
        f"{what} holds values of mixed types ({kind}); give it one type, or pass a signature"
    )


def series_type(series: pd.Series) -> str | None:
    """The signature type of a pandas column, or None when it has none (objects not checked)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        return _numpy_type(dtype)
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime"
    numpy_dt = getattr(dtype, "numpy_dtype", None)  # masked (Int64, boolean) and Arrow dtypes
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_type(dtype.pyarrow_dtype)
    if isinstance(numpy_dt, np.dtype):
        return _numpy_type(numpy_dt)
    return None


def _col_spec(name: str, series: pd.Series) -> ColSpec:
    what = f"column {name!r}"
    nullable = bool(series.isna().any())
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(series.dtype.categories.dtype)
    type_ = series_type(series)
    if type_ is None:
        if series.dtype != object:
            raise InvalidArgument(f"{what} has the unsupported type {series.dtype}")
        type_ = _object_type(series, what)
    return ColSpec(name=name, type=type_, nullable=nullable)  # type: ignore[arg-type]


def _tensor_spec(array: np.ndarray, what: str) -> TensorSpec:
    if array.ndim == 0:
        raise InvalidArgument(f"the {what} is a single value, not rows: pass an array of rows")
    type_ = _numpy_type(array.dtype)
    if type_ is None:
        if array.dtype != object:
            raise InvalidArgument(f"the {what} has the unsupported dtype {array.dtype}")
        type_ = _object_type(array.ravel(), f"the {what}")
    return TensorSpec(dtype=type_, shape=(-1, *array.shape[1:]))  # type: ignore[arg-type]


def _arrow_type(pa_type: Any) -> str | None:
    import pyarrow as pa

    if pa.types.is_boolean(pa_type):
        return "bool"
    if pa.types.is_integer(pa_type) or pa.types.is_floating(pa_type):
        name = str(pa_type).replace("halffloat", "float16")
        name = {"float": "float32", "double": "float64"}.get(name, name)
        return name if name in _NUMPY_DTYPES else None
    if pa.types.is_string(pa_type) or pa.types.is_large_string(pa_type):
        return "string"
    if pa.types.is_string_view(pa_type):
        return "string"
    if pa.types.is_timestamp(pa_type) or pa.types.is_date(pa_type):
        return "datetime"
    if pa.types.is_dictionary(pa_type):
        return _arrow_type(pa_type.value_type)
    return None


def _arrow_spec(table: Any, what: str) -> list[ColSpec]:
    names = _column_names(pd.Index(table.column_names), what)
    cols = []
    for name, column in zip(names, table.columns, strict=True):
        type_ = _arrow_type(column.type)
        if type_ is None:
            raise InvalidArgument(f"column {name!r} has the unsupported Arrow type {column.type}")
        cols.append(ColSpec(name=name, type=type_, nullable=column.null_count > 0))  # type: ignore[arg-type]
    return cols
