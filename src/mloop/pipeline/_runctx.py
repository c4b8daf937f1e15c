"""Which run the fluent API logs to inside a step.

The fluent API keeps one stack of active runs per process, shared by every thread. Steps that
run side by side on threads each need their own active run, so that ``mloop.log_metric`` inside
a step lands on that step's run. :func:`step_run` gives the calling thread a stack of its own
for the duration of a step; every other thread keeps seeing the process-wide stack.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, SupportsIndex

from mloop.tracking import _fluent

_local = threading.local()
_install_lock = threading.Lock()


def _own() -> list[Any] | None:
    return getattr(_local, "stack", None)


class _ThreadAwareStack(list[Any]):
    """The fluent API's stack, with a per-thread override while a thread runs a step."""

    def __len__(self) -> int:
        own = _own()
        return len(own) if own is not None else super().__len__()

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, i: Any) -> Any:
        own = _own()
        return own[i] if own is not None else super().__getitem__(i)

    def __delitem__(self, i: SupportsIndex | slice) -> None:
        own = _own()
        if own is not None:
            del own[i]
        else:
            super().__delitem__(i)

    def __contains__(self, item: object) -> bool:
        own = _own()
        return item in own if own is not None else super().__contains__(item)

    def __iter__(self) -> Iterator[Any]:
        own = _own()
        return iter(own) if own is not None else super().__iter__()

    def append(self, item: Any) -> None:
        own = _own()
        if own is not None:
            own.append(item)
        else:
            super().append(item)

    def index(self, item: Any, *args: Any) -> int:
        own = _own()
        return own.index(item, *args) if own is not None else super().index(item, *args)

    def clear(self) -> None:
        own = _own()
        if own is not None:
            own.clear()
        else:
            super().clear()


def install() -> None:
    """Put the thread-aware stack in place (once per process; keeps the active runs)."""
    if isinstance(_fluent._stack, _ThreadAwareStack):
        return
    with _install_lock:
        if not isinstance(_fluent._stack, _ThreadAwareStack):
            with _fluent._lock:
                _fluent._stack = _ThreadAwareStack(_fluent._stack)


@contextmanager
def step_run(run: Any, client: Any) -> Iterator[Any]:
    """Make ``run`` (a store :class:`~mloop.store.Run`) the active run of this thread only."""
    install()
    active = _fluent.ActiveRun(run, client)
    previous = _own()
    _local.stack = [active]
    try:
        yield active
    finally:
        _local.stack = previous
