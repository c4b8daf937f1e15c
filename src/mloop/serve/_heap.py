"""Keep the garbage collector's full passes off the request path.

A served process holds millions of long-lived objects (pandas, scikit-learn, the model itself).
CPython's oldest-generation collection walks all of them: here, 80-90 ms with the GIL held,
every few seconds under load, which is the whole p99 of a small model. Once the models are
loaded and warm, :func:`freeze_heap` moves every object alive into the permanent generation,
which collections skip. Frozen objects are still freed by reference counting; only cyclic
garbage among them stays (a loaded version is not cyclic garbage until it is swapped out, and
a swap freezes again, so the cost is bounded by the number of swaps).
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap"]


def freeze_heap() -> None:
    """Collect what is garbage now, then exempt every live object from later collections."""
    gc.collect()
    gc.freeze()
