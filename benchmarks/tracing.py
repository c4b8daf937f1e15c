"""Tracing benchmark: mloop's and MLflow's tracing side by side, in one process, one run.

Figures (for each tool, and the ratio mloop/MLflow):

1. Cost per span on the caller's thread: a traced function that returns at once, called N times
   (one root span each), and the same with one child span per call; wall time, and the calling
   thread's CPU time (``thread_time``, steadier on a loaded machine); the target is < 20 us.
2. Spans persisted per second: from the first call until every span is durable in the store
   (mloop: a SQLite store; MLflow: its default local trace store under a temporary folder).

Usage::

    .venv/bin/python benchmarks/tracing.py [--spans N] [--skip-mlflow]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_US = 20.0


def _time_calls(
    fn: Callable[[int], Any],
    n: int,
    repeats: int = 3,
    timer: Callable[[], float] = time.perf_counter,
) -> float:
    """Median microseconds per call over ``repeats`` runs of ``n`` calls."""
    per_call = []
    for _ in range(repeats):
        t0 = timer()
        for i in range(n):
            fn(i)
        per_call.append((timer() - t0) / n * 1e6)
    return statistics.median(per_call)


def _cpu(fn: Callable[[int], Any], base: Callable[[int], Any], n: int) -> float:
    """CPU microseconds per call on the calling thread alone (``thread_time``): what tracing
    costs the traced code, without the time other processes or the writer thread take."""
    return _time_calls(fn, n, timer=time.thread_time) - _time_calls(base, n, timer=time.thread_time)


def bench_mloop(n: int, work: Path) -> dict[str, float]:
    import mloop
    from mloop.store import use

    with use(f"sqlite:///{work / 'mloop.db'}", artifacts=str(work / "artifacts")):

        def plain(i: int) -> int:
            return i

        @mloop.trace
        def root(i: int) -> int:
            return i

        @mloop.trace
        def child(i: int) -> int:
            return i

        @mloop.trace
        def parent(i: int) -> int:
            return child(i)

        mloop.flush()
        root(0)  # open the store and start the writer outside the timing
        mloop.flush()
        base = _time_calls(plain, n)
        one = _time_calls(root, n) - base
        two = (_time_calls(parent, n) - base) / 2
        cpu = _cpu(root, plain, n)
        mloop.flush()
        t0 = time.perf_counter()
        for i in range(n):
            root(i)
        mloop.flush()
        persisted = n / (time.perf_counter() - t0)
        stored = mloop.store.current().store.search_traces(limit=10_000)
    assert stored, "no trace was stored"
    return {"root_us": one, "nested_us": two, "root_cpu_us": cpu, "spans_per_s": persisted}


def bench_mlflow(n: int, work: Path) -> dict[str, float]:
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    # Its trace artifacts go to the temporary folder too, not to ./mlruns.
    mlflow.create_experiment("bench", artifact_location=(work / "mlartifacts").as_uri())
    mlflow.set_experiment("bench")

    def plain(i: int) -> int:
        return i

    @mlflow.trace
    def root(i: int) -> int:
        return i

    @mlflow.trace
    def child(i: int) -> int:
        return i

    @mlflow.trace
    def parent(i: int) -> int:
        return child(i)

    root(0)
    mlflow.flush_trace_async_logging() if hasattr(mlflow, "flush_trace_async_logging") else None
    small = max(100, n // 20)  # MLflow exports each trace as it ends: far slower per call
    base = _time_calls(plain, small)
    one = _time_calls(root, small) - base
    two = (_time_calls(parent, small) - base) / 2
    cpu = _cpu(root, plain, small)
    t0 = time.perf_counter()
    for i in range(small):
        root(i)
    if hasattr(mlflow, "flush_trace_async_logging"):
        mlflow.flush_trace_async_logging()
    persisted = small / (time.perf_counter() - t0)
    return {
        "root_us": one,
        "nested_us": two,
        "root_cpu_us": cpu,
        "spans_per_s": persisted,
        "n": small,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spans", type=int, default=20_000)
    ap.add_argument("--skip-mlflow", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mloop-bench-tracing-") as tmp:
        work = Path(tmp)
        m = bench_mloop(args.spans, work)
        print(f"mloop: {m}", flush=True)
        f: dict[str, float] | None = None
        note = ""
        if not args.skip_mlflow:
            try:
                f = bench_mlflow(args.spans, work)
            except Exception as exc:  # report, do not hide, what stopped the peer
                note = f"MLflow not measured: {type(exc).__name__}: {exc}"
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"tracing benchmark, {args.spans} spans, python {sys.version.split()[0]}, load {load}")
    print(f"{'figure':<36}{'mloop':>12}{'MLflow':>12}{'ratio':>8}  target")
    rows = [
        ("per root span, caller thread (us)", "root_us", f"< {TARGET_US:g} us"),
        ("per nested span, caller thread (us)", "nested_us", f"< {TARGET_US:g} us"),
        ("per root span, caller CPU (us)", "root_cpu_us", f"< {TARGET_US:g} us"),
        ("spans persisted per second", "spans_per_s", ""),
    ]
    for label, key, target in rows:
        mv = m[key]
        fv = None if f is None else f[key]
        ratio = "" if fv in (None, 0) else f"{mv / fv:.2f}"
        fs = "—" if fv is None else f"{fv:,.1f}"
        ok = ""
        if target:
            ok = "met" if mv < TARGET_US else "MISSED"
        print(f"{label:<36}{mv:>12,.1f}{fs:>12}{ratio:>8}  {target} {ok}")
    if f is not None:
        print(f"(MLflow timed over {int(f['n'])} calls per figure: its export is synchronous)")
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
