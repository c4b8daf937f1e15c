"""Reading the prediction log: the rows of a model in a time window, with the late labels
joined by ``(request_id, row)``; the monitor's entry point."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mloop.errors import ArtifactNotFound, InvalidArgument
from mloop.monitor._feedback import FEEDBACK_DIR
from mloop.monitor._predformat import DAY_S, US, model_dir

if TYPE_CHECKING:
    from mloop.store._artifacts import ArtifactStore

__all__ = ["BASE_COLUMNS", "in_range", "read_predictions", "segment_files"]

BASE_COLUMNS = ["request_id", "row", "ts", "model", "version", "latency_ms", "shadow"]


def _to_us(when: Any, name: str) -> int | None:
    if when is None:
        return None
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            raise InvalidArgument(
                f"{name} must be a datetime, an ISO-8601 string or seconds since the epoch, got "
                f"{when!r}"
            ) from None
    if isinstance(when, datetime):
        moment = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        return int(moment.timestamp() * US)
    if isinstance(when, int | float) and not isinstance(when, bool) and math.isfinite(when):
        return int(when * US)
    raise InvalidArgument(
        f"{name} must be a datetime, an ISO-8601 string or seconds since the epoch, got "
        f"{type(when).__name__}"
    )


def segment_files(
    artifacts: ArtifactStore, folder: str, lo: int | None, hi: int | None
) -> list[str]:
    """The paths of the segments below ``folder`` that may hold rows with ``lo <= ts < hi``
    (times in microseconds), oldest first: the ``date=`` folders and the hour in a file's name
    (that of its earliest row) skip the files out of range."""
    try:
        partitions = artifacts.list(folder)
    except ArtifactNotFound:
        return []
    lo_day = None if lo is None else lo // (DAY_S * US)
    hi_day = None if hi is None else (hi - 1) // (DAY_S * US)
    paths: list[str] = []
    for part in sorted(partitions, key=lambda p: p.path):
        name = part.path.rsplit("/", 1)[-1]
        if not part.is_dir or not name.startswith("date="):
            continue
        try:
            day = int(datetime.strptime(name[5:], "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
        day //= DAY_S
        if (lo_day is not None and day < lo_day) or (hi_day is not None and day > hi_day):
            continue
        for info in sorted(artifacts.list(part.path), key=lambda p: p.path):
            file = info.path.rsplit("/", 1)[-1]
            if info.is_dir or not file.endswith(".parquet"):
                continue
            hour = int(file[:2]) if file[:2].isdigit() else 0
            if hi is not None and (day * DAY_S + hour * 3600) * US >= hi:
                continue  # its earliest row is past the window
            paths.append(info.path)
    return paths


def in_range(table: pa.Table, lo: int | None, hi: int | None) -> pa.Table:
    """The rows of ``table`` with ``lo <= ts < hi`` (microseconds; None leaves a side open)."""
    if lo is None and hi is None:
        return table
    ts = table.column("ts")
    keep = None
    if lo is not None:
        keep = pc.greater_equal(ts, pa.scalar(lo, ts.type))
    if hi is not None:
        below = pc.less(ts, pa.scalar(hi, ts.type))
        keep = below if keep is None else pc.and_(keep, below)
    return table.filter(keep)


#: Read whatever ``columns=`` asks: the reader needs them to filter, order and join.
_ALWAYS = ("request_id", "row", "ts", "shadow", "status", "error")


def _read_segments(
    artifacts: ArtifactStore,
    folder: str,
    lo: int | None,
    hi: int | None,
    columns: Sequence[str] | None = None,
) -> list[pa.Table]:
    """The rows with ``lo <= ts < hi`` of the segments below ``folder`` (only ``columns`` and
    the reader's own, when given: Parquet reads no other column's pages)."""
    tables: list[pa.Table] = []
    wanted = None if columns is None else set(columns).union(_ALWAYS)
    for path in segment_files(artifacts, folder, lo, hi):
        with artifacts.open(path) as f:
            if wanted is None:
                table = pq.read_table(f)
            else:
                segment = pq.ParquetFile(f)
                names = segment.schema_arrow.names
                table = segment.read(columns=[c for c in names if c in wanted])
            table = in_range(table, lo, hi)
        if table.num_rows:
            tables.append(table)
    return tables


def _concat(tables: list[pa.Table]) -> pd.DataFrame:
    """One frame of segments whose schemas differ (model versions): a missing column is null,
    ints widen to floats; a column whose types cannot be unified (a number and a string) is
    read as Python objects."""
    try:
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        types: dict[str, list[pa.DataType]] = {}
        for table in tables:
            for f in table.schema:
                types.setdefault(f.name, []).append(f.type)
        conflicts = [name for name, kinds in types.items() if not _unifiable(name, kinds)]
        rest = [t.drop_columns([c for c in conflicts if c in t.column_names]) for t in tables]
        frame = pa.concat_tables(rest, promote_options="permissive").to_pandas()
        for name in conflicts:
            values: list[Any] = []
            for t in tables:
                has = name in t.column_names
                values += t.column(name).to_pylist() if has else [None] * t.num_rows
            frame[name] = pd.Series(values, index=frame.index, dtype=object)
    inputs = [c for c in frame.columns if c == "input" or c.startswith("input.")]
    outputs = [c for c in frame.columns if c == "output" or c.startswith("output.")]
    others = [c for c in frame.columns if c not in BASE_COLUMNS + inputs + outputs]
    return frame[[c for c in BASE_COLUMNS if c in frame.columns] + inputs + outputs + others]


def _unifiable(name: str, kinds: list[pa.DataType]) -> bool:
    try:
        pa.unify_schemas([pa.schema([(name, k)]) for k in kinds], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    return True


def read_predictions(
    artifacts: ArtifactStore,
    model: str,
    start: datetime | float | str | None = None,
    end: datetime | float | str | None = None,
    *,
    prefix: str = "predictions",
    with_feedback: bool = True,
    failed: bool = False,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The logged prediction rows of ``model`` with ``start <= ts < end``, ordered by ``ts``.

    Args:
        artifacts: the store the log writes to.
        model: the served model's name.
        start, end: the window (datetimes, naive ones in UTC; ISO-8601 strings; or seconds
            since the epoch); None leaves that side open. Only the ``date=`` folders of the
            window are listed.
        prefix: the log's folder under the artifact root.
        with_feedback: join the labels (by request id and row; the latest wins) as ``label``
            (or ``label.<name>`` for named labels) and ``label_ts``. Labels are read from the
            window's start on, with no end: they come later than the predictions.
        failed: also return the rows of requests that failed (``status`` and ``error`` set,
            no output; never joined to labels). By default they are left out.
        columns: read only these log columns (``input.a``, ``output``, ...), besides
            ``request_id``, ``row``, ``ts`` and the columns that mark shadow copies and failed
            requests; a name no segment has is left out. Default: every column.

    Returns:
        One row per logged prediction row: ``request_id``, ``row``, ``ts`` (UTC), ``model``,
        ``version``, ``latency_ms``, ``shadow``, ``input.*``/``input``, ``output*``, labels.
        Columns of one version only are null in the rows of the others.

    Raises:
        InvalidArgument: ``start`` or ``end`` is not a time.
        StoreError: the artifact store failed.

    Example::

        frame = read_predictions(store, "churn", start="2026-11-27", end="2026-11-28")
        accuracy = (frame["output"] == frame["label"]).mean()
    """
    lo = _to_us(start, "start")
    hi = _to_us(end, "end")
    prefix = prefix.strip("/")
    tables = _read_segments(artifacts, model_dir(prefix, model), lo, hi, columns)
    if tables:
        frame = _concat(tables)
        # stable: the rows of one time keep the order they were logged in
        frame = frame.sort_values("ts", kind="stable", ignore_index=True)
        if "status" in frame.columns and not failed:
            frame = frame[frame["status"].isna()].drop(columns=["status", "error"], errors="ignore")
            frame = frame.reset_index(drop=True)
    else:
        frame = (
            pa.schema(
                [
                    ("request_id", pa.string()),
                    ("row", pa.int32()),
                    ("ts", pa.timestamp("us", tz="UTC")),
                    ("model", pa.string()),
                    ("version", pa.string()),
                    ("latency_ms", pa.float64()),
                    ("shadow", pa.bool_()),
                ]
            )
            .empty_table()
            .to_pandas()
        )
    if with_feedback:
        since = None if lo is None else lo - DAY_S * US  # a replica's clock may run ahead
        feedback = _read_segments(artifacts, f"{prefix}/{FEEDBACK_DIR}", since, None)
        if "status" in frame.columns:  # failed requests have no prediction to label
            ok = frame["status"].isna()
            joined = _join_feedback(frame[ok], feedback)
            rest = frame[~ok]
            frame = pd.concat([joined, rest], ignore_index=True)
            frame = frame.sort_values("ts", kind="stable", ignore_index=True)
        else:
            frame = _join_feedback(frame, feedback)
    return frame


