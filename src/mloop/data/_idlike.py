"""Integer columns that identify rows rather than measure them: ``customer_id``, a row counter,
a hashed key.

Their values say nothing about the population, so the usual statistics mislead: a range
drafted from one batch fails every later batch (new customers get new, larger ids), and a
drift test flags them on a holdout drawn from the very same distribution. ``mloop data infer``
drafts ``unique: true`` for them instead of a range, and ``drift`` leaves them out, each with
the reason given here.

A column is ID-like when it holds integers, at least :data:`MIN_ROWS` of them, every one
distinct, and one of these holds:

- it increases (or decreases) strictly with the row: a row counter, an auto-increment key;
- its values are spread over a range far wider than any count (beyond ±2**31): a hash;
- its name says so: ``id``, ``customer_id``, ``userId``, ``uuid``, ``key``.

Checks run from the cheapest (the name, the extremes, one pass for monotonicity) to the
distinct count, which is computed only for the candidates.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import numpy as np

__all__ = ["MIN_ROWS", "id_like_column_reason", "id_like_name", "id_like_reason"]

#: Fewer rows than this decide nothing: ten distinct ages in ten rows are not ids.
MIN_ROWS = 20
#: Beyond this magnitude an integer is no count nor measure of ours but a hash or a key.
HASH_MAGNITUDE = 2**31

_ID_NAME = re.compile(r"(^|[_\-\s.])(id|uuid|guid|key)$|^(id|uuid|guid)([_\-\s.]|$)", re.I)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Uuid|UUID|Key)$")


def id_like_name(name: str) -> bool:
    """Whether a column's name reads as an identifier (``id``, ``user_id``, ``userId``)."""
    return bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))


def id_like_reason(name: str, values: np.ndarray) -> str | None:
    """Why the integer ``values`` (nulls already dropped) of column ``name`` look like row
    identifiers, or None when they do not."""
    if values.dtype.kind not in "iu" or values.size < MIN_ROWS:
        return None
    steps = np.diff(values)
    if (steps > 0).all() or (steps < 0).all():
        why = "increases with the row" if steps[0] > 0 else "decreases with the row"
    elif max(abs(int(values.min())), abs(int(values.max()))) >= HASH_MAGNITUDE:
        why = "spread beyond ±2**31 like a hash"
    elif id_like_name(name):
        why = "named like an id"
    else:
        return None
    # A strictly monotonic column is distinct already; the others are checked.
    if "with the row" not in why and np.unique(values).size != values.size:
        return None
    return f"ID-like: every one of {values.size:,} values distinct, {why}"


def id_like_column_reason(table: Any, name: str) -> str | None:
    """:func:`id_like_reason` of one column of a pandas DataFrame or a pyarrow Table; None for
    other sources (profiles keep no row order) and for non-integer columns."""
    import pyarrow as pa

    # A Table, or a source read a column at a time (_files.ParquetColumns).
    if isinstance(table, pa.Table) or getattr(type(table), "lazy_columns", False):
        column = table.column(name)
        if not pa.types.is_integer(column.type):
            return None
        import pyarrow.compute as pc

        from mloop.data._columns import arrow_numpy

        # pyarrow's own to_numpy imports pandas: read the int64 buffer instead.
        values = arrow_numpy(pc.cast(column.drop_null(), pa.int64(), safe=False), np.int64)
    else:
        pd = sys.modules.get("pandas")  # no DataFrame can exist before pandas is imported
        if pd is None or not isinstance(table, pd.DataFrame):
            return None
        series = table[name]
        if not pd.api.types.is_integer_dtype(series.dtype):
            return None
        values = series.dropna().to_numpy()
        if values.dtype == object:  # a nullable Int64 column
            values = values.astype(np.int64)
    return id_like_reason(name, np.asarray(values))
