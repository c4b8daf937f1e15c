"""The heap freeze (both servers): long-lived objects out of the collector's reach, retired ones
still freed."""

from __future__ import annotations

import gc
import weakref

from mloop._web._heap import freeze_heap


class _Version:
    """Like a served version: a cycle (its batcher holds its bound method)."""

    def __init__(self) -> None:
        self.me = self


def test_a_frozen_cycle_is_freed_by_the_next_freeze() -> None:
    version = _Version()
    ref = weakref.ref(version)
    try:
        freeze_heap()  # loaded and warm: frozen
        assert gc.get_freeze_count() > 0
        del version  # retired by a swap: only the cycle holds it
        freeze_heap()  # the swap's freeze
        assert ref() is None
    finally:
        gc.unfreeze()


def _collectable(obj: object) -> bool:
    """Whether the collector's generations (not its permanent one) hold ``obj``."""
    return any(o is obj for o in gc.get_objects())


def test_what_lives_at_startup_is_frozen_and_what_requests_make_is_not() -> None:
    startup = [object()]  # a list: tracked by the collector (mloop server's app, its routes)
    try:
        assert _collectable(startup)
        freeze_heap()
        assert not _collectable(startup)  # full collections no longer walk it
        request = [object()]
        assert _collectable(request)
    finally:
        gc.unfreeze()
