"""The MLflow client side of ``benchmarks/mlflow_api.py``; runs inside MLflow's environment.

The same client calls are timed against any server speaking MLflow's REST API (mloop's
MLflow-compatible API, or MLflow's own server): nothing here imports mloop.

Commands (each writes one JSON object to ``--result``):
    populate    ``--runs`` runs with 5 params and 5 metrics each (for search)
    log-batch   ``MlflowClient.log_batch`` of ``--points`` metrics in one call (the client
                splits them into MLflow's 1,000-metric requests), timed ``--repeats`` times
    search      ``MlflowClient.search_runs`` returning every run of the experiment, timed
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"

import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

BATCH_LIMIT = 1000  # MLflow's metrics per LogBatch request


def say(msg: str) -> None:
    print(f"[client] {msg}", file=sys.stderr, flush=True)


def experiment(client: MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return str(exp.experiment_id) if exp is not None else str(client.create_experiment(name))


def cmd_populate(a: argparse.Namespace) -> dict[str, Any]:
    client = MlflowClient(a.uri)
    exp = experiment(client, a.experiment)
    t0 = time.perf_counter()
    ts = int(time.time() * 1000)
    for i in range(a.runs):
        run = client.create_run(exp, run_name=f"run-{i}")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(f"m{j}", ((i * 7 + j) % 100) / 100, ts, 0) for j in range(5)],
            params=[Param(f"p{j}", str((i + j) % 10)) for j in range(5)],
        )
        client.set_terminated(run.info.run_id)
        if time.perf_counter() - t0 > a.max_s:
            raise SystemExit(f"populate ran past {a.max_s} s after {i + 1} runs")
    return {"runs": a.runs, "seconds": time.perf_counter() - t0}


def cmd_log_batch(a: argparse.Namespace) -> dict[str, Any]:
    client = MlflowClient(a.uri)
    exp = experiment(client, a.experiment)
    times = []
    cpu = []
    ts = int(time.time() * 1000)
    for r in range(a.repeats + 1):  # the first is a warm-up
        run = client.create_run(exp, run_name=f"batch-{r}")
        metrics = [Metric("loss", 1.0 / (i + 1), ts + i, i) for i in range(a.points)]
        c0 = time.process_time()
        t0 = time.perf_counter()
        client.log_batch(run.info.run_id, metrics=metrics)
        elapsed = time.perf_counter() - t0
        if r:
            times.append(elapsed)
            cpu.append(time.process_time() - c0)
        stored = client.get_metric_history(run.info.run_id, "loss")
        if len(stored) != a.points:
            raise SystemExit(f"the server kept {len(stored)} of {a.points} points")
    # The same requests as raw HTTP: the server's share, without the client's own work.
    raw = []
    session = requests.Session()
    for r in range(a.repeats + 1):
        run = client.create_run(exp, run_name=f"raw-{r}")
        bodies = [
            {
                "run_id": run.info.run_id,
                "metrics": [
                    {"key": "loss", "value": 1.0 / (i + 1), "timestamp": ts + i, "step": i}
                    for i in range(start, min(start + BATCH_LIMIT, a.points))
                ],
            }
            for start in range(0, a.points, BATCH_LIMIT)
        ]
        t0 = time.perf_counter()
        for body in bodies:
            session.post(f"{a.uri}/api/2.0/mlflow/runs/log-batch", json=body).raise_for_status()
        if r:
            raw.append(time.perf_counter() - t0)
    return {
        "times": times,
        "median_s": statistics.median(times),
        "client_cpu_s": statistics.median(cpu),
        "raw_times": raw,
        "raw_median_s": statistics.median(raw),
    }


def cmd_search(a: argparse.Namespace) -> dict[str, Any]:
    client = MlflowClient(a.uri)
    exp = experiment(client, a.experiment)
    times = []
    cpu = []
    found = 0
    for r in range(a.repeats + 1):
        c0 = time.process_time()
        t0 = time.perf_counter()
        runs = client.search_runs(
            [exp],
            filter_string="params.p0 != 'x'",
            order_by=["metrics.m1 DESC"],
            max_results=a.runs,
        )
        elapsed = time.perf_counter() - t0
        found = len(runs)
        if r:
            times.append(elapsed)
            cpu.append(time.process_time() - c0)
    if found != a.runs:
        raise SystemExit(f"search returned {found} runs, expected {a.runs}")
    raw = []
    session = requests.Session()
    body = {
        "experiment_ids": [exp],
        "filter": "params.p0 != 'x'",
        "order_by": ["metrics.m1 DESC"],
        "max_results": a.runs,
    }
    for r in range(a.repeats + 1):
        t0 = time.perf_counter()
        answer = session.post(f"{a.uri}/api/2.0/mlflow/runs/search", json=body)
        answer.raise_for_status()
        if len(answer.json()["runs"]) != a.runs:
            raise SystemExit("the raw search did not return every run")
        if r:
            raw.append(time.perf_counter() - t0)
    return {
        "times": times,
        "median_s": statistics.median(times),
        "client_cpu_s": statistics.median(cpu),
        "raw_times": raw,
        "raw_median_s": statistics.median(raw),
        "raw_bytes": len(answer.content),
        "runs": found,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["populate", "log-batch", "search"])
    p.add_argument("--uri", required=True)
    p.add_argument("--experiment", default="bench")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--points", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-s", type=float, default=1200.0)
    p.add_argument("--result", required=True)
    a = p.parse_args()
    fn = {"populate": cmd_populate, "log-batch": cmd_log_batch, "search": cmd_search}[a.command]
    out = fn(a)
    say(f"{a.command} on {a.uri}: {json.dumps(out)[:200]}")
    with open(a.result, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
