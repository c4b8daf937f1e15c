"""Keep the garbage collector's full passes off the request path, in both servers.

A server process holds many long-lived objects: every module its imports loaded, the app and its
routes, the store's engine, and in ``mloop serve`` pandas, scikit-learn and the models.
CPython's oldest-generation collection walks all of them with the GIL held: 80-90 ms in ``mloop
serve`` every few seconds under load (the whole p99 of a small model), about 65 ms in ``mloop
server``, where one fell into every other 1,000-run search and doubled it. :func:`freeze_heap`
moves every object alive into the permanent generation, which collections skip: ``mloop
server`` calls it once its app is built, ``mloop serve`` once its models are loaded and warm
and again after each swap. Frozen objects are still freed by reference counting, but not cyclic
garbage: a served version is a cycle (its batcher holds its bound predict method), so each call
unfreezes first and collects everything, which frees what was retired since the last call. That
one full pass is paid at start and once per swap, never per request.
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
