"""Monitoring: the prediction log (its format, writer and reader) and late labels joined to it.

Below both HTTP interfaces: the inference server writes the log through it, and whatever
watches a model (the loop controller, the web UI, a notebook) reads the log with
:func:`read_predictions` without importing the server.

Example::

    import mloop.monitor
    import mloop.store

    frame = mloop.monitor.read_predictions(
        mloop.store.current().artifacts, "churn", start="2026-11-28"
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop._core._lazy import lazy_names

if TYPE_CHECKING:
    from mloop.monitor._predformat import RequestRows as RequestRows
    from mloop.monitor._predlog import PredictionLog as PredictionLog
    from mloop.monitor._predread import read_predictions as read_predictions
    from mloop.monitor._retention import expire_predictions as expire_predictions

# Loaded on first use: the log imports pyarrow, the reader pandas.
__getattr__, __dir__, __all__ = lazy_names(
    __name__,
    {
        "PredictionLog": "._predlog",
        "RequestRows": "._predformat",
        "expire_predictions": "._retention",
        "read_predictions": "._predread",
    },
)
