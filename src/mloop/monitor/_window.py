"""A window of the prediction log as mergeable partials: one per segment, computed once and
stored beside the log, so that a monitor run over a long window reads only the segments that
are new since the last run.

A segment's partial holds what a monitor run needs that merges exactly or within a sketch's
error: its row count per version, its failed requests per version, the column profile of its
inputs (:func:`mloop.data.profile`: counts, moments and min/max exact; quantiles and
frequencies in mergeable sketches) and a fine histogram of the positive-class probability
(count and sum per bin, for confidence-based performance estimation). A run lists the
window's segments (names only), loads the partials it has, computes the missing ones from
their segments, and merges. Segments that left the window are simply no longer listed; a
segment that the window's start or end cuts is read and filtered each time, never cached
filtered.

Partials live under ``<prefix>/_partials/<model>/date=.../<segment>.partial``: the log's own
layout, so whatever expires old ``date=`` folders of the log can expire them too.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mloop.errors import ArtifactNotFound, InvalidArgument, InvalidData, StoreError
from mloop.monitor._predformat import model_dir
from mloop.monitor._predread import _to_us, in_range, segment_files

if TYPE_CHECKING:
    from datetime import datetime

    from mloop.data import Profile
    from mloop.store._artifacts import ArtifactStore

__all__ = [
    "PARTIALS_DIR",
    "PROBA_BINS",
    "PROBA_COLUMNS",
    "Engine",
    "SegmentPartial",
    "WindowProfile",
    "partial_of",
    "profile_segment",
    "window_profile",
]

logger = logging.getLogger("mloop.monitor")

#: The folder of the partials under the log's prefix (a model's folder never starts with "_").
PARTIALS_DIR = "_partials"
#: Prediction-log columns read as the probability of the positive class, in this order.
PROBA_COLUMNS = ("output.proba", "output.probability", "proba", "probability")
#: The columns of a failed request's rows (null in the rows of answered ones).
FAILURE_COLUMNS = ("status", "error")
#: Bins of the probability histogram: 0.5 is a bin edge, so counts above and below the
#: threshold are exact.
PROBA_BINS = 1000
#: Where the segments of a window are profiled: threads here, or Ray tasks.
Engine = Literal["local", "ray"]
_MAGIC = b"MLWP"
_FORMAT = 1
INPUT_PREFIX = "input."


@dataclass
class SegmentPartial:
    """What a monitor run needs of some rows of the log, in a form that merges."""

    min_ts: int | None = None  # microseconds; None when the rows are empty
    max_ts: int | None = None
    rows: int = 0  # logged prediction rows, shadow copies and failed requests left out
    versions: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # failed requests' rows per version
    profile: Profile | None = None  # of the inputs, under their own names
    proba_column: str | None = None
    proba_counts: np.ndarray | None = None
    proba_sums: np.ndarray | None = None

    def to_bytes(self) -> bytes:
        header: dict[str, Any] = {
            "format": _FORMAT,
            "min_ts": self.min_ts,
            "max_ts": self.max_ts,
            "rows": self.rows,
            "versions": self.versions,
            "errors": self.errors,
            "proba_column": self.proba_column,
        }
        arrays = b""
        if self.proba_counts is not None and self.proba_sums is not None:
            nz = np.flatnonzero(self.proba_counts)
            header["proba_bins"] = len(nz)
            arrays = (
                nz.astype("<i4").tobytes()
                + self.proba_counts[nz].astype("<i8").tobytes()
                + self.proba_sums[nz].astype("<f8").tobytes()
            )
        head = orjson.dumps(header)
        body = b"" if self.profile is None else self.profile.to_bytes()
        return _MAGIC + struct.pack("<II", len(head), len(arrays)) + head + arrays + body

    @classmethod
    def from_bytes(cls, blob: bytes) -> SegmentPartial | None:
        """The partial, or None for a blob of another format (it is then computed again)."""
        from mloop.data import Profile

        if blob[:4] != _MAGIC or len(blob) < 12:
            return None
        n_head, n_arrays = struct.unpack("<II", blob[4:12])
        header = orjson.loads(blob[12 : 12 + n_head])
        if header.get("format") != _FORMAT:
            return None
        out = cls(
            min_ts=header["min_ts"],
            max_ts=header["max_ts"],
            rows=header["rows"],
            versions=header["versions"],
            errors=header["errors"],
            proba_column=header["proba_column"],
        )
        at = 12 + n_head
        if "proba_bins" in header:
            k = header["proba_bins"]
            raw = blob[at : at + n_arrays]
            idx = np.frombuffer(raw[: 4 * k], "<i4")
            counts = np.zeros(PROBA_BINS, np.int64)
            sums = np.zeros(PROBA_BINS, np.float64)
            counts[idx] = np.frombuffer(raw[4 * k : 12 * k], "<i8")
            sums[idx] = np.frombuffer(raw[12 * k : 20 * k], "<f8")
            out.proba_counts, out.proba_sums = counts, sums
        body = blob[at + n_arrays :]
        out.profile = Profile.from_bytes(body) if body else None
        return out


@dataclass
class WindowProfile:
    """A window of the log, merged from its segments' partials."""

    rows: int
    versions: dict[str, int]
    errors: dict[str, int]
    profile: Profile | None
    proba_column: str | None
    proba_counts: np.ndarray | None
    proba_sums: np.ndarray | None
    #: Segments in the window; those read from the log in this run (new, or cut by the
    #: window's edges); the rows read.
    segments: int = 0
    segments_read: int = 0
    rows_read: int = 0

    def stats(self) -> dict[str, int]:
        return {
            "segments": self.segments,
            "segments_read": self.segments_read,
            "rows_read": self.rows_read,
        }


