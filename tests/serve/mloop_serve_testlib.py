"""Importable helpers of the serving tests: a generic Python model (pickled by reference) and
the live-server handle."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pandas as pd
from fastapi import FastAPI

from mloop.models import PythonModel


class Doubler(PythonModel):
    """``y = 2 * x``; raises inside predict when any ``x`` is 666 (a model bug)."""

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        if (data["x"] == 666).any():
            raise RuntimeError("the model cannot handle 666")
        return pd.DataFrame({"y": data["x"].to_numpy() * 2.0})


@dataclass
class Served:
    url: str
    client: httpx.Client
    app: FastAPI


StartServe = Callable[..., Served]


def wait_ready(client: httpx.Client, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.02)
