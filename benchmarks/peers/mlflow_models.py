"""The MLflow side of ``benchmarks/models.py``; runs inside MLflow's own environment only.

Started by ``benchmarks/_peers.py:run_peer`` as ``python mlflow_models.py COMMAND ... --result
FILE``; each command measures one thing and writes one JSON object to FILE. Nothing here imports
mloop; the timing loop is the one mloop's side uses (``benchmarks/_timing.py``), bounded by a
count and a time limit.

Commands:
    register  log the pickled estimator with ``mlflow.sklearn.log_model`` (input example, so a
              signature), register it and point an alias at the version
    load      in this fresh process: import ``mlflow.pyfunc``, then time
              ``mlflow.pyfunc.load_model("models:/<name>@<alias>")`` alone, and once more
    predict   ``pyfunc_model.predict`` against the estimator's own ``predict``, one row and many,
              the same DataFrame each call and a new one each call
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

# Before mlflow is imported: no telemetry, no background logging.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"

# The timing loop shared with mloop's side: standard library and numpy only.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from _timing import digest, run_cases


def say(msg: str) -> None:
    print(f"[mlflow] {msg}", file=sys.stderr, flush=True)


def load_pickle(path: str) -> Any:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def cmd_register(a: argparse.Namespace) -> dict[str, Any]:
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(a.uri)
    mlflow.set_registry_uri(a.uri)
    client = MlflowClient(a.uri)
    exp_id = client.create_experiment("models", artifact_location=Path(a.artifacts).as_uri())
    model = load_pickle(a.model_pkl)
    example = pd.read_parquet(a.example)
    t0 = time.perf_counter()
    with mlflow.start_run(experiment_id=exp_id) as run:
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=example, registered_model_name=a.name
        )
    t1 = time.perf_counter()
    version = int(info.registered_model_version)
    client.set_registered_model_alias(a.name, a.alias, version)
    t2 = time.perf_counter()
    say(f"logged and registered {a.name} v{version} in {t1 - t0:.2f} s, alias {a.alias}")
    return {
        "run_id": run.info.run_id,
        "version": version,
        "model_uri": info.model_uri,
        "log_model_s": t1 - t0,
        "set_alias_s": t2 - t1,
        "signature": str(info.signature),
    }


def cmd_load(a: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    import mlflow
    import mlflow.pyfunc

    t1 = time.perf_counter()
    mlflow.set_tracking_uri(a.uri)
    mlflow.set_registry_uri(a.uri)
    t2 = time.perf_counter()
    model = mlflow.pyfunc.load_model(a.model_uri)
    t3 = time.perf_counter()
    mlflow.pyfunc.load_model(a.model_uri)
    t4 = time.perf_counter()
    example = pd.read_parquet(a.example)
    pred = model.predict(example)
    say(f"load {a.model_uri}: {t3 - t2:.3f} s (import {t1 - t0:.3f} s, again {t4 - t3:.3f} s)")
    return {
        "import_s": t1 - t0,
        "load_s": t3 - t2,
        "load_again_s": t4 - t3,
        "digest": digest(pred),
    }


def cmd_predict(a: argparse.Namespace) -> dict[str, Any]:
    import mlflow
    import mlflow.pyfunc

    mlflow.set_tracking_uri(a.uri)
    mlflow.set_registry_uri(a.uri)
    raw = load_pickle(a.model_pkl)
    model = mlflow.pyfunc.load_model(a.model_uri)
    frames = {"one": pd.read_parquet(a.one), "many": pd.read_parquet(a.many)}
    return run_cases(raw.predict, model.predict, frames, json.loads(a.sizes), say)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Any) -> argparse.ArgumentParser:
        sp = sub.add_parser(name)
        sp.set_defaults(fn=fn)
        sp.add_argument("--result", required=True, help="write the JSON result here")
        sp.add_argument("--uri", required=True, help="tracking and registry URI")
        return sp

    sp = add("register", cmd_register)
    sp.add_argument("--model-pkl", required=True)
    sp.add_argument("--example", required=True, help="the input example, a Parquet file")
    sp.add_argument("--artifacts", required=True, help="the experiment's artifact folder")
    sp.add_argument("--name", required=True)
    sp.add_argument("--alias", required=True)

    sp = add("load", cmd_load)
    sp.add_argument("--model-uri", required=True)
    sp.add_argument("--example", required=True)

    sp = add("predict", cmd_predict)
    sp.add_argument("--model-uri", required=True)
    sp.add_argument("--model-pkl", required=True)
    sp.add_argument("--one", required=True, help="one row, a Parquet file")
    sp.add_argument("--many", required=True, help="many rows, a Parquet file")
    sp.add_argument("--sizes", required=True, help="JSON: batch_one, rounds_one, ..., max_s")

    a = p.parse_args()
    # MLflow prints "View run ... at ..." on stdout; keep stdout for nothing but this script.
    sys.stdout = sys.stderr
    result = a.fn(a)
    import mlflow
    import sklearn

    result["mlflow_version"] = mlflow.__version__
    result["sklearn_version"] = sklearn.__version__
    result["pandas_version"] = pd.__version__
    Path(a.result).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
