"""Monitor work as Ray tasks (``engine="ray"``): one task per item, results in order.

The monitor sends each task a small shared object (the artifact store: its root and
filesystem options, pickled) and one item (a segment's path); the task reads what it needs
itself and returns a small result (a segment's partials, a few percent of it). Ray is
imported here only: it is an optional extra.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from mloop.errors import InvalidArgument, MloopError

__all__ = ["map_on_ray"]

#: A worker that dies is run again by Ray this many times before the run fails.
MAX_RETRIES = 2

T = TypeVar("T")
_init_lock = threading.Lock()


def map_on_ray(
    fn: Callable[..., T],
    shared: Any,
    items: Sequence[Any],
    *args: Any,
    address: str | None = None,
) -> list[T]:
    """``[fn(shared, item, *args) for item in items]``, each call a Ray task of one CPU.

    ``fn`` must be a module-level function (workers import it by name). Uses the Ray already
    initialized in this process, else connects to ``address``, else starts a local Ray, which
    stays up for the next runs (starting one costs seconds).

    Raises:
        InvalidArgument: Ray is not installed.
        MloopError: a worker died more often than Ray retries it. An exception raised by
            ``fn`` in a task propagates as itself, as it would here.
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
    task: Any = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(fn)
    shared_ref = ray.put(shared)
    refs = [task.remote(shared_ref, item, *args) for item in items]
    try:
        results: list[T] = ray.get(refs)
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
            f"Ray could not run the monitor's tasks: {type(exc).__name__}: {exc}"
        ) from exc
    return results
