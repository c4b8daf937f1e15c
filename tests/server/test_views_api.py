"""The REST routes screens use: the runs table, run keys, metric histories, run outputs, and
stored files read as JSON (a dataset profile, a model manifest, a Parquet head)."""

from __future__ import annotations

import io
import math

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tests.server.conftest import LiveServer


def _seed(server: LiveServer, run_id: str) -> None:
    body = {
        "metrics": [["loss", 1.0 / (s + 1), s, 1000 + s] for s in range(3000)]
        + [["odd", "NaN", 0, 1]],
        "params": {"lr": "0.1"},
        "tags": {"team": "core"},
    }
    assert server.client.post(f"/api/v1/runs/{run_id}/batch", json=body).status_code == 204


def test_runs_table_route(server: LiveServer, run_id: str) -> None:
    _seed(server, run_id)
    body = {"columns": {"metrics": ["loss", "odd"], "params": ["lr"], "tags": ["team", "none"]}}
    r = server.client.post("/api/v1/runs/table", json=body)
    assert r.status_code == 200, r.text
    table = r.json()
    assert table["attributes"]["run_id"] == [run_id]
    assert table["metrics"] == {"loss": [1.0 / 3000], "odd": ["NaN"]}
    assert table["params"] == {"lr": ["0.1"]}
    assert table["tags"] == {"team": ["core"], "none": [None]}

    bad = server.client.post("/api/v1/runs/table", json={"filter": "params.lr ==="})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "INVALID_FILTER"
    assert bad.json()["error"]["details"]["position"] == 10
    unknown = server.client.post("/api/v1/runs/table", json={"columns": {"metric": ["x"]}})
    assert unknown.status_code == 422


def test_run_keys_route(server: LiveServer, run_id: str) -> None:
    _seed(server, run_id)
    r = server.client.post("/api/v1/runs/keys", json={})
    assert r.json() == {"metrics": ["loss", "odd"], "params": ["lr"], "tags": ["team"]}


