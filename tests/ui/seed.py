"""Real data for the UI's browser tests, written through mloop's own client to a running server.

Run as a script with ``MLOOP_TRACKING_URI`` pointing at the server; prints one JSON object with
the ids the tests look for. Small on purpose: the browser tests stay fast.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import mloop
import mloop.data
import mloop.models
import mloop.pipeline
import mloop.tracking

LONG_POINTS = 5_000

PIPELINE = """
from mloop.pipeline import pipeline, step


@step
def load(n: int):
    return list(range(n))


@step
def features(rows):
    return [r * 2 for r in rows]


@step
def labels(rows):
    return [r % 2 for r in rows]


@step
def train(x, y):
    return {"weights": sum(x) / max(1, len(y))}


@pipeline
def churn(n: int = 20):
    rows = load(n)
    return train(features(rows), labels(rows))
"""

REPORT = """<!doctype html><html><head><style>body { font-family: sans-serif; color: #333 }</style>
<title>drift report</title></head>
<body><h1 id="title">Drift report</h1><p>3 of 12 columns drifted.</p>
<script>document.body.setAttribute("data-script-ran", "1");</script></body></html>
"""


def png(width: int = 8, height: int = 8) -> bytes:
    """A tiny valid PNG (a gradient), written by hand: no imaging library needed."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 30 % 256, y * 30 % 256, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def main(workdir: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    rng = np.random.default_rng(7)

    # -- a dataset, registered and read by the training runs ----------------------------------
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 400),
            "spend": rng.gamma(2.0, 30.0, 400).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], 400, p=[0.6, 0.3, 0.1]),
            "churned": rng.integers(0, 2, 400),
        }
    )
    frame.loc[::17, "spend"] = np.nan
    dataset = mloop.data.register(frame, "churn-train", description="400 customers")
    out["dataset"] = dataset.name
    # checked twice: passing, then failing inside a run (the dataset page shows both)
    mloop.data.check("datasets:/churn-train/1", {"columns": {"age": {"min": 18}}})
    with mloop.start_run(run_name="data-checks") as check_run:
        mloop.data.check(dataset, {"columns": {"age": {"max": 60}, "plan": {"nullable": False}}})
    out["check_run"] = check_run.info.run_id

    # -- an experiment of runs: params, metric histories, tags, a nested tuning study ------------
    mloop.set_experiment("churn")
    run_ids = []
    for i in range(12):
        model = "lgbm" if i % 2 else "rf"
        with mloop.start_run(run_name=f"{model}-{i:02d}") as run:
            mloop.log_params({"model": model, "lr": 0.01 * (i + 1), "depth": 3 + i % 4})
            for step in range(60):
                mloop.log_metric("loss", math.exp(-step / (10 + i)) + 0.01 * i, step=step)
            mloop.log_metrics({"auc": 0.70 + 0.02 * i, "f1": 0.5 + 0.01 * (i % 5)})
            mloop.set_tag("team", "growth" if i % 3 else "core")
            mloop.log_input(dataset, context="train")
            run_ids.append(run.run_id)
    out["runs"] = run_ids

    with mloop.start_run(run_name="tuning") as parent:
        mloop.log_param("study", "lr-search")
        children = []
        for t in range(4):
            with mloop.start_run(run_name=f"trial-{t}", nested=True) as child:
                mloop.log_param("lr", 0.1 / (t + 1))
                mloop.log_metric("auc", 0.8 + 0.01 * t)
                children.append(child.run_id)
        mloop.log_metric("auc", 0.83)
    out["parent"] = parent.run_id
    out["children"] = children

    # One run with a long history (the chart zoom test) and artifacts of every previewed kind.
    with mloop.start_run(run_name="long-history") as long_run:
        mloop.log_param("model", "mlp")
        steps = np.arange(LONG_POINTS)
        noise = rng.normal(0, 0.02, LONG_POINTS)
        now = int(time.time() * 1000)
        # Straight to the store (one batch), with a timestamp per point for the time axis.
        mloop.tracking.current_client().store.log_batch(
            long_run.run_id,
            metrics=[
                ("train_loss", float(1 / (1 + s / 300) + n), int(s), now + int(s))
                for s, n in zip(steps, noise, strict=True)
            ],
        )
        mloop.log_metric("auc", 0.91)
        art = workdir / "artifacts"
        art.mkdir()
        (art / "notes.txt").write_text("trained on 400 rows\n")
        (art / "config.yaml").write_text("model: mlp\nlayers: [64, 32]\n")
        (art / "metrics.json").write_text(json.dumps({"auc": 0.91, "f1": 0.7}))
        (art / "plot.png").write_bytes(png())
        (art / "reports").mkdir()
        (art / "reports" / "drift.html").write_text(REPORT)
        pq.write_table(pa.Table.from_pandas(frame.head(30)), art / "sample.parquet")
        mloop.log_artifacts(art)
    out["long_run"] = long_run.run_id

    # A run still going: the live-rows test ends it.
    running = mloop.tracking.current_client().create_run(
        mloop.set_experiment("churn").experiment_id, run_name="still-running"
    )
    out["running"] = running.info.run_id

    # -- a registered model, logged from a run that read the dataset -------------------------
    from sklearn.linear_model import LogisticRegression

    x = frame[["age", "spend"]].fillna(0.0)
    model = LogisticRegression(max_iter=200).fit(x, frame["churned"])
    with mloop.start_run(run_name="register") as reg_run:
        mloop.log_input(dataset, context="train")
        mloop.log_metric("auc", 0.77)
        info = mloop.models.log_model(
            model, "model", input_example=x.head(5), registered_model_name="churn-model"
        )
    from mloop.registry import set_alias

    set_alias("churn-model", "champion", info.registered_model_version.version, reason="first")
    out["model"] = "churn-model"
    out["model_run"] = reg_run.run_id
    out["experiment_id"] = mloop.set_experiment("churn").experiment_id

    # -- a pipeline run with nested step runs -------------------------------------------------
    source = workdir / "churn_pipeline.py"
    source.write_text(textwrap.dedent(PIPELINE))
    result = mloop.pipeline.run(f"{source}:churn", experiment="pipelines")
    out["pipeline_run"] = result.run_id
    mloop.flush()
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
