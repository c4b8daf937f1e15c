"""Drafting checks from a sample: ``infer_checks(data)`` and the commented YAML of
``mloop data infer``.

What is inferred, per column: the type; ``nullable: false`` when the sample has no nulls, else a
``max_null_share`` of twice the observed share (at least one point more); for numbers the
observed minimum and maximum widened by 10% of the range (never below 0 for non-negative
columns) and ``finite: true`` for floats without infinities; ``allowed`` values for text columns
of at most 20 distinct values that repeat; ``unique: true`` for id-like columns (integer or
text, every value distinct, and a name such as ``id``, ``user_id`` or ``uuid``, or text of at
least 20 distinct values). Integer columns that identify rows (every value distinct, and
increasing with the row, spread like a hash, or named like an id: see
:mod:`mloop.data._idlike`) get ``unique: true`` and no range. And for the table, a
``row_count`` of at least 1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from mloop.data._checks_frame import Frame, prepare, python_kind, type_label
from mloop.data._idlike import id_like_reason

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mloop.store import Store

DEFAULT_SAMPLE_ROWS = 1_000_000
MAX_ALLOWED = 20
MARGIN = 0.1
_ID_NAME = re.compile(r"(^|[_\-\s.])(id|uuid|guid|key)$|^(id|uuid|guid)([_\-\s.]|$)", re.I)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Uuid|UUID)$")
_COMMENT_COLUMN = 36


@dataclass
class Inferred:
    """Drafted checks, and a comment for each key saying what was observed."""

    checks: dict[str, Any]
    comments: dict[tuple[str, ...], str] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)


def infer_checks(
    data: Any,
    *,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    store: Store | None = None,
) -> dict[str, Any]:
    """Draft checks from a sample of a table, as the dict of the YAML format.

    The checks describe the sample: review them before relying on them. Running the drafted
    checks on the data they were drafted from passes.

    Args:
        data: a DataFrame, an Arrow table, a Parquet or CSV path, a Dataset or a
            ``datasets:/`` URI.
        sample_rows: rows drawn at random (with ``seed``) from larger tables.
        store: where ``datasets:/`` URIs are looked up.

    Example::

        checks = mloop.data.infer_checks("train.parquet")
        checks["columns"]["age"]   # {'type': 'int64', 'nullable': False, 'min': 0, 'max': 104}
    """
    return infer(prepare(data, store=store), sample_rows=sample_rows, seed=seed).checks


def infer_checks_yaml(
    data: Any,
    *,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    store: Store | None = None,
) -> str:
    """The drafted checks as YAML, with a comment on each line saying what was observed."""
    inferred = infer(prepare(data, store=store), sample_rows=sample_rows, seed=seed)
    return render_yaml(inferred)


def infer(frame: Frame, *, sample_rows: int = DEFAULT_SAMPLE_ROWS, seed: int = 0) -> Inferred:
    df = frame.df
    total = len(df)
    if total > sample_rows:
        df = df.sample(n=sample_rows, random_state=seed)
    n = len(df)
    out = Inferred(checks={})
    sampled = f"a sample of {n} of {total} rows" if n < total else f"{n} rows"
    out.header = [
        f"Checks drafted by `mloop data infer` from {sampled} of {frame.description}.",
        "They describe that sample: review each one before relying on it.",
    ]
    columns: dict[str, Any] = {}
    for name in df.columns:
        columns[name] = _column(out, name, df[name], frame.types.get(name), n)
    if columns:
        out.checks["columns"] = columns
    out.checks["table"] = {"row_count": {"min": 1 if total else 0}}
    out.comments[("table", "row_count", "min")] = f"observed {total} rows"
    return out


def _column(
    out: Inferred, name: str, series: pd.Series, actual: pa.DataType | None, n: int
) -> dict[str, Any]:
    import pyarrow as pa

    spec: dict[str, Any] = {}
    path = ("columns", name)

    def note(key: str, text: str) -> None:
        out.comments[(*path, key)] = text

    values = series.dropna()
    nulls = n - len(values)
    if actual is None:
        kinds = values.map(python_kind).value_counts()
        out.comments[path] = "mixes types: " + ", ".join(f"{k} ({c})" for k, c in kinds.items())
    else:
        type_name = _type_name(actual)
        if type_name is not None:
            spec["type"] = type_name
            note("type", f"Arrow type {type_label(actual)}")
    if n and nulls == n:
        out.comments[path] = f"entirely null in the {n} rows sampled"
        return spec
    if n:
        if nulls == 0:
            spec["nullable"] = False
            note("nullable", f"no nulls in {n} rows")
        else:
            share = nulls / n
            limit = min(1.0, _ceil(max(share * 2, share + 0.01), 2))
            spec["max_null_share"] = limit
            note("max_null_share", f"observed {nulls} nulls in {n} rows ({share:.2%})")
    if actual is None or not len(values):
        return spec
    t = pa.types
    id_like = id_like_reason(name, values.to_numpy()) if t.is_integer(actual) else None
    if id_like is not None:
        # No range: the next batch brings new ids, outside any range seen so far.
        spec["unique"] = True
        note("unique", f"{id_like}; no min/max drafted")
        return spec
    if (t.is_integer(actual) or t.is_floating(actual)) and not t.is_boolean(actual):
        _numbers(spec, note, values, integer=t.is_integer(actual))
    elif t.is_string(actual) or t.is_large_string(actual) or t.is_dictionary(actual):
        _allowed(spec, note, values)
    if (t.is_integer(actual) or t.is_string(actual) or t.is_large_string(actual)) and len(
        values
    ) >= 2:
        distinct = values.nunique()
        texty = not t.is_integer(actual)
        if distinct == len(values) and (_id_like(name) or (texty and distinct >= 20)):
            spec["unique"] = True
            note("unique", f"all {distinct} values distinct; looks like an id")
    return spec


def _numbers(spec: dict[str, Any], note: Any, values: pd.Series, *, integer: bool) -> None:
    import numpy as np

    array = values.to_numpy(dtype=float)
    finite = array[np.isfinite(array)]
    infinite = int(array.size - finite.size)
    if not integer:
        if infinite:
            spec_note = f"holds {infinite} infinite values; not refused"
            note("type", spec_note)
        else:
            spec["finite"] = True
            note("finite", "no infinite values")
    if not finite.size:
        return
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo
    margin = MARGIN * span if span > 0 else max(MARGIN * abs(lo), 1.0)
    low, high = lo - margin, hi + margin
    if lo >= 0:
        low = max(0.0, low)
    if hi <= 0:
        high = min(0.0, high)
    if integer:
        spec["min"], spec["max"] = math.floor(low), math.ceil(high)
    else:
        step = _step(margin)
        spec["min"] = _floor_to(low, step)
        spec["max"] = _ceil_to(high, step)
    shown_lo, shown_hi = (int(lo), int(hi)) if integer else (_g(lo), _g(hi))
    note("min", f"observed {shown_lo}, widened by 10% of the range")
    note("max", f"observed {shown_hi}, widened by 10% of the range")


def _allowed(spec: dict[str, Any], note: Any, values: pd.Series) -> None:
    counts = values.astype(str).value_counts()
    distinct = len(counts)
    if distinct <= MAX_ALLOWED and len(values) >= 2 * distinct:
        spec["allowed"] = sorted(counts.index.tolist())
        note("allowed", f"{distinct} distinct values in the sample")


def _type_name(actual: pa.DataType) -> str | None:
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(actual):
        return "category"
    if t.is_boolean(actual):
        return "bool"
    if t.is_integer(actual) or t.is_floating(actual):
        return type_label(actual)
    if t.is_string(actual) or t.is_large_string(actual) or t.is_string_view(actual):
        return "string"
    if t.is_timestamp(actual):
        return "timestamp"
    if t.is_date(actual):
        return "date"
    if t.is_decimal(actual):
        return "number"
    if t.is_binary(actual) or t.is_large_binary(actual):
        return "binary"
    return None


def _id_like(name: str) -> bool:
    return bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))


def _ceil(value: float, digits: int) -> float:
    factor: int = 10**digits
    return math.ceil(value * factor - 1e-9) / factor


def _step(margin: float) -> float:
    """A round step no larger than a tenth of the margin, so rounding keeps most of it."""
    if margin <= 0 or not math.isfinite(margin):
        return 1.0
    return float(10 ** math.floor(math.log10(margin / 10)))


def _floor_to(value: float, step: float) -> float:
    return _clean(math.floor(value / step) * step, step)


def _ceil_to(value: float, step: float) -> float:
    return _clean(math.ceil(value / step) * step, step)


def _clean(value: float, step: float) -> float:
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return float(round(value, digits)) + 0.0


def _g(value: float) -> str:
    return f"{value:.6g}"


# -- YAML --------------------------------------------------------------------------------------


def _dump(value: Any) -> str:
    """One YAML value on one line (flow style)."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=1 << 30, allow_unicode=True, sort_keys=False
    ).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")].strip()
    elif text.endswith("..."):
        text = text[: -len("...")].strip()
    return text