def test_histories_route(server: LiveServer, run_id: str) -> None:
    _seed(server, run_id)
    body = {"run_ids": [run_id], "keys": ["loss", "odd", "absent"], "max_points": 100}
    r = server.client.post("/api/v1/metrics/histories", json=body)
    assert r.status_code == 200, r.text
    loss, odd = r.json()["series"]
    assert (loss["key"], loss["total"], loss["sampled"]) == ("loss", 3000, True)
    assert len(loss["steps"]) <= 202
    assert loss["values"][0] == 1.0 and loss["steps"][-1] == 2999
    assert odd == {
        "run_id": run_id,
        "key": "odd",
        "steps": [0],
        "timestamps": [1],
        "values": ["NaN"],
        "total": 1,
        "sampled": False,
    }
    zoom = {"run_ids": [run_id], "keys": ["loss"], "x_axis": "time", "x_min": 1010, "x_max": 1012}
    (s,) = server.client.post("/api/v1/metrics/histories", json=zoom).json()["series"]
    assert s["timestamps"] == [1010, 1011, 1012]
    missing = server.client.post(
        "/api/v1/metrics/histories", json={"run_ids": ["f" * 32], "keys": ["loss"]}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "RUN_NOT_FOUND"

    # without keys: the run's own, sorted, the first max_keys (a page asks before reading the run)
    own = {"run_ids": [run_id], "max_points": 100}
    r = server.client.post("/api/v1/metrics/histories", json=own)
    assert [s["key"] for s in r.json()["series"]] == ["loss", "odd"]
    assert r.json()["series"][0] == loss
    first = server.client.post("/api/v1/metrics/histories", json={**own, "max_keys": 1})
    assert [s["key"] for s in first.json()["series"]] == ["loss"]
    assert (
        server.client.post("/api/v1/metrics/histories", json={**own, "max_keys": 0}).status_code
        == 422
    )
    exp = server.client.get(f"/api/v1/runs/{run_id}").json()["info"]["experiment_id"]
    bare = server.client.post("/api/v1/runs", json={"experiment_id": exp}).json()
    empty = {"run_ids": [bare["info"]["run_id"]]}  # a run without metrics has no series
    assert server.client.post("/api/v1/metrics/histories", json=empty).json() == {"series": []}


def test_run_outputs_route(server: LiveServer, run_id: str) -> None:
    body = {"source": f"runs:/{run_id}/model", "run_id": run_id}
    assert server.client.post("/api/v1/registered-models/m/versions", json=body).status_code == 201
    r = server.client.get(f"/api/v1/runs/{run_id}/outputs")
    assert [(v["name"], v["version"]) for v in r.json()] == [("m", 1)]


def test_dataset_profile_route(server: LiveServer) -> None:
    import mloop.data
    from mloop.store import HttpStore

    frame = pd.DataFrame({"x": [1.0, 2.0, 2.0, math.nan, 10.0], "c": ["a", "b", "a", "a", None]})
    with HttpStore(server.url) as store:
        mloop.data.register(frame, "tiny", store=store)
    r = server.client.get("/api/v1/datasets/tiny/versions/1/profile")
    assert r.status_code == 200, r.text
    profile = r.json()
    assert profile["rows"] == 5
    x, c = profile["columns"]
    assert (x["name"], x["kind"], x["nulls"], x["min"], x["max"]) == ("x", "numeric", 1, 1.0, 10.0)
    assert sum(x["histogram"]["counts"]) == 4
    assert len(x["histogram"]["edges"]) == len(x["histogram"]["counts"]) + 1
    assert (c["kind"], c["nulls"], c["top"][0]) == ("categorical", 1, ["a", 3])
    assert server.client.get("/api/v1/datasets/tiny/versions/9/profile").status_code == 404


def test_model_manifest_route(server: LiveServer, run_id: str) -> None:
    manifest = b"format_version: 1\nflavor: {name: sklearn}\npython_version: 3.11.7\nfiles: {}\n"
    put = server.client.put(
        f"/api/v1/runs/{run_id}/artifacts/model/mloop-model.yaml", content=manifest
    )
    assert put.status_code == 201
    for source in (f"runs:/{run_id}/model", "s3://bucket/elsewhere"):
        body = {"source": source, "run_id": run_id}
        assert (
            server.client.post("/api/v1/registered-models/m/versions", json=body).status_code == 201
        )
    r = server.client.get("/api/v1/registered-models/m/versions/1/manifest")
    assert r.status_code == 200, r.text
    assert r.json()["manifest"]["flavor"] == {"name": "sklearn"}
    assert r.json()["path"] == "model/mloop-model.yaml"
    elsewhere = server.client.get("/api/v1/registered-models/m/versions/2/manifest")
    assert elsewhere.status_code == 404
    assert "not from a run" in elsewhere.json()["error"]["message"]


def test_parquet_head_route(server: LiveServer, run_id: str) -> None:
    buf = io.BytesIO()
    table = pa.table({"a": list(range(100)), "when": pd.date_range("2024-01-01", periods=100)})
    pq.write_table(table, buf)
    server.client.put(f"/api/v1/runs/{run_id}/artifacts/d/t.parquet", content=buf.getvalue())
    r = server.client.get(f"/api/v1/runs/{run_id}/parquet-head/d/t.parquet", params={"rows": 3})
    assert r.status_code == 200, r.text
    head = r.json()
    assert head["num_rows"] == 100
    assert [c["name"] for c in head["columns"]] == ["a", "when"]
    assert [row[0] for row in head["rows"]] == [0, 1, 2]
    assert head["rows"][0][1].startswith("2024-01-01")
    server.client.put(f"/api/v1/runs/{run_id}/artifacts/d/x.parquet", content=b"not parquet")
    bad = server.client.get(f"/api/v1/runs/{run_id}/parquet-head/d/x.parquet")
    assert bad.status_code == 422
    assert "Parquet" in bad.json()["error"]["message"]
    escape = server.client.get(f"/api/v1/runs/{run_id}/parquet-head/..%2F..%2Fsecret.parquet")
    assert escape.status_code in (404, 422)
