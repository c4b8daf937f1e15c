"""Keras 3 on the torch backend: the native ``.keras`` file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.errors import InvalidArgument, ModelError
from mloop.models._flavor import Flavor, ModelFiles, Predictor, Wrapper

__all__ = ["KerasFlavor", "import_keras"]


def import_keras() -> Any:
    """Import Keras on the torch backend (setting ``KERAS_BACKEND=torch`` if it is unset).

    Raises:
        ModelError: Keras is set to, or already loaded with, another backend.
    """
    if "keras" not in sys.modules:
        wanted = os.environ.get("KERAS_BACKEND", "")
        if wanted not in ("", "torch"):
            raise ModelError(
                f"KERAS_BACKEND is {wanted!r}, but mloop runs Keras 3 on the torch backend: "
                "set KERAS_BACKEND=torch (or unset it) before Keras is imported"
            )
        os.environ["KERAS_BACKEND"] = "torch"
    import keras

    backend = keras.backend.backend()
    if backend != "torch":
        raise ModelError(
            f"Keras is already loaded with the {backend!r} backend, but mloop runs Keras 3 on "
            "the torch backend: set KERAS_BACKEND=torch before anything imports Keras"
        )
    return keras


class _KerasPredictor(Wrapper):
    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any) -> Any:
        x = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
        return self.model.predict_on_batch(x)


class KerasFlavor(Flavor):
    """A Keras 3 model (Sequential, functional or subclassed), saved as ``model.keras``."""

    name = "keras"
    packages = ("keras", "torch")

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options)
        keras = import_keras()
        if not isinstance(model, keras.Model):
            raise InvalidArgument(
                f"the keras flavor saves a keras.Model, not a {type(model).__name__}"
            )
        model.save(str(path / "model.keras"))
        return {"file": "model.keras", "backend": "torch"}

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        keras = import_keras()
        # safe_mode refuses lambda layers' pickled code
        model = keras.saving.load_model(
            str(self._file(files, options)), compile=False, safe_mode=True
        )
        return _KerasPredictor(model)
