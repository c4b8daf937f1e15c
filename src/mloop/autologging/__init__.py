"""Automatic logging for training frameworks: ``mloop.autolog()`` and one call per framework.

Off by default. Once on, a ``fit`` (scikit-learn, Keras) or a ``train`` call (LightGBM,
XGBoost) logs its params, its training metrics and the model to the active run, or to a run of
its own when none is active; a search (``GridSearchCV``, ``RandomizedSearchCV``) logs each
candidate as a nested run. A plain PyTorch loop has nothing to patch: wrap it in
``torch_training``. What the user logs by hand is never logged twice.
"""

from __future__ import annotations

from mloop.autologging._api import autolog, autolog_lightgbm, autolog_sklearn, autolog_xgboost
from mloop.autologging._keras import keras_callback
from mloop.autologging._torch import TorchTraining, torch_training

__all__ = [
    "TorchTraining",
    "autolog",
    "autolog_lightgbm",
    "autolog_sklearn",
    "autolog_xgboost",
    "keras_callback",
    "torch_training",
]
