"""The Evidently side of ``benchmarks/drift.py``; runs inside Evidently's own environment only.

Started by ``benchmarks/_peers.py:run_peer`` as ``python evidently_drift.py run --reference A
--current B --result FILE``: reads both Parquet files with pandas, then times
``Report([DataDriftPreset()]).run(current, reference)`` (wall and CPU seconds of this process)
and writes each column's method, value and verdict to FILE as JSON. Nothing here imports mloop.

Evidently 0.7 reports each column's statistic (a p-value or a distance) and its threshold, not
the verdict; the verdict is derived with Evidently's own rules: ``p <= threshold`` for K-S,
``p < threshold`` for the other p-values, ``value >= threshold`` for distances.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

NAME = re.compile(
    r"ValueDrift\(column=(?P<col>.*),method=(?P<method>.*),threshold=(?P<thr>[^)]*)\)$"
)


def say(msg: str) -> None:
    print(f"[evidently] {msg}", file=sys.stderr, flush=True)


def verdict(method: str, value: float, threshold: float) -> bool:
    if "p_value" in method:
        return value <= threshold if method.startswith("K-S") else value < threshold
    return value >= threshold


def cmd_run(a: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    ref = pd.read_parquet(a.reference)
    cur = pd.read_parquet(a.current)
    read_s = time.perf_counter() - t0
    say(f"read {len(ref):,} + {len(cur):,} rows x {ref.shape[1]} columns in {read_s:.1f} s")
    wall, cpu = time.perf_counter(), time.process_time()
    snapshot = Report([DataDriftPreset(drift_share=a.share)]).run(
        current_data=cur, reference_data=ref
    )
    data = snapshot.dict()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    say(f"DataDriftPreset: {wall:.1f} s wall, {cpu:.1f} s CPU")
    columns: dict[str, Any] = {}
    count: dict[str, float] = {}
    for m in data["metrics"]:
        name = m["metric_name"]
        hit = NAME.match(name)
        if hit:
            value = float(m["value"])
            thr = float(hit["thr"])
            columns[hit["col"]] = {
                "method": hit["method"],
                "value": value,
                "threshold": thr,
                "drifted": verdict(hit["method"], value, thr),
            }
        elif name.startswith("DriftedColumnsCount"):
            count = m["value"]
    drifted = sorted(c for c, v in columns.items() if v["drifted"])
    if count and int(count["count"]) != len(drifted):
        say(f"warning: DriftedColumnsCount says {count['count']}, verdicts give {len(drifted)}")
    import evidently

    return {
        "version": evidently.__version__,
        "pandas": pd.__version__,
        "read_s": read_s,
        "wall_s": wall,
        "cpu_s": cpu,
        "columns": columns,
        "drifted": drifted,
        "drifted_count": count,
        "dataset_drift": bool(count and count["share"] >= a.share),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--reference", type=Path, required=True)
    run.add_argument("--current", type=Path, required=True)
    run.add_argument("--share", type=float, default=0.5)
    run.add_argument("--result", type=Path, required=True)
    a = p.parse_args()
    out = cmd_run(a)
    a.result.write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
