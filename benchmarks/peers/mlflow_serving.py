"""The MLflow side of ``benchmarks/serving.py``; runs inside MLflow's own environment only.

Started by ``benchmarks/_peers.py:run_peer`` as ``python mlflow_serving.py save --model-pkl PKL
--example PARQUET --out DIR --result FILE``: saves the pickled estimator as an MLflow model
folder with ``mlflow.sklearn.save_model`` (with the input example, so a signature is inferred and
checked on every request), ready for ``mlflow models serve -m DIR --env-manager local``. Nothing
here imports mloop.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

# Before mlflow is imported: no telemetry.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import pandas as pd


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("command", choices=["save"])
    p.add_argument("--model-pkl", required=True)
    p.add_argument("--example", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--result", required=True)
    a = p.parse_args()

    import mlflow
    import mlflow.sklearn

    with open(a.model_pkl, "rb") as fh:
        model = pickle.load(fh)
    example = pd.read_parquet(a.example)
    mlflow.sklearn.save_model(model, a.out, input_example=example)
    Path(a.result).write_text(json.dumps({"mlflow": mlflow.__version__, "path": a.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
