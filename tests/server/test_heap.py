"""The server processes freeze their startup heap (mloop._web._heap)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mloop._web._heap import freeze_heap


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process goes on collecting as before


def _collectable(obj: object) -> bool:
    """Whether the collector's generations (not its permanent one) hold ``obj``."""
    return any(o is obj for o in gc.get_objects())


def test_what_lives_at_startup_is_frozen_and_what_requests_make_is_not(unfreeze: None) -> None:
    startup = [object()]  # a list: tracked by the collector
    assert _collectable(startup)
    freeze_heap()
    assert gc.get_freeze_count() > 0
    assert not _collectable(startup)  # full collections no longer walk it
    request = [object()]
    assert _collectable(request)
