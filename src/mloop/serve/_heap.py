"""Keep the garbage collector's full passes off the request path.

A served process holds millions of long-lived objects (pandas, scikit-learn, the model itself).
CPython's oldest-generation collection walks all of them: here, 80-90 ms with the GIL held,
every few seconds under load, which is the whole p99 of a small model. Once the models are
loaded and warm, :func:`freeze_heap` moves every object alive into the permanent generation,
which collections skip. Frozen objects are still freed by reference counting, but not cyclic
garbage: a served version is a cycle (its batcher holds its bound predict method), so each call
unfreezes first and collects everything, which frees the versions retired since the last call.
That one full pass is paid once at start and once per swap, never per request.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap"]


def freeze_heap() -> None:
    """Collect what is garbage now (frozen objects included), then exempt every live object
    from later collections."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
