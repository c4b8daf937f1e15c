"""The segments of a monitor window profiled as Ray tasks (``engine="ray"``).

Each task is sent the artifact store (its root and filesystem options, pickled: a few hundred
bytes) and one segment's path; it reads the segment itself, profiles it with the same
:func:`~mloop.monitor._window.profile_segment` as the local engine, and returns the partials
as bytes (a few percent of the segment). The driver merges them in the segments' order, so the
window is the one the local engine gives. Ray is imported here only: it is an optional extra.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from mloop.errors import InvalidArgument, MloopError
from mloop.monitor._window import SegmentPartial, profile_segment

if TYPE_CHECKING:
    from mloop.store._artifacts import ArtifactStore

__all__ = ["profile_on_ray"]

#: A worker that dies is run again by Ray this many times before the run fails.
MAX_RETRIES = 2

Blobs = tuple[bytes, bytes | None, int]
_init_lock = threading.Lock()


def _profile_remote(
    artifacts: ArtifactStore,
    path: str,
    lo: int | None,
    hi: int | None,
    proba_columns: tuple[str, ...],
) -> Blobs:
    whole, cut, rows = profile_segment(artifacts, path, lo, hi, proba_columns)
    return whole.to_bytes(), None if cut is None else cut.to_bytes(), rows


def _load(blob: bytes) -> SegmentPartial:
    part = SegmentPartial.from_bytes(blob)
    assert part is not None  # written by this very version of mloop
    return part


def profile_on_ray(
    artifacts: ArtifactStore,
    paths: Sequence[str],
    lo: int | None,
    hi: int | None,
    proba_columns: Sequence[str],
    *,
    address: str | None = None,
) -> list[tuple[SegmentPartial, SegmentPartial | None, int]]:
    """Profile the segments ``paths`` as Ray tasks, one CPU each; results in ``paths`` order.

    Uses the Ray already initialized in this process, else connects to ``address``, else
    starts a local Ray, which stays up for the next runs (starting one costs seconds).

    Raises:
        InvalidArgument: Ray is not installed.
        MloopError: a worker died more often than Ray retries it. An exception raised in a
            task (a segment that cannot be read) propagates as itself.
    """
    try:
        import ray
    except ImportError:
        raise InvalidArgument(
            "the ray engine needs Ray: pip install 'mloop[ray]' (or use engine: local)"
        ) from None
    with _init_lock:  # controllers of several loops in threads of one server
        if not ray.is_initialized():
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    task: Any = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_profile_remote)
    store_ref = ray.put(artifacts)
    columns = tuple(proba_columns)
    refs = [task.remote(store_ref, path, lo, hi, columns) for path in paths]
    try:
        blobs: list[Blobs] = ray.get(refs)
    except ray.exceptions.RayError as exc:
        for ref in refs:  # the others' results would be thrown away
            with suppress(Exception):
                ray.cancel(ref, force=True)
        cause = getattr(exc, "cause", None)
        if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, Exception):
            # the task's own exception (ArtifactNotFound, StoreError, ...), raised as the
            # local engine raises it
            raise cause from None
        raise MloopError(
            f"Ray could not profile the prediction log's segments: {type(exc).__name__}: {exc}"
        ) from exc
    return [(_load(whole), None if cut is None else _load(cut), rows) for whole, cut, rows in blobs]
