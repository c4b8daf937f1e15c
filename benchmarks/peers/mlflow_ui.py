"""MLflow's side of the UI benchmark: fill an MLflow store with the same runs as mloop's.

Runs in MLflow's own virtual environment (started by ``benchmarks/ui.py``); it never imports
mloop. The data set is a JSON file both sides read, so both UIs show the same runs.

    python mlflow_ui.py populate --db PATH --dataset FILE --max-s 3600 --result OUT
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# Before mlflow is imported: no telemetry, no background logging.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

BATCH_LIMIT = 1000  # MLflow's limit of metrics per log_batch call


def say(msg: str) -> None:
    print(f"[mlflow-ui] {msg}", file=sys.stderr, flush=True)


def cmd_populate(a: argparse.Namespace) -> dict[str, Any]:
    """MLflow's fastest public bulk path: one create_run and one log_batch per run; the long
    histories in batches of 1,000 points."""
    data = json.loads(Path(a.dataset).read_text())
    client = MlflowClient(f"sqlite:///{a.db}")
    t0 = time.perf_counter()
    deadline = t0 + a.max_s
    exp_id = client.create_experiment("ui")
    start = data["start_ms"]
    for i, run in enumerate(data["runs"]):
        run_id = client.create_run(exp_id, run_name=run["name"], start_time=start + i).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, start + i, 0) for k, v in run["metrics"].items()],
            params=[Param(k, v) for k, v in run["params"].items()],
            synchronous=True,
        )
        client.set_terminated(run_id, end_time=start + i + 1000)
        if i % 1000 == 999:
            say(f"populate: {i + 1} runs, {time.perf_counter() - t0:.0f} s")
        if time.perf_counter() > deadline:
            raise SystemExit(f"populate ran past {a.max_s} s after {i + 1} runs; giving up")
    long = data["long"]
    run_id = client.create_run(exp_id, run_name=long["name"], start_time=start - 1).info.run_id
    n = long["points"]
    for key in long["keys"]:
        for lo in range(0, n, BATCH_LIMIT):
            hi = min(n, lo + BATCH_LIMIT)
            client.log_batch(
                run_id,
                metrics=[Metric(key, 1.0 / (1 + s / 1000), start + s, s) for s in range(lo, hi)],
                synchronous=True,
            )
            if time.perf_counter() > deadline:
                raise SystemExit(f"populate ran past {a.max_s} s in the long run; giving up")
    client.set_terminated(run_id)
    elapsed = time.perf_counter() - t0
    say(f"populate: {len(data['runs'])} runs + {len(long['keys'])} x {n} points in {elapsed:.0f} s")
    return {"experiment_id": exp_id, "long_run_id": run_id, "elapsed_s": elapsed}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("populate")
    sp.add_argument("--db", required=True)
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--max-s", type=float, required=True)
    sp.add_argument("--result", required=True)
    a = p.parse_args()
    result = cmd_populate(a)
    Path(a.result).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
