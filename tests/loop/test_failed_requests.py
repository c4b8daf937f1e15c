"""Failed requests in the prediction log: a real served model that fails on some inputs, its
failures logged per version (status, error, no output), left out of readers and feedback
joins, counted by the loop's error rate and the monitor's window."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
from loop_testlib import FailsOnNegative

import mloop.models
import mloop.store
from mloop.loop._analysis import analyse
from mloop.monitor import PredictionLog, read_predictions
from mloop.monitor._window import window_profile
from mloop.serve import create_serve_app
from mloop.server import ServerThread

NOW = 1_900_000_000.0


def test_failed_requests_are_logged_and_counted_per_version(
    mloop_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "doubler"
    mloop.models.save(FailsOnNegative(), path, input_example=pd.DataFrame({"x": [1.0, 2.0]}))
    artifacts = mloop.store.current().artifacts
    log = PredictionLog(artifacts, clock=lambda: NOW)
    app = create_serve_app({"doubler": str(path)}, prediction_log=log)
    xs = [1.0, -1.0, 2.0, 3.0, -5.0]
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        codes = []
        for i, x in enumerate(xs):
            r = client.post(
                "/v1/models/doubler:predict",
                json={"records": [{"x": x}, {"x": abs(x) + 1}]},
                headers={"x-request-id": f"q{i}"},
            )
            codes.append(r.status_code)
        assert codes == [200, 500, 200, 200, 500]
        # a label for a failed request: nothing to join it to
        fb = client.post(
            "/v1/feedback",
            json={"items": [{"request_id": "q0", "label": 1}, {"request_id": "q1", "label": 0}]},
        )
        assert fb.status_code == 202, fb.text
        assert log.flush(30)

    answered = read_predictions(artifacts, "doubler")
    assert sorted(answered["request_id"].unique()) == ["q0", "q2", "q3"]
    assert "status" not in answered.columns
    assert answered.loc[answered["request_id"] == "q0", "label"].tolist() == [1, 1]

    every = read_predictions(artifacts, "doubler", failed=True)
    failed = every[every["status"].notna()]
    assert sorted(failed["request_id"].unique()) == ["q1", "q4"]
    assert set(failed["status"]) == {500}
    assert set(failed["error"]) == {"MODEL_ERROR: ValueError"}
    outputs = [c for c in every.columns if c.startswith("output")]
    assert outputs and failed[outputs].isna().all().all()  # no output
    assert failed["label"].isna().all()  # the label sent for q1 is not joined
    assert failed.loc[failed["request_id"] == "q4", "input.x"].tolist() == [-5.0, 6.0]

    version = str(every["version"].iloc[0])
    assert version == "1"  # a model served from a folder is version 1
    window = window_profile(artifacts, "doubler", start=NOW - 60, end=NOW + 60)
    assert window.rows == 6 and window.errors == {version: 4}  # rows: 2 per request

    values = analyse(
        artifacts,
        "doubler",
        champion=None,
        challenger=1,
        start_ms=int((NOW - 60) * 1000),
        end_ms=int((NOW + 60) * 1000),
    )
    assert values["canary"]["errors"] == 2.0
    assert values["canary"]["error_rate"] == 2 / 5
    assert values["canary"]["rows"] == 6.0