def _counts(table: pa.Table) -> dict[str, int]:
    if not table.num_rows or "version" not in table.column_names:
        return {}
    vc = pc.value_counts(table.column("version").combine_chunks())
    return {
        str(v): int(n)
        for v, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)
    }


def partial_of(table: pa.Table, *, proba_columns: Sequence[str] = PROBA_COLUMNS) -> SegmentPartial:
    """The partial of some rows of the log (a segment, or the part of one in a window)."""
    from mloop.data import profile

    out = SegmentPartial()
    if table.num_rows:
        ts = table.column("ts").cast(pa.int64())
        out.min_ts = int(pc.min(ts).as_py())
        out.max_ts = int(pc.max(ts).as_py())
    if "shadow" in table.column_names:
        shadow = pc.fill_null(table.column("shadow"), False)
        table = table.filter(pc.invert(shadow))
    if "status" in table.column_names:  # failed requests: an HTTP status, no output
        failed = pc.is_valid(table.column("status"))
        out.errors = _counts(table.filter(failed))
        table = table.filter(pc.invert(failed))
    out.rows = table.num_rows
    out.versions = _counts(table)
    inputs = [c for c in table.column_names if c.startswith(INPUT_PREFIX)]
    if inputs:
        features = table.select(inputs).rename_columns([c[len(INPUT_PREFIX) :] for c in inputs])
        out.profile = profile(features)
    column = next((c for c in proba_columns if c in table.column_names), None)
    if column is not None:
        values = table.column(column)
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            p = values.drop_null().to_numpy().astype(float)
            p = np.clip(p[np.isfinite(p)], 0.0, 1.0)
            out.proba_column = column
            out.proba_counts, out.proba_sums = proba_histogram(p)
    return out


