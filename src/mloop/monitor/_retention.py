"""Retention of the prediction log: whole days removed with the monitor's partials of their
segments, and partials whose segment is gone removed too.

A segment holds the rows of one UTC day, so a ``date=`` folder whose day has ended before the
cutoff is removed whole. Its partials (``<prefix>/_partials/<model>/date=.../``, see
:mod:`mloop.monitor._window`) go with it. A sweep then removes the partials of segments that
left the log by other means (a lifecycle rule on the bucket, a segment deleted or compacted by
hand): a partial is kept only while the segment it was computed from is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mloop.errors import ArtifactNotFound, InvalidArgument
from mloop.monitor._feedback import FEEDBACK_DIR
from mloop.monitor._predformat import DAY_S, US, model_dir
from mloop.monitor._predread import _to_us
from mloop.monitor._window import PARTIALS_DIR

if TYPE_CHECKING:
    from mloop.store._artifacts import ArtifactStore

__all__ = ["Expired", "expire_predictions", "sweep_partials"]

_PARTIAL = ".partial"


@dataclass
class Expired:
    """What one retention pass removed."""

    days: list[str]  # the log's ``<model>/date=YYYY-MM-DD`` folders removed
    segments: int = 0  # the segments in them
    partials: int = 0  # partials removed: of those segments, and of segments gone otherwise


def _day(name: str) -> int | None:
    """The day number of a ``date=YYYY-MM-DD`` folder name, or None for another name."""
    if not name.startswith("date="):
        return None
    try:
        moment = datetime.strptime(name[5:], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp()) // DAY_S


def _children(artifacts: ArtifactStore, folder: str) -> list[tuple[str, bool]]:
    try:
        return [(i.path.rsplit("/", 1)[-1], i.is_dir) for i in artifacts.list(folder)]
    except ArtifactNotFound:
        return []


def _files(artifacts: ArtifactStore, folder: str) -> int:
    try:
        return len(artifacts.walk_files(folder))
    except ArtifactNotFound:
        return 0


def sweep_partials(artifacts: ArtifactStore, folder: str, *, prefix: str = "predictions") -> int:
    """Remove the partials of the model folder ``folder`` (``<prefix>/<model>``) whose segment
    is no longer in the log. Returns how many were removed."""
    partials = f"{prefix}/{PARTIALS_DIR}/{folder[len(prefix) + 1 :]}"
    removed = 0
    for name, is_dir in _children(artifacts, partials):
        if not is_dir:
            continue
        segments = {n for n, d in _children(artifacts, f"{folder}/{name}") if not d}
        if not segments:  # the whole day has gone
            removed += _files(artifacts, f"{partials}/{name}")
            artifacts.delete(f"{partials}/{name}")
            continue
        for file, file_is_dir in _children(artifacts, f"{partials}/{name}"):
            if file_is_dir or not file.endswith(_PARTIAL):
                continue
            if file[: -len(_PARTIAL)] not in segments:
                removed += int(artifacts.delete(f"{partials}/{name}/{file}"))
    return removed


def expire_predictions(
    artifacts: ArtifactStore,
    before: datetime | float | str,
    *,
    model: str | None = None,
    prefix: str = "predictions",
) -> Expired:
    """Remove the prediction log's days that ended at or before ``before``, with the monitor's
    partials of their segments, and the partials of segments that are gone otherwise.

    Labels (``<prefix>/_feedback``) are kept: they are small, and a label may arrive long
    after its prediction.

    Args:
        artifacts: the log's artifact store.
        before: the cutoff: a datetime (naive ones in UTC), an ISO-8601 string or seconds since
            the epoch. A day is removed whole once it has ended at or before it, never cut.
        model: one model's log (default: every model's).
        prefix: the log's folder.

    Returns:
        The days, segments and partials removed.

    Raises:
        InvalidArgument: ``before`` is not a time.
        StoreError: the artifact store failed (what was removed before stays removed; run it
            again).

    Example::

        expire_predictions(mloop.store.current().artifacts, time.time() - 30 * 86_400)
    """
    cutoff = _to_us(before, "before")
    if cutoff is None:
        raise InvalidArgument("before is required: the time before which days are removed")
    prefix = prefix.strip("/")
    if model is not None:
        folders = [model_dir(prefix, model)]
    else:
        names = [n for n, d in _children(artifacts, prefix) if d]
        folders = [f"{prefix}/{n}" for n in names if n not in (FEEDBACK_DIR, PARTIALS_DIR)]
        # models whose whole log is gone still have their partials swept
        gone = {n for n, d in _children(artifacts, f"{prefix}/{PARTIALS_DIR}") if d}
        folders += [f"{prefix}/{n}" for n in sorted(gone - set(names))]
    out = Expired(days=[])
    for folder in folders:
        for name, is_dir in _children(artifacts, folder):
            day = _day(name) if is_dir else None
            if day is None or (day + 1) * DAY_S * US > cutoff:
                continue
            out.segments += _files(artifacts, f"{folder}/{name}")
            artifacts.delete(f"{folder}/{name}")
            out.days.append(f"{folder[len(prefix) + 1 :]}/{name}")
        out.partials += sweep_partials(artifacts, folder, prefix=prefix)
    return out
