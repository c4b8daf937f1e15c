"""Monitor run benchmark: one loop monitor run over a large prediction log, cold (no stored
partials: every segment read and profiled) and incremental (after one new segment: only it is
read, the other segments' stored partials are merged), beside a full re-read of the window
(``incremental=False``: the whole window as one frame, what every run cost before partials).

The log is written in the prediction log's own format (the writer's schema, zstd Parquet with
65,536-row groups, ``date=`` folders, ``<hour>-<uuid7>.parquet`` names, 50,000 rows per
segment as the writer's default), ``--rows`` rows of ``--columns`` float inputs and a
probability output. The reference is a registered dataset of 100,000 rows of the same
distribution; drift is tested on every column and CBPE estimated.

Usage::

    python benchmarks/monitor.py [--rows 10000000] [--columns 30] [--workers 2] [--full]
                                 [--engine local|ray] [--performance]

``--engine ray`` profiles the new segments as Ray tasks (``monitor.engine: ray``) on a local
Ray of ``--workers`` CPUs, started before the timed runs (its start is printed apart).

``--performance`` adds realized performance to the loop (``performance: {metric: roc_auc}``),
which reads the window's rows each run; no labels are logged, so what it shows is the read.

``--full`` also times the full re-read (memory: the whole window as a pandas frame; about
3 GB at 10M x 30, so it is off by default).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SEGMENT_ROWS = 50_000


def _segment(rng: np.random.Generator, start_us: int, n: int, columns: int, k: int) -> pa.Table:
    """One segment's rows in the writer's schema (see ``prediction_batch``)."""
    ts = start_us + np.arange(n, dtype=np.int64) * 1000  # 1 ms apart
    inputs = {f"input.c{i}": rng.normal(0.0, 1.0, n) for i in range(columns)}
    z = inputs["input.c0"]
    return pa.table(
        {
            "request_id": pa.array([f"s{k}-{i}" for i in range(n)], pa.string()),
            "row": pa.array(np.zeros(n, np.int32)),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model": pa.repeat(pa.scalar("bench", pa.string()), n),
            "version": pa.repeat(pa.scalar("1", pa.string()), n),
            "latency_ms": pa.array(rng.gamma(2.0, 1.0, n)),
            "shadow": pa.array(np.zeros(n, np.bool_)),
            **{name: pa.array(v) for name, v in inputs.items()},
            "output.proba": pa.array(1 / (1 + np.exp(-z))),
        }
    )


def _write(artifacts: object, table: pa.Table, start_us: int) -> None:
    from mloop.monitor._predformat import DAY_S, US, date_folder, uuid7

    day = start_us // US // DAY_S
    hour = start_us // US % DAY_S // 3600
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=65_536)
    path = f"predictions/bench/date={date_folder(day)}/{hour:02d}-{uuid7()}.parquet"
    artifacts.publish(sink.getvalue(), path)  # type: ignore[attr-defined]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--columns", type=int, default=30)
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--full", action="store_true", help="also time a full re-read")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    p.add_argument(
        "--performance",
        action="store_true",
        help="also realized performance, which reads the window's rows (no labels are logged: "
        "what it costs is the read)",
    )
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="mloop-bench-monitor-") as tmp:
        os.environ["MLOOP_HOME"] = str(Path(tmp) / "home")
        import pandas as pd

        import mloop.store
        from mloop.data import register
        from mloop.loop import load_loop
        from mloop.loop._monitor import run_monitor

        ctx = mloop.store.current()
        rng = np.random.default_rng(0)
        ref = pd.DataFrame({f"c{i}": rng.normal(0.0, 1.0, 100_000) for i in range(args.columns)})
        uri = register(ref, "bench-ref", store=ctx.store).uri
        spec = load_loop(
            {
                "name": "bench",
                "model": "bench",
                "monitor": {
                    "every": "10m",
                    "window": "1d",
                    "reference": uri,
                    "estimated": True,
                    **({"engine": "ray"} if args.engine == "ray" else {}),
                    **(
                        {"performance": {"metric": "roc_auc", "output": "output.proba"}}
                        if args.performance
                        else {}
                    ),
                },
            }
        )
        t0_us = 1_900_000_000 // 86_400 * 86_400 * 1_000_000  # a day's start
        segments = max(1, args.rows // SEGMENT_ROWS)
        step_us = (20 * 3600 * 1_000_000) // segments  # spread over 20 hours
        tw = time.perf_counter()
        for k in range(segments):
            _write(
                ctx.artifacts,
                _segment(rng, t0_us + k * step_us, SEGMENT_ROWS, args.columns, k),
                t0_us + k * step_us,
            )
        print(
            f"wrote {segments} segments ({segments * SEGMENT_ROWS:,} rows x {args.columns} "
            f"inputs) in {time.perf_counter() - tw:.1f} s",
            file=sys.stderr,
        )
        now_ms = (t0_us + 23 * 3600 * 1_000_000) // 1000
        if args.engine == "ray":
            import ray

            tr = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
            print(f"Ray started in {time.perf_counter() - tr:.1f} s", file=sys.stderr)

        def timed(**kw: Any) -> tuple[float, dict[str, Any]]:
            t = time.perf_counter()
            _, result, _ = run_monitor(
                spec,
                store=ctx.store,
                artifacts=ctx.artifacts,
                now_ms=now_ms,
                **kw,  # type: ignore[arg-type]
            )
            return time.perf_counter() - t, result

        cold_s, cold = timed(workers=args.workers)
        k = segments
        _write(
            ctx.artifacts,
            _segment(rng, t0_us + 21 * 3600 * 1_000_000, SEGMENT_ROWS, args.columns, k),
            t0_us + 21 * 3600 * 1_000_000,
        )
        inc_s, inc = timed(workers=args.workers)
        rows = inc["rows"]
        print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"engine {args.engine}, {args.workers} workers")
        print(f"{'run':<40} {'rows':>12} {'segments read':>14} {'seconds':>9}")
        print(
            f"{'mloop cold (no partials)':<40} {cold['rows']:>12,} "
            f"{cold['incremental']['segments_read']:>14} {cold_s:>9.1f}"
        )
        print(
            f"{'mloop incremental (+1 segment)':<40} {rows:>12,} "
            f"{inc['incremental']['segments_read']:>14} {inc_s:>9.1f}"
        )
        if args.full:
            full_s, full = timed(incremental=False)
            same = full["drift"]["dataset_drift"] == inc["drift"]["dataset_drift"]
            print(
                f"{'full re-read (incremental=False)':<40} {full['rows']:>12,} "
                f"{'all':>14} {full_s:>9.1f}   same verdict: {same}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
