"""Incremental monitor runs: per-segment partials merged, only new segments read, results as a
full re-read of the window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop.store
from mloop.data import register
from mloop.loop import load_loop
from mloop.loop._monitor import run_monitor
from mloop.monitor import PredictionLog, RequestRows

T0 = 1_900_000_000.0  # seconds; a fixed start
MIN = 60.0
T0_MS = 1_900_000_000_000
MIN_MS = 60_000


def _write(
    log: PredictionLog, clock: list[float], at: float, n: int, shift: float, seed: int
) -> None:
    """One segment of ``n`` single-row requests logged at ``at`` (+2 ms each) by the writer."""
    rng = np.random.default_rng(seed)
    a = rng.normal(shift, 1.0, n)
    b = rng.integers(0, 5, n)
    c = rng.choice(["x", "y", "z"], n)
    proba = 1 / (1 + np.exp(-a))
    for i in range(n):
        clock[0] = at + i / 500
        rows = RequestRows(1, {"a": [float(a[i])], "b": [int(b[i])], "c": [str(c[i])]})
        out = np.asarray([{"proba": float(proba[i]), "label": int(proba[i] >= 0.5)}], object)
        assert log.record(f"s{seed}-{i}", clock[0], "churn", "1", rows, out.tolist(), 0.001)
        if i % 3 == 0:  # a label for a third of the requests, some of them wrong
            assert log.record_feedback(f"s{seed}-{i}", int(proba[i] >= 0.5) ^ (i % 7 == 0))
    assert log.flush(30)


def _compare(full: dict[str, Any], inc: dict[str, Any]) -> None:
    assert inc["rows"] == full["rows"] and inc["versions"] == full["versions"]
    fd, idr = full["drift"], inc["drift"]
    assert idr["dataset_drift"] == fd["dataset_drift"]
    assert idr["drifted_share"] == fd["drifted_share"]
    assert set(idr["columns"]) == set(fd["columns"])
    for name, col in fd["columns"].items():
        got = idr["columns"][name]
        assert (got["drifted"], got["method"]) == (col["drifted"], col["method"]), name
        assert got["statistic"] == pytest.approx(col["statistic"], rel=0.05, abs=0.01), name
    # realized performance reads only the output and the labels: the full read's values
    assert inc["performance"] == full["performance"]
    assert inc["performance"]["realized"] is not None
    assert inc["labels"] == full["labels"] > 0
    fe, ie = full["estimated"], inc["estimated"]
    assert ie["rows"] == fe["rows"]
    for metric, value in fe["metrics"].items():
        assert ie["metrics"][metric] == pytest.approx(value, abs=1e-9), metric


def test_monitor_runs_read_only_new_segments_and_match_a_full_read(
    mloop_home: Path, tmp_path: Path
) -> None:
    ctx = mloop.store.current()
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "a": rng.normal(0.0, 1.0, 2000),
            "b": rng.integers(0, 5, 2000),
            "c": rng.choice(["x", "y", "z"], 2000),
        }
    )
    ref = register(reference, "churn-ref", store=ctx.store)
    spec = load_loop(
        {
            "name": "churn-loop",
            "model": "churn",
            "monitor": {
                "every": "10m",
                "window": "1h",
                "reference": ref.uri,
                "drift": {"share": 0.3},
                "estimated": True,
                "min_rows": 10,
                "performance": {"metric": "accuracy", "output": "output.label", "min_labels": 10},
            },
        }
    )
    clock = [T0]
    log = PredictionLog(ctx.artifacts, clock=lambda: clock[0], max_segment_age_s=3600)
    log.start()
    try:
        # Three segments in the window: two like the reference, one drifted.
        _write(log, clock, T0, 150, 0.0, 1)
        _write(log, clock, T0 + 20 * MIN, 150, 0.0, 2)
        _write(log, clock, T0 + 40 * MIN, 300, 2.0, 3)

        def both(now_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
            _, inc, _ = run_monitor(spec, store=ctx.store, artifacts=ctx.artifacts, now_ms=now_ms)
            _, full, _ = run_monitor(
                spec, store=ctx.store, artifacts=ctx.artifacts, now_ms=now_ms, incremental=False
            )
            return inc, full

        inc, full = both(T0_MS + 50 * MIN_MS)
        assert inc["incremental"] == {"segments": 3, "segments_read": 3, "rows_read": 600}
        assert inc["drift"]["dataset_drift"] is True
        assert inc["estimated"]["metrics"]["roc_auc"] > 0.5
        _compare(full, inc)

        # Nothing new: nothing read, the same result.
        again, _ = both(T0_MS + 55 * MIN_MS)
        assert again["incremental"]["segments_read"] == 0
        assert again["drift"] == inc["drift"]

        # One new segment; the first one has left the window, the second is cut by its start.
        _write(log, clock, T0 + 70 * MIN, 200, 2.0, 4)
        inc, full = both(T0_MS + 80 * MIN_MS + 75)
        assert inc["rows"] == 112 + 300 + 200  # the second segment's rows from 76 ms on
        assert inc["incremental"]["segments"] == 3
        # the new segment, and the one the window's start cuts (read and filtered each time)
        assert inc["incremental"]["segments_read"] == 2
        assert inc["incremental"]["rows_read"] == 350
        _compare(full, inc)
    finally:
        log.close()


def test_retention_removes_old_days_and_their_partials_after_a_run(mloop_home: Path) -> None:
    from loop_testlib import ManualClock

    from mloop.loop import Controller

    ctx = mloop.store.current()
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"a": rng.normal(0.0, 1.0, 500)})
    spec = load_loop(
        {
            "name": "kept",
            "model": "churn",
            "monitor": {
                "every": "10m",
                "window": "1h",
                "retention": "1d",
                "reference": register(reference, "kept-ref", store=ctx.store).uri,
                "min_rows": 10,
            },
        }
    )
    day_ms = 86_400_000
    start = T0_MS // day_ms * day_ms
    clock = [start / 1000]
    log = PredictionLog(ctx.artifacts, clock=lambda: clock[0], max_segment_age_s=3600)
    log.start()
    controller = Controller(spec, clock=(ticks := ManualClock()))
    try:
        for day in range(3):  # a segment a day, monitored the day it is written
            at = start + day * day_ms + 3_600_000
            for i in range(20):
                clock[0] = at / 1000 + i
                rows = RequestRows(1, {"a": [float(i)]})
                assert log.record(f"d{day}-{i}", clock[0], "churn", "1", rows, [0], 0.001)
            assert log.flush(30)
            ticks.ms = at + 1_800_000
            controller.tick()
    finally:
        log.close()
    results = ctx.store.list_monitor_results("kept")
    expired = [r.result["expired"] for r in sorted(results, key=lambda r: r.time)]
    # On day 2, day 0 ended more than a day ago: it goes, with its partial.
    assert expired == [
        {"days": 0, "segments": 0, "partials": 0},
        {"days": 0, "segments": 0, "partials": 0},
        {"days": 1, "segments": 1, "partials": 1},
    ]
    left = ctx.artifacts.walk_files("predictions")
    assert len([f for f in left if f.path.endswith(".parquet.partial")]) == 2
    assert len([f for f in left if f.path.startswith("predictions/churn/")]) == 2
