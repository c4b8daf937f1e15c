"""The heap freeze: long-lived objects out of the collector's reach, retired ones still freed."""

from __future__ import annotations

import gc
import weakref

from mloop.serve._heap import freeze_heap


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
