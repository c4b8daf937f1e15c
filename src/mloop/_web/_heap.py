"""The garbage collector in a long-lived server process."""

from __future__ import annotations

import gc


def freeze_heap() -> None:
    """Move every object alive now (modules, the app and its routes, the store's engine) to
    the collector's permanent generation, after one collection.

    Call it once the app is built, before serving. A full (generation 2) collection then walks
    only what requests created since, not the tens of thousands of objects every import left
    behind: in ``mloop server`` a full pass cost about 65 ms, and one fell into every other
    1,000-run search, doubling it (65 -> 130-145 ms; 63-68 ms every time once frozen).
    """
    gc.collect()
    gc.freeze()
