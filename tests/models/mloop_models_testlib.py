"""Importable generic Python models for the model tests (pickled by reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.models import PythonModel, PythonModelContext


class ScaledSum(PythonModel):
    """Sum of the numeric columns times a factor read from an artifact file in ``load``."""

    def __init__(self) -> None:
        self.factor: float | None = None

    def load(self, context: PythonModelContext) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        assert self.factor is not None, "load() was not called"
        total = data["a"].to_numpy(dtype=np.float64) + data["b"].to_numpy(dtype=np.float64)
        return pd.DataFrame({"total": total * self.factor, "label": data["c"].str.upper()})


class Echo(PythonModel):
    """Returns its input, to see what ``predict`` hands to a model."""

    def predict(self, data: Any) -> Any:
        return data
