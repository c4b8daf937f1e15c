"""A served model, a loop.yaml, a retrain pipeline and traffic with labels, for loop tests."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from mloop.models import PythonModel

T0_MS = 1_900_000_000_000  # a fixed start: tests never depend on the date

PIPELINE = """
import mloop
import mloop.data
import mloop.models


@mloop.step(packages=["scikit-learn"])
def fit(data: str, label: str, bad: bool, invert: bool = False):
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    frame = mloop.data.load(data)
    X = frame.drop(columns=[label])
    y = frame[label].astype(int)
    if invert:  # learns the opposite: passes a lenient gate, fails on live labels
        y = 1 - y
    model = (DummyClassifier(strategy="constant", constant=0) if bad else LogisticRegression())
    model.fit(X, y)
    info = mloop.models.log_model(model, "model", input_example=X.head(5), reference_data=X)
    return info.model_uri


@mloop.step
def broken(data: str):
    raise RuntimeError("the feature store is down")


@mloop.pipeline
def train(data: str, label: str = "label", bad: bool = False, invert: bool = False):
    return fit(data, label, bad, invert)


@mloop.pipeline
def fails(data: str):
    return broken(data)
"""

LOOP = """\
name: churn-loop
model: churn
monitor:
  every: 10m
  window: 1h
  min_rows: 50
  drift: {{share: 0.5}}
  performance: {{metric: accuracy, min_labels: 20, max_drop: 0.1}}
  estimated: true
retrain:
  pipeline: flows.py:{pipeline}
  params: {params}
  on: [drift]
  cooldown: 1h
gate: {{policy: gate.yaml}}
rollout:
  steps: [50, 100]
  hold: 5m
  min_rows: 20
  analysis:
    - online.accuracy >= champion.online.accuracy - 0.05
    - p99_latency_ms <= 5000
"""


class ManualClock:
    """The controller's clock and the prediction log's: moved by the test, never by time."""

    def __init__(self, start_ms: int = T0_MS) -> None:
        self.ms = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self.ms

    def seconds(self) -> float:
        return self.now_ms() / 1000

    def advance(self, ms: int) -> None:
        with self._lock:
            self.ms += ms


def frame(n: int, *, shift: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Features ``a``, ``b`` and labels: before the shift y = a + b > 0; after it the relation
    moves with the data (y = a > shift), so a model retrained on live labels beats the old."""
    rng = np.random.default_rng(seed)
    a = rng.normal(shift, 1.0, n)
    b = rng.normal(0.0, 1.0, n)
    y = (a + b > 0) if shift == 0 else (a > shift)
    return pd.DataFrame({"a": a, "b": b}), y.astype(int)


def write_loop(
    folder: Path,
    *,
    pipeline: str = "train",
    params: str = "{}",
    endpoints: Sequence[str] = (),
    gate: str = "accuracy >= champion.accuracy",
) -> Path:
    (folder / "flows.py").write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
    (folder / "gate.yaml").write_text(f"rules:\n  - {gate}\n", encoding="utf-8")
    path = folder / "loop.yaml"
    text = LOOP.format(pipeline=pipeline, params=params)
    if endpoints:  # the replicas' /metrics: error rates per version
        text += "    - error_rate <= champion.error_rate + 0.01\n"
        text += f"  endpoints: [{', '.join(endpoints)}]\n"
    path.write_text(text, encoding="utf-8")
    return path


def register_champion() -> None:
    """v1 of ``churn``: a logistic regression on the reference distribution, @champion."""
    from sklearn.linear_model import LogisticRegression

    import mloop
    import mloop.models
    import mloop.registry

    X, y = frame(600, shift=0.0, seed=1)
    model = LogisticRegression().fit(X, y)
    with mloop.start_run():
        mloop.log_metric("accuracy", float(model.score(X, y)))
        mloop.models.log_model(
            model,
            "model",
            input_example=X.head(5),
            reference_data=X,
            registered_model_name="churn",
        )
    mloop.registry.set_alias("churn", "champion", 1)


@dataclass
class Traffic:
    """Send labelled requests to a serving URL: one predict per row, then its label."""

    url: str
    seed: int = 100

    def send(self, n: int, *, shift: float) -> dict[str, Any]:
        X, y = frame(n, shift=shift, seed=self.seed)
        self.seed += 1
        versions: dict[str, int] = {}
        failures = 0
        items = []
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for i in range(n):
                rid = f"r{self.seed}-{i}"
                r = client.post(
                    "/v1/models/churn:predict",
                    json={"records": [X.iloc[i].to_dict()]},
                    headers={"x-request-id": rid},
                )
                if r.status_code != 200:
                    failures += 1
                    continue
                v = r.json()["model"]["version"]
                versions[v] = versions.get(v, 0) + 1
                items.append({"request_id": rid, "label": int(y[i])})
            fb = client.post("/v1/feedback", json={"items": items})
            assert fb.status_code == 202, fb.text
        return {"versions": versions, "failures": failures}


class FailsOnNegative(PythonModel):
    """``y = 2 * x``; raises inside predict when any ``x`` is negative (a model bug)."""

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        if (data["x"] < 0).any():
            raise ValueError("negative x")
        return pd.DataFrame({"y": data["x"].to_numpy() * 2.0})