def _join_feedback(frame: pd.DataFrame, tables: list[pa.Table]) -> pd.DataFrame:
    labels = None
    if tables and len(frame):
        fb = pa.concat_tables(tables).to_pandas()
        fb = fb[fb["request_id"].isin(frame["request_id"].unique())]
        if len(fb):
            keys = frame[["request_id", "row"]].drop_duplicates()
            has_row = fb["row"].notna()
            exact = fb[has_row].astype({"row": "int32"})
            exact = exact.merge(keys, on=["request_id", "row"])
            whole = fb[~has_row].drop(columns="row").merge(keys, on="request_id")
            both = pd.concat([exact, whole], ignore_index=True)
            both = both.sort_values("ts", kind="stable").drop_duplicates(
                ["request_id", "row"], keep="last"
            )
            labels = both.rename(columns={"ts": "label_ts"})
    if labels is None or not len(labels):
        out = frame.copy()
        out["label"] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        out["label_ts"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
        return out
    decoded = [orjson.loads(text) for text in labels["label"]]
    labels = labels.drop(columns="label")
    if all(isinstance(v, dict) for v in decoded):
        named = pd.DataFrame(decoded, index=labels.index)
        named.columns = [f"label.{c}" for c in named.columns]
        labels = pd.concat([labels, named], axis=1)
    else:
        labels["label"] = pd.Series(decoded, index=labels.index)
    label_columns = [c for c in labels.columns if c.startswith("label") and c != "label_ts"]
    labels = labels[["request_id", "row", *label_columns, "label_ts"]]
    return frame.merge(labels, on=["request_id", "row"], how="left")
