"""The demo's serving step: ``models:/demo-classifier@champion`` behind a real ``mloop serve``
app on 127.0.0.1, driven with the held-out rows, late labels sent to ``POST /v1/feedback``, and
the accuracy read back from the prediction log, as the monitor will read it."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mloop.cli._demo_loop import MODEL_NAME, step

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from mloop._core import Settings

__all__ = ["serve_preview"]

# Concurrent callers. They share this process, and its GIL, with the server: more of them would
# mostly measure the contention (the serving benchmark drives a server from another process).
_CLIENTS = 2


def serve_preview(
    settings: Settings, features: pd.DataFrame, labels: Any, err: Console
) -> dict[str, Any]:
    """Serve the champion, predict every held-out row (one request each, from a few threads),
    send the labels as feedback, stop the server (which flushes the prediction log) and join
    predictions and labels from the log."""
    import httpx
    import numpy as np

    from mloop.serve import PredictionLog, create_serve_app, read_predictions
    from mloop.server import ServerThread
    from mloop.store import open_artifact_store, storage_options

    uri = f"models:/{MODEL_NAME}@champion"
    artifacts = open_artifact_store(settings.artifacts, storage_options(settings))
    batch = uuid.uuid4().hex[:8]  # this run's request ids, apart from earlier demos' in the log
    records = features.to_dict(orient="records")
    with step(err, f"serving {uri}: {len(records)} requests, labels as feedback") as line:
        log = PredictionLog(artifacts)
        app = create_serve_app([uri], prediction_log=log, poll_interval_s=None)
        started = time.perf_counter()
        with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            _wait_ready(http)
            ready_s = time.perf_counter() - started
            path = f"/v1/models/{MODEL_NAME}:predict"

            def call(i: int) -> Any:
                r = http.post(
                    path, json={"records": [records[i]]}, headers={"x-request-id": f"{batch}-{i}"}
                )
                r.raise_for_status()
                return r.json()

            with ThreadPoolExecutor(_CLIENTS) as pool:
                answers = list(pool.map(call, range(len(records))))
            version = answers[0]["model"]["version"]
            items = [{"request_id": f"{batch}-{i}", "label": int(y)} for i, y in enumerate(labels)]
            http.post("/v1/feedback", json={"items": items}).raise_for_status()
            url = server.url
        # The server has stopped: its shutdown wrote what the log held.
        logged = read_predictions(artifacts, MODEL_NAME)
        mine = logged[logged["request_id"].str.startswith(f"{batch}-")]
        accuracy = float((mine["output"] == mine["label"]).mean()) if len(mine) else float("nan")
        # The server's own time per request, as logged (the demo's client threads share this
        # process, and its GIL, with the server: their round trips would overstate it).
        latencies = mine["latency_ms"].to_numpy() if len(mine) else np.zeros(1)
        p50, p99 = (float(v) for v in np.percentile(latencies, [50, 99]))
        line["done"] = (
            f"served {uri} (v{version}) on {url}: {len(records)} requests from {_CLIENTS} "
            f"clients, server time p50 {p50:.1f} ms, p99 {p99:.1f} ms; {len(mine)} predictions "
            f"logged, accuracy from the feedback {accuracy:.3f}"
        )
    return {
        "model_uri": uri,
        "version": version,
        "url": url,
        "ready_s": round(ready_s, 3),
        "requests": len(records),
        "clients": _CLIENTS,
        "latency_ms": {"p50": round(p50, 3), "p99": round(p99, 3)},
        "logged": len(mine),
        "accuracy_from_feedback": accuracy,
        "prediction_log": f"{str(settings.artifacts).rstrip('/')}/predictions/{MODEL_NAME}",
    }


def _wait_ready(http: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while http.get("/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the model server was not ready within {timeout:.0f} s")
        time.sleep(0.02)
