"""The input example stored with a model: ``input_example.parquet`` for tables,
``input_example.json`` for arrays and JSON-friendly lists of dicts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.errors import InvalidArgument

__all__ = ["read_example", "write_example"]

PARQUET = "input_example.parquet"
JSON = "input_example.json"


def _is_arrow_table(data: Any) -> bool:
    return type(data).__module__.startswith("pyarrow") and type(data).__name__ == "Table"


def _json_ok(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def write_example(example: Any, folder: Path) -> str:
    """Write ``example`` into ``folder``; returns the file's name.

    Raises:
        InvalidArgument: the example is of a kind that cannot be stored.
    """
    if _is_arrow_table(example):
        import pyarrow.parquet as pq

        pq.write_table(example, folder / PARQUET)
        return PARQUET
    if isinstance(example, np.ndarray) and not example.dtype.names:
        values = example.astype(str) if example.dtype.kind == "M" else example
        doc = {"ndarray": values.tolist(), "dtype": example.dtype.str}
        if example.dtype == object and not all(_json_ok(v) for v in example.ravel()):
            raise InvalidArgument("an input example array must hold numbers, strings or bools")
        (folder / JSON).write_text(json.dumps(doc), encoding="utf-8")
        return JSON
    if (
        isinstance(example, Sequence)
        and not isinstance(example, str | bytes)
        and example
        and all(isinstance(row, Mapping) for row in example)
    ):
        if all(isinstance(k, str) and _json_ok(v) for row in example for k, v in row.items()):
            doc = {"records": [dict(row) for row in example]}
            (folder / JSON).write_text(json.dumps(doc), encoding="utf-8")
            return JSON
        example = pd.DataFrame(list(example))
    elif isinstance(example, np.ndarray | Mapping):
        example = pd.DataFrame(example)
    elif isinstance(example, Sequence) and not isinstance(example, str | bytes):
        return write_example(np.asarray(example), folder)
    if isinstance(example, pd.DataFrame):
        try:
            example.to_parquet(folder / PARQUET, index=False)
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(f"the input example cannot be stored as Parquet: {exc}") from exc
        return PARQUET
    raise InvalidArgument(
        "an input example is a pandas DataFrame, a pyarrow Table, a numpy array or a list of "
        f"dicts; got {type(example).__name__}"
    )


def read_example(path: Path) -> Any:
    """The example stored at ``path``: a DataFrame, a numpy array or a list of dicts."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    if "ndarray" in doc:
        return np.array(doc["ndarray"], dtype=np.dtype(doc["dtype"]))
    return doc["records"]