def _line(indent: int, key: str, value: str | None, comment: str | None) -> str:
    text = " " * indent + _dump(key) + ":" + ("" if value is None else f" {value}")
    if comment:
        pad = max(_COMMENT_COLUMN - len(text), 2)
        text += " " * pad + "# " + comment
    return text


def render_yaml(inferred: Inferred) -> str:
    """Drafted checks as YAML with comments; parsing it gives ``inferred.checks`` back."""
    lines = [f"# {h}" for h in inferred.header]
    comments = inferred.comments
    columns = inferred.checks.get("columns", {})
    if columns:
        lines.append("columns:")
        for name, spec in columns.items():
            path = ("columns", name)
            if not spec:
                lines.append(_line(2, name, "{}", comments.get(path)))
                continue
            lines.append(_line(2, name, None, comments.get(path)))
            for key, value in spec.items():
                lines.append(_line(4, key, _dump(value), comments.get((*path, key))))
    table = inferred.checks.get("table")
    if table:
        lines.append("table:")
        for key, value in table.items():
            if isinstance(value, dict):
                lines.append(_line(2, key, None, comments.get(("table", key))))
                for sub, sub_value in value.items():
                    lines.append(_line(4, sub, _dump(sub_value), comments.get(("table", key, sub))))
            else:
                lines.append(_line(2, key, _dump(value), comments.get(("table", key))))
    return "\n".join(lines) + "\n"
