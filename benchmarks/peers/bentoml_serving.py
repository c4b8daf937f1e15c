"""The BentoML side of ``benchmarks/serving.py``: a service file, served inside BentoML's own
environment only (``bentoml serve bentoml_serving:Serving`` from this folder).

One batchable API, so BentoML's adaptive batching gathers concurrent requests into one
``predict`` call: ``POST /predict`` with ``{"records": [{"f00": ..., ...}]}``, the same body as
mloop's, answered with the list of predicted classes. The estimator is the pickle that the
other servers load, named by ``BENCH_MODEL_PKL``; ``BENCH_BENTOML_MAX_BATCH`` caps a batch.
Nothing here imports mloop.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import bentoml
import pandas as pd

MAX_BATCH = int(os.environ.get("BENCH_BENTOML_MAX_BATCH", "128"))


@bentoml.service
class Serving:
    def __init__(self) -> None:
        with open(os.environ["BENCH_MODEL_PKL"], "rb") as fh:
            self.model: Any = pickle.load(fh)
        self.columns = list(self.model.feature_names_in_)

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH)
    def predict(self, records: list[dict[str, float]]) -> list[int]:
        frame = pd.DataFrame.from_records(records, columns=self.columns)
        return [int(v) for v in self.model.predict(frame)]
