"""Prediction latency: percentiles of single-row and batch ``predict`` calls."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BATCH_CALLS", "BATCH_ROWS", "SINGLE_CALLS", "machine_load", "measure_latency"]

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
) -> tuple[dict[str, float], list[str]]:
    """p50 and p99 in milliseconds of ``model.predict`` on one row (cycling through the rows)
    and on a batch of up to ``batch_rows`` rows; one untimed warm-up call first. And notes on
    the conditions: the timed calls run with the BLAS and OpenMP pools limited to one thread
    (as a serving worker per core runs; a pool per call on a busy machine makes tail
    latencies swing), and a machine busier than its cores is said to be."""
    if features.empty:
        return {}, []
    rows = [features.iloc[[i]] for i in range(min(len(features), single_calls))]
    batch = features.head(batch_rows)
    notes = []
    with _one_thread_per_pool() as pinned:
        model.predict(rows[0])
        single = [_timed(model, rows[i % len(rows)]) for i in range(single_calls)]
        many = [_timed(model, batch) for _ in range(batch_calls)]
    if pinned:
        notes.append("latency: measured with BLAS/OpenMP thread pools limited to 1 thread")
    busy = machine_load()
    if busy is not None:
        notes.append(busy)
    timings = {
        "p50_latency_ms": float(np.percentile(single, 50)),
        "p99_latency_ms": float(np.percentile(single, 99)),
        "batch_p50_latency_ms": float(np.percentile(many, 50)),
        "batch_p99_latency_ms": float(np.percentile(many, 99)),
    }
    return timings, notes


@contextlib.contextmanager
def _one_thread_per_pool() -> Iterator[bool]:
    """Limit the native thread pools (OpenBLAS, MKL, OpenMP) to one thread; True when
    threadpoolctl (installed with scikit-learn) could."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield False
        return
    with threadpool_limits(limits=1):
        yield True


def machine_load(load: float | None = None, cores: int | None = None) -> str | None:
    """A warning when the 1-minute load average exceeds the cores: other work then competes
    with the timed calls, and latency figures (p99 above all) come out inflated."""
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not on this platform
            return None
    cores = cores or os.cpu_count() or 1
    if load <= cores:
        return None
    return (
        f"latency: the machine was oversubscribed (load average {load:.1f} on {cores} cores); "
        "latency figures are inflated: measure on an idle machine before trusting a latency rule"
    )


def _timed(model: Any, data: pd.DataFrame) -> float:
    start = time.perf_counter()
    model.predict(data)
    return (time.perf_counter() - start) * 1000.0
