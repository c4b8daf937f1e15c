"""``POST /v1/feedback`` and the served app's prediction log, over real HTTP against a real
server; the log itself is tested in tests/monitor/test_predlog.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mloop_serve_testlib import wait_ready

from mloop.monitor import PredictionLog, read_predictions
from mloop.serve import create_serve_app, feedback_router
from mloop.server import ServerThread
from mloop.store._artifacts import LocalArtifactStore

T0 = datetime(2026, 11, 28, 10, 15, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def segments(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_the_served_app_logs_predictions_and_feedback(
    tmp_path: Path, models_dir: Path, store: LocalArtifactStore
) -> None:
    log = PredictionLog(store, clock=Clock())
    app = create_serve_app([str(models_dir / "reg")], prediction_log=log)
    server = ServerThread(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            wait_ready(client)
            body = {"records": [{"a": 1.5, "b": 0}, {"a": -2.0, "b": 2}]}
            r = client.post("/v1/models/reg:predict", json=body, headers={"X-Request-ID": "q1"})
            assert r.status_code == 200, r.text
            r = client.post("/v1/feedback", json={"request_id": "q1", "label": [1.4, 18.5]})
            assert r.status_code == 202, r.text
            metrics = client.get("/metrics").text
            assert "mloop_prediction_log_recorded_total 1.0" in metrics
            assert "mloop_prediction_log_feedback_total 2.0" in metrics
            assert 'mloop_serve_registry_reachable{model="reg"} 1.0' in metrics
    finally:
        server.stop()  # the app's shutdown flushes and closes the log
    assert log.closed
    frame = read_predictions(store, "reg")
    assert frame["request_id"].tolist() == ["q1", "q1"]
    assert frame["version"].tolist() == ["1", "1"]
    assert frame["input.a"].tolist() == [1.5, -2.0]
    assert frame["input.b"].tolist() == [0, 2]
    assert frame["output"].tolist() == pytest.approx([1.5, 18.0])
    assert frame["label"].tolist() == [1.4, 18.5]
    assert (frame["latency_ms"] > 0).all() and not frame["shadow"].any()


def test_feedback_route_over_http(
    tmp_path: Path, models_dir: Path, store: LocalArtifactStore
) -> None:
    clock = Clock(T0 + 3600)  # labels sent without a time are stamped by the log's clock
    log = PredictionLog(store, max_queue=12, clock=clock)  # not started: queued until close
    app = create_serve_app([str(models_dir / "reg")])
    app.include_router(feedback_router(log, max_items=50))
    server = ServerThread(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            r = client.post("/v1/feedback", json={"request_id": "r1", "label": 1})
            assert r.status_code == 202, r.text
            assert r.json() == {"accepted": 1}
            items = [{"request_id": f"r{i}", "label": [i, None, i]} for i in range(2, 6)]
            items.append({"request_id": "r9", "label": {"ok": True}, "time": "2026-11-28T09:00"})
            r = client.post("/v1/feedback", json={"items": items})
            assert r.status_code == 202, r.text
            assert r.json() == {"accepted": 9}

            bad = [
                (b"{not json", 422, "INVALID_PAYLOAD", "not valid JSON"),
                (b"[1]", 422, "INVALID_PAYLOAD", "must be a JSON object"),
                (b'{"request_id": "r"}', 422, "INVALID_PAYLOAD", "'label' is missing"),
                (b'{"request_id": "", "label": 1}', 422, "INVALID_ARGUMENT", "non-empty string"),
                (b'{"request_id": "r", "label": 1, "x": 2}', 422, "INVALID_PAYLOAD", "'x'"),
                (
                    b'{"items": [{"request_id": "ok", "label": 1}, {"request_id": "r", '
                    b'"label": [[1]]}]}',
                    422,
                    "INVALID_ARGUMENT",
                    r"'items[1].label[0]' must be a JSON scalar",
                ),
                (b'{"items": []}', 422, "INVALID_PAYLOAD", "non-empty list"),
                (
                    b'{"items": [' + b",".join([b'{"request_id": "r", "label": 1}'] * 51) + b"]}",
                    413,
                    "PAYLOAD_TOO_LARGE",
                    "at most 50",
                ),
            ]
            for body, status, code, message in bad:
                r = client.post(
                    "/v1/feedback", content=body, headers={"content-type": "application/json"}
                )
                assert r.status_code == status, (body, r.text)
                error = r.json()["error"]
                assert error["code"] == code, (body, error)
                assert message in error["message"], (body, error)
            assert log.feedback_recorded == 10  # nothing from the refused bodies, not even "ok"
            r = client.post("/v1/feedback", json={"request_id": "r", "label": [1, 2, 3]})
            assert r.status_code == 503, r.text  # 10 + 3 > max_queue: retry later
            assert r.json()["error"]["code"] == "UNAVAILABLE"
            assert "feedback queue is full" in r.json()["error"]["message"]
            assert log.feedback_recorded == 10

            doc = client.get("/openapi.json").json()["paths"]["/v1/feedback"]["post"]
            assert doc["summary"] == "Send late labels for logged predictions"
            body_doc = doc["requestBody"]["content"]["application/json"]
            assert body_doc["examples"]["one"]["value"] == {"request_id": "4f1c9a...", "label": 1}
            assert {"202", "422", "413", "503"} <= set(doc["responses"])
    finally:
        server.stop()
        assert log.close(30)
    table = pa.concat_tables(pq.read_table(f) for f in segments(Path(store.root)))
    stored = sorted(zip(table["request_id"].to_pylist(), table["row"].to_pylist(), strict=True))
    assert len(stored) == 10 and stored[0] == ("r1", None)
    nine = table.filter(pa.compute.equal(table["request_id"], "r9"))
    assert nine["ts"][0].as_py() == datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert nine["label"][0].as_py() == '{"ok":true}'
    one = table.filter(pa.compute.equal(table["request_id"], "r1"))
    assert one["ts"].to_pylist() == [datetime.fromtimestamp(clock.now, UTC)]