def proba_histogram(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The count and the sum of the probabilities ``p`` in each of :data:`PROBA_BINS` bins
    (bin ``i`` holds ``i / BINS <= p < (i + 1) / BINS``; 1.0 is in the last)."""
    idx = np.minimum((p * PROBA_BINS).astype(np.int64), PROBA_BINS - 1)
    counts = np.bincount(idx, minlength=PROBA_BINS).astype(np.int64)
    sums = np.bincount(idx, weights=p, minlength=PROBA_BINS)
    return counts, sums


def merge_partials(parts: Sequence[SegmentPartial]) -> WindowProfile:
    """One window of many partials (profiles merged with :func:`mloop.data.merge_profiles`)."""
    from mloop.data import merge_profiles

    versions: dict[str, int] = {}
    errors: dict[str, int] = {}
    for part in parts:
        for k, v in part.versions.items():
            versions[k] = versions.get(k, 0) + v
        for k, v in part.errors.items():
            errors[k] = errors.get(k, 0) + v
    profiles = [p.profile for p in parts if p.profile is not None and p.rows]
    merged = merge_profiles(*profiles) if profiles else None
    column = next((p.proba_column for p in parts if p.proba_column), None)
    counts: np.ndarray | None = None
    sums: np.ndarray | None = None
    for p in parts:
        if column is None or p.proba_column != column:
            continue
        if p.proba_counts is not None and p.proba_sums is not None:
            counts = p.proba_counts if counts is None else counts + p.proba_counts
            sums = p.proba_sums if sums is None else sums + p.proba_sums
    return WindowProfile(
        rows=sum(p.rows for p in parts),
        versions=versions,
        errors=errors,
        profile=merged,
        proba_column=column,
        proba_counts=counts,
        proba_sums=sums,
    )


def _partial_path(prefix: str, model: str, segment: str) -> str:
    folder = model_dir(prefix, model)
    rest = segment[len(folder) + 1 :] if segment.startswith(folder + "/") else segment
    return f"{prefix}/{PARTIALS_DIR}/{folder[len(prefix) + 1 :]}/{rest}.partial"


def _inside(part: SegmentPartial, lo: int | None, hi: int | None) -> bool:
    if part.min_ts is None or part.max_ts is None:
        return True
    return (lo is None or part.min_ts >= lo) and (hi is None or part.max_ts < hi)


def _outside(part: SegmentPartial, lo: int | None, hi: int | None) -> bool:
    if part.min_ts is None or part.max_ts is None:
        return False
    return (lo is not None and part.max_ts < lo) or (hi is not None and part.min_ts >= hi)


def profile_segment(
    artifacts: ArtifactStore,
    path: str,
    lo: int | None,
    hi: int | None,
    proba_columns: Sequence[str] = PROBA_COLUMNS,
) -> tuple[SegmentPartial, SegmentPartial | None, int]:
    """Read one segment of the log and profile it: ``(the whole segment's partial, the partial
    of its rows with lo <= ts < hi if the window cuts it, else None, its rows)``.

    The one function both engines run: in a thread here, or in a Ray worker, which reads the
    segment from the artifact store itself."""
    with artifacts.open(path) as f:
        table = pq.read_table(f)
    whole = partial_of(table, proba_columns=proba_columns)
    cut = (
        None
        if _inside(whole, lo, hi)
        else partial_of(in_range(table, lo, hi), proba_columns=proba_columns)
    )
    return whole, cut, table.num_rows


def _profile_blobs(
    artifacts: ArtifactStore,
    path: str,
    lo: int | None,
    hi: int | None,
    proba_columns: tuple[str, ...],
) -> tuple[bytes, bytes | None, int]:
    """:func:`profile_segment` in a Ray task: the partials come back as bytes."""
    whole, cut, rows = profile_segment(artifacts, path, lo, hi, proba_columns)
    return whole.to_bytes(), None if cut is None else cut.to_bytes(), rows


def _load(blob: bytes) -> SegmentPartial:
    part = SegmentPartial.from_bytes(blob)
    assert part is not None  # written by this very version of mloop
    return part


def window_profile(
    artifacts: ArtifactStore,
    model: str,
    start: datetime | float | str | None = None,
    end: datetime | float | str | None = None,
    *,
    prefix: str = "predictions",
    proba_columns: Sequence[str] = PROBA_COLUMNS,
    cache: bool = True,
    workers: int = 1,
    engine: Engine = "local",
    ray_address: str | None = None,
) -> WindowProfile:
    """The rows of ``model`` with ``start <= ts < end`` as one merged :class:`WindowProfile`.

    Args:
        artifacts, model, start, end, prefix: as :func:`~mloop.monitor.read_predictions`.
        proba_columns: the columns read as the probability of the positive class.
        cache: load stored partials and store the ones computed (False: read every segment).
        workers: segments profiled at once (threads; with the local engine).
        engine: ``local`` (threads here) or ``ray``: each new segment is profiled by a Ray task
            that reads it from the artifact store itself (its path is all it is sent), and the
            partials are merged here; the results are those of the local engine.
        ray_address: the Ray cluster with ``engine="ray"`` (default: the Ray already
            initialized in this process, else a local one started now and kept for the next
            runs).

    Raises:
        InvalidArgument: ``start`` or ``end`` is not a time.
        InvalidData: the segments' columns cannot be merged (a column that is a number in one
            and a string in another): read the window with ``read_predictions`` instead.
        StoreError: the artifact store failed.
        MloopError: Ray lost a task more often than it retries.
    """
    if engine not in ("local", "ray"):
        raise InvalidArgument(f"engine must be 'local' or 'ray', got {engine!r}")
    lo = _to_us(start, "start")
    hi = _to_us(end, "end")
    prefix = prefix.strip("/")
    paths = segment_files(artifacts, model_dir(prefix, model), lo, hi)

    def inside(part: SegmentPartial) -> bool:
        return _inside(part, lo, hi)

    def outside(part: SegmentPartial) -> bool:
        return _outside(part, lo, hi)

    parts: list[SegmentPartial | None] = [None] * len(paths)
    missing: list[int] = []
    gone = 0
    for i, path in enumerate(paths):
        if cache:
            try:
                with artifacts.open(_partial_path(prefix, model, path)) as f:
                    stored = SegmentPartial.from_bytes(f.read())
            except ArtifactNotFound:
                stored = None
            if stored is not None and outside(stored):  # it left the window
                gone += 1
                continue
            if stored is not None and inside(stored):
                parts[i] = stored
                continue
        missing.append(i)

    todo = [paths[i] for i in missing]
    results: list[tuple[SegmentPartial, SegmentPartial | None, int]]
    if engine == "ray" and todo:
        from mloop.monitor._ray import map_on_ray

        # each task reads its segment itself: only the store and the path are sent
        blobs = map_on_ray(
            _profile_blobs, artifacts, todo, lo, hi, tuple(proba_columns), address=ray_address
        )
        results = [
            (_load(whole), None if cut is None else _load(cut), n) for whole, cut, n in blobs
        ]
    elif workers > 1 and len(todo) > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(
                pool.map(lambda p: profile_segment(artifacts, p, lo, hi, proba_columns), todo)
            )
    else:
        results = [profile_segment(artifacts, p, lo, hi, proba_columns) for p in todo]
    rows_read = 0
    for i, (whole, cut, n) in zip(missing, results, strict=True):
        rows_read += n
        if cache:
            try:
                artifacts.put_stream(
                    io.BytesIO(whole.to_bytes()), _partial_path(prefix, model, paths[i])
                )
            except StoreError as exc:  # the run goes on; the next one computes it again
                logger.warning("cannot store the partial of %s: %s", paths[i], exc)
        if outside(whole):
            gone += 1
            continue
        parts[i] = whole if cut is None else cut
    present = [p for p in parts if p is not None]
    try:
        out = merge_partials(present)
    except InvalidData as exc:
        raise InvalidData(
            f"the prediction log of {model!r} cannot be profiled segment by segment: {exc}"
        ) from exc
    out.segments = len(paths) - gone
    out.segments_read = len(missing)
    out.rows_read = rows_read
    return out
