"""The MLflow-compatible API: the real MLflow client against mloop's server and against MLflow's
own server, on the same machine, in one run.

Figures (median of ``--repeats`` timed calls after one warm-up, each server over its own fresh
SQLite file):

1. ``MlflowClient.log_batch`` of 10,000 metric points to one run (the client sends MLflow's
   1,000-metric requests), until the server answered every request.
2. ``MlflowClient.search_runs`` returning all 1,000 runs of an experiment (5 params and 5
   metrics each) with a filter and an order by a metric.

Each is also measured as the same HTTP requests sent raw (``requests``, the JSON the client
sends): the server's share. The client's own work (building and parsing protobuf messages) is
the same for both servers and bounds the end-to-end ratio: its CPU time during each timed call
(``time.process_time`` in the client's process) is reported too.

The client is the same code in the same process (MLflow's virtual environment,
``benchmarks/.venvs/mlflow``) for both servers; only the URL changes. Target: mloop at least
5x faster on both.

Usage::

    .venv/bin/python benchmarks/mlflow_api.py [--quick] [--skip-mlflow] [--json PATH]
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _peers import ensure_peer, peer_version, run_peer
from _report import (
    fmt_ratio,
    interrupted,
    load_average,
    log,
    machine_info,
    parse,
    parser,
    run_logged,
    scratch,
)
from tracking import running_server

CLIENT = BENCH / "peers" / "mlflow_client_api.py"
WORK = BENCH / ".work" / "mlflow-api"
TARGET = 5.0
FULL = {"points": 10_000, "runs": 1_000, "repeats": 5}
QUICK = {"points": 2_000, "runs": 100, "repeats": 2}


def client(command: str, url: str, workdir: Path, **options: Any) -> dict[str, Any]:
    args = [command, "--uri", url]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return run_peer("mlflow", CLIENT, args, timeout_s=3600, cwd=workdir)


def measure(tool: str, sizes: dict[str, int], workdir: Path) -> dict[str, float]:
    folder = workdir / tool
    folder.mkdir()
    with running_server(tool, folder / f"{tool}.db", folder) as server:
        batch = client(
            "log-batch", server.url, folder, points=sizes["points"], repeats=sizes["repeats"]
        )
        log(f"{tool}: populating {sizes['runs']} runs for the search")
        populate = client("populate", server.url, folder, runs=sizes["runs"], experiment="search")
        search = client(
            "search",
            server.url,
            folder,
            runs=sizes["runs"],
            repeats=sizes["repeats"],
            experiment="search",
        )
    return {
        "log_batch_s": batch["median_s"],
        "log_batch_raw_s": batch["raw_median_s"],
        "log_batch_client_cpu_s": batch["client_cpu_s"],
        "search_s": search["median_s"],
        "search_raw_s": search["raw_median_s"],
        "search_client_cpu_s": search["client_cpu_s"],
        "search_response_bytes": search["raw_bytes"],
        "populate_s": populate["seconds"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(
        "The real MLflow client against mloop's MLflow-compatible API and MLflow's server.",
        peer="mlflow",
        keep=True,
    )
    a = parse(p, argv)
    sizes = QUICK if a.quick else FULL
    results: dict[str, dict[str, float]] = {}
    with scratch(WORK / f"run-{os.getpid()}", keep=a.keep) as workdir:
        try:
            ensure_peer("mlflow")
            info = machine_info(mlflow=peer_version("mlflow", "mlflow"))
            info["loadavg_1m_at_start"] = load_average()

            def run() -> None:
                results["mloop"] = measure("mloop", sizes, workdir)
                if not a.skip_mlflow:
                    results["mlflow"] = measure("mlflow", sizes, workdir)

            run_logged(info, run)
            info["loadavg_1m_at_end"] = load_average()
        except KeyboardInterrupt:
            return interrupted()
    print()
    print(
        f"mloop {info['mloop']} vs MLflow {info['mlflow']} server, the MLflow {info['mlflow']} "
        f"client for both, on {info['cpu']}, {info['nproc']} CPUs, load "
        f"{info['loadavg_1m_at_start']:.1f} -> {info['loadavg_1m_at_end']:.1f}"
        + (" [--quick sizes]" if a.quick else "")
    )
    rows = [
        (f"log_batch of {sizes['points']:,} metrics", "log_batch_s"),
        ("  the same requests, raw HTTP", "log_batch_raw_s"),
        ("  the client's own CPU time", "log_batch_client_cpu_s"),
        (f"search_runs over {sizes['runs']:,} runs", "search_s"),
        ("  the same request, raw HTTP", "search_raw_s"),
        ("  the client's own CPU time", "search_client_cpu_s"),
    ]
    print(f"{'figure':<34} {'mloop':>10} {'MLflow':>10}  mloop/MLflow")
    for label, key in rows:
        ours = results["mloop"][key]
        theirs = results.get("mlflow", {}).get(key)
        speedup = theirs / ours if theirs else None
        met = "-" if speedup is None else ("yes" if speedup >= TARGET else "NO")
        print(
            f"{label:<34} {ours * 1000:>8.1f}ms "
            + (f"{theirs * 1000:>8.1f}ms" if theirs else f"{'-':>10}")
            + f"  {fmt_ratio(ours / theirs, speedup) if theirs else '-'}  target 5x: {met}"
        )
    # The client's CPU time is spent whatever the server: it bounds the end-to-end ratio.
    if "mlflow" in results:
        for what, key in (("log_batch", "log_batch"), ("search_runs", "search")):
            client_s = results["mloop"][f"{key}_client_cpu_s"]
            theirs = results["mlflow"][f"{key}_s"]
            print(
                f"{what}: with a server answering in no time, the client alone "
                f"({client_s * 1000:.0f} ms of CPU) caps the ratio at "
                f"{theirs / client_s:.1f}x"
            )
    print(
        f"search_runs response: {results['mloop']['search_response_bytes']:,} bytes (mloop)"
        + (
            f", {results['mlflow']['search_response_bytes']:,} bytes (MLflow)"
            if "mlflow" in results
            else ""
        )
    )
    if a.json:
        a.json.write_text(
            json.dumps({"machine": info, "sizes": sizes, "figures": results}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
