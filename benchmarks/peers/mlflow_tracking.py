"""The MLflow side of ``benchmarks/tracking.py``; runs inside MLflow's own environment only.

Started by ``benchmarks/_peers.py:run_peer`` as ``python mlflow_tracking.py COMMAND ... --result
FILE``; each command measures one thing and writes one JSON object to FILE. Nothing here
imports mloop, and every loop is bounded by a count and a time limit.

Commands:
    log        one synchronous ``mlflow.log_metric`` call per point, in one run
    log-batch  ``MlflowClient.log_batch`` in chunks of MLflow's 1,000-metric limit
    populate   the search data set (runs with params and metrics) and one long metric history
    search     ``MlflowClient.search_runs``, timed
    history    ``MlflowClient.get_metric_history``, timed
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Before mlflow is imported: no telemetry, no background logging.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

BATCH_LIMIT = 1000  # MLflow's limit of metrics per log_batch call
WARMUP_CALLS = 20


def say(msg: str) -> None:
    print(f"[mlflow] {msg}", file=sys.stderr, flush=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def get_or_create_experiment(client: MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(client.create_experiment(name))


def cmd_log(a: argparse.Namespace) -> dict[str, Any]:
    """Synchronous log_metric calls: a sample of at most max_calls or max_s, rate extrapolated."""
    mlflow.set_tracking_uri(a.uri)
    client = MlflowClient(a.uri)
    exp_id = get_or_create_experiment(client, a.experiment)
    mlflow.set_experiment(experiment_id=exp_id)
    target = min(a.points, a.max_calls)
    with mlflow.start_run() as run:
        # Warm-up: the connection (through a server) and the store's caches are up.
        for i in range(WARMUP_CALLS):
            mlflow.log_metric("warmup", 0.0, step=i, synchronous=True)
        calls = 0
        t0 = time.perf_counter()
        deadline = t0 + a.max_s
        log_metric = mlflow.log_metric
        for i in range(target):
            log_metric("loss", i * 0.001, step=i, synchronous=True)
            calls += 1
            if (calls & 15) == 0 and time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - t0
    rate = calls / elapsed
    say(f"log {a.uri.split(':')[0]}: {calls} calls in {elapsed:.2f} s = {rate:,.0f}/s")
    return {
        "calls": calls,
        "elapsed_s": elapsed,
        "rate": rate,
        "points": a.points,
        "extrapolated": calls < a.points,
        "extrapolated_total_s": a.points / rate,
        "run_id": run.info.run_id,
    }


def cmd_log_batch(a: argparse.Namespace) -> dict[str, Any]:
    client = MlflowClient(a.uri)
    exp_id = get_or_create_experiment(client, a.experiment)
    run_id = client.create_run(exp_id).info.run_id
    ts = now_ms()
    points = [Metric("loss", i * 0.001, ts, i) for i in range(a.points)]
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + a.max_s
    for lo in range(0, a.points, BATCH_LIMIT):
        client.log_batch(run_id, metrics=points[lo : lo + BATCH_LIMIT], synchronous=True)
        done = min(a.points, lo + BATCH_LIMIT)
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - t0
    client.set_terminated(run_id)
    rate = done / elapsed
    say(f"log_batch: {done} points in {elapsed:.2f} s = {rate:,.0f}/s")
    return {
        "points_logged": done,
        "elapsed_s": elapsed,
        "rate": rate,
        "points": a.points,
        "extrapolated": done < a.points,
        "run_id": run_id,
    }


def cmd_populate(a: argparse.Namespace) -> dict[str, Any]:
    """The search data set, with MLflow's fastest public bulk path: one create_run and one
    log_batch (10 params + 10 metrics) per run; and one run holding a long history."""
    data = json.loads(Path(a.dataset).read_text())
    uri = f"sqlite:///{a.db}"
    client = MlflowClient(uri)
    t0 = time.perf_counter()
    deadline = t0 + a.max_s
    exp_id = client.create_experiment("search")
    ts = now_ms()
    for i, run in enumerate(data["runs"]):
        run_id = client.create_run(exp_id, run_name=run["name"], start_time=ts + i).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, 0) for k, v in run["metrics"].items()],
            params=[Param(k, v) for k, v in run["params"].items()],
            synchronous=True,
        )
        if i % 1000 == 999:
            say(f"populate: {i + 1} runs, {time.perf_counter() - t0:.0f} s")
        if time.perf_counter() > deadline:
            raise SystemExit(f"populate ran past {a.max_s} s after {i + 1} runs; giving up")
    hist_exp = client.create_experiment("history")
    hist_run = client.create_run(hist_exp, run_name="history").info.run_id
    n = data["history_points"]
    for lo in range(0, n, BATCH_LIMIT):
        client.log_batch(
            hist_run,
            metrics=[Metric("loss", i * 0.001, ts, i) for i in range(lo, min(n, lo + BATCH_LIMIT))],
            synchronous=True,
        )
        if time.perf_counter() > deadline:
            raise SystemExit(f"populate ran past {a.max_s} s in the history run; giving up")
    client.set_terminated(hist_run)
    elapsed = time.perf_counter() - t0
    say(f"populate: {len(data['runs'])} runs + {n} history points in {elapsed:.0f} s")
    return {
        "experiment_id": exp_id,
        "history_run_id": hist_run,
        "elapsed_s": elapsed,
    }


def timed(fn: Any, repeats: int, warmup: int) -> tuple[list[float], Any]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def cmd_search(a: argparse.Namespace) -> dict[str, Any]:
    client = MlflowClient(a.uri)

    def search() -> Any:
        return client.search_runs(
            [a.experiment_id],
            filter_string=a.filter,
            order_by=[a.order_by],
            max_results=a.max_results,
        )

    times, runs = timed(search, a.repeats, a.warmup)
    say(f"search: median {statistics.median(times) * 1000:.1f} ms ({len(runs)} runs)")
    return {
        "times_s": times,
        "median_s": statistics.median(times),
        "names": [r.info.run_name for r in runs],
    }


def cmd_history(a: argparse.Namespace) -> dict[str, Any]:
    client = MlflowClient(a.uri)
    times, hist = timed(lambda: client.get_metric_history(a.run_id, a.key), a.repeats, a.warmup)
    say(f"history: median {statistics.median(times) * 1000:.1f} ms ({len(hist)} points)")
    return {"times_s": times, "median_s": statistics.median(times), "points": len(hist)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Any) -> argparse.ArgumentParser:
        sp = sub.add_parser(name)
        sp.set_defaults(fn=fn)
        sp.add_argument("--result", required=True, help="write the JSON result here")
        return sp

    sp = add("log", cmd_log)
    sp.add_argument("--uri", required=True)
    sp.add_argument("--experiment", default="log")
    sp.add_argument("--points", type=int, required=True)
    sp.add_argument("--max-calls", type=int, required=True)
    sp.add_argument("--max-s", type=float, required=True)

    sp = add("log-batch", cmd_log_batch)
    sp.add_argument("--uri", required=True)
    sp.add_argument("--experiment", default="log-batch")
    sp.add_argument("--points", type=int, required=True)
    sp.add_argument("--max-s", type=float, required=True)

    sp = add("populate", cmd_populate)
    sp.add_argument("--db", required=True)
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--max-s", type=float, required=True)

    for name, fn in (("search", cmd_search), ("history", cmd_history)):
        sp = add(name, fn)
        sp.add_argument("--uri", required=True)
        sp.add_argument("--repeats", type=int, default=5)
        sp.add_argument("--warmup", type=int, default=1)
    sp = sub.choices["search"]
    sp.add_argument("--experiment-id", required=True)
    sp.add_argument("--filter", required=True)
    sp.add_argument("--order-by", required=True)
    sp.add_argument("--max-results", type=int, default=100)
    sp = sub.choices["history"]
    sp.add_argument("--run-id", required=True)
    sp.add_argument("--key", required=True)

    a = p.parse_args()
    # MLflow prints "View run ... at ..." on stdout; keep stdout for nothing but this script.
    sys.stdout = sys.stderr
    result = a.fn(a)
    result["mlflow_version"] = mlflow.__version__
    Path(a.result).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
