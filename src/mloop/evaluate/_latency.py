"""Prediction latency: percentiles of single-row and batch ``predict`` calls."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BATCH_CALLS", "BATCH_ROWS", "SINGLE_CALLS", "measure_latency"]

SINGLE_CALLS = 200
BATCH_CALLS = 20
BATCH_ROWS = 1_000


def measure_latency(
    model: Any,
    features: pd.DataFrame,
    *,
    single_calls: int = SINGLE_CALLS,
    batch_calls: int = BATCH_CALLS,
    batch_rows: int = BATCH_ROWS,
) -> dict[str, float]:
    """p50 and p99 in milliseconds of ``model.predict`` on one row (cycling through the rows)
    and on a batch of up to ``batch_rows`` rows; one untimed warm-up call first."""
    if features.empty:
        return {}
    rows = [features.iloc[[i]] for i in range(min(len(features), single_calls))]
    batch = features.head(batch_rows)
    model.predict(rows[0])
    single = [_timed(model, rows[i % len(rows)]) for i in range(single_calls)]
    many = [_timed(model, batch) for _ in range(batch_calls)]
    return {
        "p50_latency_ms": float(np.percentile(single, 50)),
        "p99_latency_ms": float(np.percentile(single, 99)),
        "batch_p50_latency_ms": float(np.percentile(many, 50)),
        "batch_p99_latency_ms": float(np.percentile(many, 99)),
    }


def _timed(model: Any, data: pd.DataFrame) -> float:
    start = time.perf_counter()
    model.predict(data)
    return (time.perf_counter() - start) * 1000.0
