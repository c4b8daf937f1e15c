"""The tour's training as a pipeline of cached steps.

    mloop pipeline run pipeline.py:churn --param max_depth=4
    mloop pipeline explain pipeline.py:churn --param max_depth=5   # what would re-run, and why

A re-run recomputes only the steps whose code, params or inputs changed: a new ``max_depth``
re-runs ``train`` and ``evaluate`` and takes ``load`` from the cache.
"""

from __future__ import annotations

import pandas as pd
from train import FEATURES, TARGET, build, scores

import mloop


@mloop.step
def load(path: str) -> pd.DataFrame:
    return pd.read_parquet(path)


@mloop.step
def train(data: pd.DataFrame, max_depth: int, learning_rate: float) -> object:
    model = build(max_depth=max_depth, learning_rate=learning_rate)
    return model.fit(data[FEATURES], data[TARGET])


@mloop.step
def evaluate(model: object, holdout: pd.DataFrame) -> dict[str, float]:
    metrics = scores(model, holdout)  # type: ignore[arg-type]
    mloop.log_metrics(metrics)  # lands on this step's run
    return metrics


@mloop.pipeline
def churn(max_depth: int = 3, learning_rate: float = 0.1) -> dict[str, float]:
    model = train(load("train.parquet"), max_depth, learning_rate)
    return evaluate(model, load("holdout.parquet"))
