"""Automatic logging for training frameworks: ``mloop.autolog()`` and one call per framework.

Off by default. Once on, a ``fit`` (scikit-learn, Keras) or a ``train`` call (LightGBM,
XGBoost) logs its params, its training metrics and the model to the active run, or to a run of
its own when none is active; a search (``GridSearchCV``, ``RandomizedSearchCV``) logs each
candidate as a nested run. What the user logs by hand is never logged twice.
"""

from __future__ import annotations

from mloop.autologging._api import autolog, autolog_lightgbm, autolog_sklearn, autolog_xgboost
from mloop.autologging._keras import keras_callback

__all__ = [
    "autolog",
    "autolog_lightgbm",
    "autolog_sklearn",
    "autolog_xgboost",
    "keras_callback",
]
