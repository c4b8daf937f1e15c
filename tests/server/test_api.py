"""Every route through real HTTP: status, body, and what the store holds afterwards."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from mloop.server import ServerThread, create_app
from mloop.store import HttpStore, RunStatus
from mloop.store._http_transport import path_of as _path
from mloop.store._http_transport import seg as _seg

if TYPE_CHECKING:
    from conftest import LiveServer, StartServer

API = "/api/v1"


def _experiment(server: LiveServer, name: str = "exp", **body: object) -> dict[str, object]:
    response = server.client.post(f"{API}/experiments", json={"name": name, **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


# -- experiments -----------------------------------------------------------------------------


def test_create_and_get_experiment(server: LiveServer) -> None:
    exp = _experiment(server, "churn", tags={"team": "ml"})
    assert exp["name"] == "churn"
    assert exp["tags"] == {"team": "ml"}
    assert exp["lifecycle_stage"] == "active"
    eid = exp["experiment_id"]

    got = server.client.get(f"{API}/experiments/{eid}")
    assert got.status_code == 200
    assert got.json() == exp
    by_name = server.client.get(f"{API}/experiments/by-name/churn")
    assert by_name.status_code == 200
    assert by_name.json()["experiment_id"] == eid

    with server.reader() as reader:
        stored = reader.get_experiment(str(eid))
    assert stored.name == "churn"
    assert stored.tags == {"team": "ml"}


def test_experiment_name_with_slash_and_dots(server: LiveServer) -> None:
    for name in ("team/churn v2", "..", "a/../b", "100% sure?"):
        exp = _experiment(server, name)
        got = server.client.get(f"{API}/experiments/by-name/{_path(name)}")
        assert got.status_code == 200, (name, got.text)
        assert got.json()["experiment_id"] == exp["experiment_id"]


def test_list_rename_delete_restore_experiment(server: LiveServer) -> None:
    a = _experiment(server, "a")
    _experiment(server, "b")
    c = server.client

    names = [e["name"] for e in c.get(f"{API}/experiments").json()]
    assert names == ["a", "b"]

    renamed = c.patch(f"{API}/experiments/{a['experiment_id']}", json={"name": "a2"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "a2"

    deleted = c.delete(f"{API}/experiments/{a['experiment_id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert [e["name"] for e in c.get(f"{API}/experiments").json()] == ["b"]
    assert [e["name"] for e in c.get(f"{API}/experiments?view=deleted").json()] == ["a2"]
    assert len(c.get(f"{API}/experiments", params={"view": "all"}).json()) == 2
    with server.reader() as reader:
        assert reader.get_experiment(str(a["experiment_id"])).lifecycle_stage == "deleted"

    restored = c.post(f"{API}/experiments/{a['experiment_id']}/restore")
    assert restored.status_code == 204
    assert sorted(e["name"] for e in c.get(f"{API}/experiments").json()) == ["a2", "b"]


def test_set_experiment_tag(server: LiveServer) -> None:
    exp = _experiment(server)
    response = server.client.put(
        f"{API}/experiments/{exp['experiment_id']}/tags/{_path('owner/team')}",
        json={"value": "ml"},
    )
    assert response.status_code == 204
    with server.reader() as reader:
        assert reader.get_experiment(str(exp["experiment_id"])).tags == {"owner/team": "ml"}


# -- runs ------------------------------------------------------------------------------------


def test_create_get_update_delete_run(server: LiveServer) -> None:
    exp = _experiment(server)
    c = server.client
    created = c.post(
        f"{API}/runs",
        json={
            "experiment_id": exp["experiment_id"],
            "run_name": "baseline",
            "start_time": 1_700_000_000_000,
            "tags": {"k": "v"},
            "user": "ada",
        },
    )
    assert created.status_code == 201
    run = created.json()
    rid = run["info"]["run_id"]
    assert run["info"]["status"] == "RUNNING"
    assert run["info"]["run_name"] == "baseline"
    assert run["info"]["start_time"] == 1_700_000_000_000
    assert run["data"]["tags"] == {"k": "v"}

    assert c.get(f"{API}/runs/{rid}").json() == run

    child = c.post(
        f"{API}/runs", json={"experiment_id": exp["experiment_id"], "parent_run_id": rid}
    )
    assert child.status_code == 201
    assert child.json()["info"]["parent_run_id"] == rid

    updated = c.patch(
        f"{API}/runs/{rid}", json={"status": "FINISHED", "end_time": 1_700_000_001_000}
    )
    assert updated.status_code == 200
    assert updated.json()["status"] == "FINISHED"
    assert updated.json()["end_time"] == 1_700_000_001_000
    renamed = c.patch(f"{API}/runs/{rid}", json={"run_name": "better"})
    assert renamed.json()["run_name"] == "better"

    assert c.delete(f"{API}/runs/{rid}/tags/k").status_code == 204
    with server.reader() as reader:
        stored = reader.get_run(rid)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.run_name == "better"
    assert stored.data.tags == {}

    assert c.delete(f"{API}/runs/{rid}").status_code == 204
    with server.reader() as reader:
        assert reader.get_run(rid).info.lifecycle_stage == "deleted"
    assert c.post(f"{API}/runs/{rid}/restore").status_code == 204
    with server.reader() as reader:
        assert reader.get_run(rid).info.lifecycle_stage == "active"


def test_create_run_accepts_integer_experiment_id(server: LiveServer) -> None:
    exp = _experiment(server)
    response = server.client.post(f"{API}/runs", json={"experiment_id": int(exp["experiment_id"])})
    assert response.status_code == 201
    assert response.json()["info"]["experiment_id"] == exp["experiment_id"]


def test_log_batch_and_metric_history(server: LiveServer, run_id: str) -> None:
    points = [["loss", 1.0 / (i + 1), i, 1_000 + i] for i in range(20_000)]
    points += [["odd", "NaN", 0, 1], ["odd", None, 1, 2], ["odd", "Infinity", 2, 3]]
    points += [["odd", "-Infinity", 3, 4], ["odd", 7, 4, 5]]
    response = server.client.post(
        f"{API}/runs/{run_id}/batch",
        json={"metrics": points, "params": {"lr": "0.1", "depth": "3"}, "tags": {"t": "x"}},
    )
    assert response.status_code == 204, response.text

    with server.reader() as reader:
        run = reader.get_run(run_id)
        history = reader.get_metric_history(run_id, "loss")
    assert run.data.params == {"lr": "0.1", "depth": "3"}
    assert run.data.tags["t"] == "x"
    assert len(history) == 20_000
    assert history[-1].value == pytest.approx(1 / 20_000)

    got = server.client.get(f"{API}/runs/{run_id}/metrics/odd/history")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    assert got.json() == {
        "key": "odd",
        "steps": [0, 1, 2, 3, 4],
        "timestamps": [1, 2, 3, 4, 5],
        "values": ["NaN", "NaN", "Infinity", "-Infinity", 7.0],
    }
    loss = server.client.get(f"{API}/runs/{run_id}/metrics/loss/history").json()
    assert loss["steps"] == list(range(20_000))


def test_metric_key_with_slash(server: LiveServer, run_id: str) -> None:
    body = {"metrics": [["val/loss", 0.5, 0, 1]]}
    assert server.client.post(f"{API}/runs/{run_id}/batch", json=body).status_code == 204
    got = server.client.get(f"{API}/runs/{run_id}/metrics/{_path('val/loss')}/history")
    assert got.json()["values"] == [0.5]


def test_search_runs(server: LiveServer) -> None:
    exp = _experiment(server)
    eid = exp["experiment_id"]
    c = server.client
    for auc in (0.7, 0.95, 0.9):
        rid = c.post(f"{API}/runs", json={"experiment_id": eid}).json()["info"]["run_id"]
        body = {"metrics": [["auc", auc, 0, 1]], "params": {"model": "lgbm"}}
        c.post(f"{API}/runs/{rid}/batch", json=body)

    page = c.post(
        f"{API}/runs/search",
        json={
            "experiment_ids": [eid],
            "filter": "metrics.auc > 0.8 and params.model = 'lgbm'",
            "order_by": ["metrics.auc desc"],
            "max_results": 1,
        },
    )
    assert page.status_code == 200
    first = page.json()
    assert [r["data"]["metrics"]["auc"]["value"] for r in first["runs"]] == [0.95]
    assert first["next_page_token"]
    second = c.post(
        f"{API}/runs/search",
        json={
            "experiment_ids": [eid],
            "filter": "metrics.auc > 0.8 and params.model = 'lgbm'",
            "order_by": ["metrics.auc desc"],
            "max_results": 1,
            "page_token": first["next_page_token"],
        },
    ).json()
    assert [r["data"]["metrics"]["auc"]["value"] for r in second["runs"]] == [0.9]


# -- artifacts -------------------------------------------------------------------------------


def test_artifact_put_list_get(server: LiveServer, run_id: str) -> None:
    c = server.client
    put = c.put(f"{API}/runs/{run_id}/artifacts/model/weights.bin", content=b"\x00\x01weights")
    assert put.status_code == 201
    info = put.json()
    assert info == {
        "path": "model/weights.bin",
        "is_dir": False,
        "size": 9,
        "sha256": hashlib.sha256(b"\x00\x01weights").hexdigest(),
    }
    c.put(f"{API}/runs/{run_id}/artifacts/readme.txt", content=b"hi")

    root = c.get(f"{API}/runs/{run_id}/artifacts").json()
    assert [(a["path"], a["is_dir"]) for a in root] == [("model", True), ("readme.txt", False)]
    inner = c.get(f"{API}/runs/{run_id}/artifacts", params={"path": "model"}).json()
    assert [a["path"] for a in inner] == ["model/weights.bin"]

    got = c.get(f"{API}/runs/{run_id}/artifacts/model/weights.bin")
    assert got.status_code == 200
    assert got.content == b"\x00\x01weights"
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-length"] == "9"

    with server.reader() as reader, reader.open_artifact(run_id, "readme.txt") as f:
        assert f.read() == b"hi"


def test_artifact_streaming_20mb(start_server: StartServer) -> None:
    # The body limit is far below the file size: uploads are streamed, never held whole.
    server = start_server(max_body_size=1024 * 1024)
    exp = _experiment(server)
    rid = server.client.post(f"{API}/runs", json={"experiment_id": exp["experiment_id"]}).json()
    rid = rid["info"]["run_id"]
    size = 20 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256(block * 20).hexdigest()

    def body():  # type: ignore[no-untyped-def]
        for _ in range(size // len(block)):
            yield block

    put = server.client.put(f"{API}/runs/{rid}/artifacts/big/data.bin", content=body())
    assert put.status_code == 201, put.text
    assert put.json()["size"] == size
    assert put.json()["sha256"] == digest

    sha = hashlib.sha256()
    received = 0
    with server.client.stream("GET", f"{API}/runs/{rid}/artifacts/big/data.bin") as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(size)
        for chunk in response.iter_bytes():
            sha.update(chunk)
            received += len(chunk)
    assert received == size
    assert sha.hexdigest() == digest

    # and through HttpStore, both ways
    with HttpStore(server.url) as store:
        info = store.put_artifact(rid, "copy.bin", io.BytesIO(block * 20))
        assert info.sha256 == digest
        with store.open_artifact(rid, "copy.bin") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest


# -- HttpStore over the routes ---------------------------------------------------------------


def test_http_store_round_trip(server: LiveServer, tmp_path: Path) -> None:
    with HttpStore(server.url) as store:
        assert store.uri == server.url
        exp = store.create_experiment("e", tags={"a": "1"})
        assert store.get_experiment(exp.experiment_id) == exp
        assert store.get_experiment_by_name("e") == exp
        assert store.list_experiments() == [exp]
        run = store.create_run(exp.experiment_id, run_name="r", tags={"t": "1"})
        store.log_batch(
            run.run_id,
            metrics=[("m", math.nan, 0, 1), ("m", math.inf, 1, 2), ("m", -math.inf, 2, 3)],
            params={"p": 1},
            tags={"t2": "2"},
        )
        history = store.get_metric_history(run.run_id, "m")
        assert math.isnan(history.values[0])
        assert list(history.values[1:]) == [math.inf, -math.inf]
        got = store.get_run(run.run_id)
        assert got.data.params == {"p": "1"}
        assert got.data.metrics["m"].value == -math.inf
        assert store.update_run(run.run_id, status="FINISHED").status is RunStatus.FINISHED
        store.delete_tag(run.run_id, "t")
        assert store.search_runs([exp.experiment_id]).runs[0].data.tags == {"t2": "2"}

        folder = tmp_path / "model"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.txt").write_bytes(b"a")
        (folder / "sub" / "b.txt").write_bytes(b"b")
        infos = store.log_artifact(run.run_id, folder, "m")
        assert sorted(i.path for i in infos) == ["m/a.txt", "m/sub/b.txt"]
        single = store.log_artifact(run.run_id, folder / "a.txt")
        assert [i.path for i in single] == ["a.txt"]
        out = store.download_artifacts(run.run_id, "m", tmp_path / "dl")
        assert out == tmp_path / "dl" / "m"
        assert (out / "sub" / "b.txt").read_bytes() == b"b"
        one = store.download_artifacts(run.run_id, "m/sub/b.txt", tmp_path / "dl2")
        assert one == tmp_path / "dl2" / "m" / "sub" / "b.txt"
        assert one.read_bytes() == b"b"

    # the same layout as SqlStore's own download
    with server.reader() as reader:
        ref = reader.download_artifacts(run.run_id, "m", tmp_path / "ref")
    assert sorted(p.relative_to(ref) for p in ref.rglob("*")) == sorted(
        p.relative_to(out) for p in out.rglob("*")
    )


def test_http_store_sends_token(server: LiveServer) -> None:
    seen: list[str | None] = []

    async def recording(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            seen.append(headers.get(b"authorization", b"").decode() or None)
        await server.app(scope, receive, send)

    with ServerThread(recording) as thread:
        with HttpStore(thread.url, token="s3cret") as store:
            store.list_experiments()
            assert "s3cret" not in repr(store)
        with HttpStore(thread.url) as anonymous:
            anonymous.list_experiments()
    assert seen == ["Bearer s3cret", None]


# -- operations ------------------------------------------------------------------------------


def test_healthz(server: LiveServer) -> None:
    response = server.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_lists_every_route(server: LiveServer) -> None:
    spec = server.client.get("/openapi.json").json()
    assert spec["info"]["title"] == "mloop"
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    # MLflow's API (/api/2.0/...) is listed apart: tests/server/test_mlflow_api.py
    mlflow_api = {(m, p) for m, p in documented if p.startswith("/api/2.0/")}
    documented -= mlflow_api
    expected = {
        ("POST", "/api/v1/experiments"),
        ("GET", "/api/v1/experiments"),
        ("GET", "/api/v1/experiments/{experiment_id}"),
        ("GET", "/api/v1/experiments/by-name/{name}"),
        ("PATCH", "/api/v1/experiments/{experiment_id}"),
        ("DELETE", "/api/v1/experiments/{experiment_id}"),
        ("POST", "/api/v1/experiments/{experiment_id}/restore"),
        ("PUT", "/api/v1/experiments/{experiment_id}/tags/{key}"),
        ("POST", "/api/v1/runs"),
        ("GET", "/api/v1/runs/{run_id}"),
        ("PATCH", "/api/v1/runs/{run_id}"),
        ("DELETE", "/api/v1/runs/{run_id}"),
        ("POST", "/api/v1/runs/{run_id}/restore"),
        ("DELETE", "/api/v1/runs/{run_id}/tags/{key}"),
        ("POST", "/api/v1/runs/{run_id}/batch"),
        ("GET", "/api/v1/runs/{run_id}/metrics/{key}/history"),
        ("POST", "/api/v1/runs/search"),
        ("PUT", "/api/v1/runs/{run_id}/artifacts/{path}"),
        ("GET", "/api/v1/runs/{run_id}/artifacts"),
        ("GET", "/api/v1/runs/{run_id}/artifacts/{path}"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/registered-models"),
        ("GET", "/api/v1/registered-models"),
        ("GET", "/api/v1/registered-models/{name}"),
        ("PATCH", "/api/v1/registered-models/{name}"),
        ("PUT", "/api/v1/registered-models/{name}/tags/{key}"),
        ("POST", "/api/v1/registered-models/{name}/versions"),
        ("GET", "/api/v1/registered-models/{name}/versions"),
        ("GET", "/api/v1/registered-models/{name}/versions/{version}"),
        ("POST", "/api/v1/registered-models/{name}/versions/{version}/archive"),
        ("PUT", "/api/v1/registered-models/{name}/versions/{version}/tags/{key}"),
        ("PUT", "/api/v1/registered-models/{name}/aliases/{alias}"),
        ("DELETE", "/api/v1/registered-models/{name}/aliases/{alias}"),
        ("GET", "/api/v1/registered-models/{name}/aliases/{alias}"),
        ("GET", "/api/v1/registered-models/{name}/audit"),
        ("GET", "/api/v1/datasets"),
        ("POST", "/api/v1/datasets/{name}/versions"),
        ("GET", "/api/v1/datasets/{name}/versions"),
        ("POST", "/api/v1/datasets/{name}/versions/{version}/checks"),
        ("GET", "/api/v1/datasets/{name}/checks"),
        ("GET", "/api/v1/datasets/{name}/versions/{version}"),
        ("GET", "/api/v1/datasets/{name}/latest"),
        ("PUT", "/api/v1/datasets/{name}/files/{filename}"),
        ("GET", "/api/v1/datasets/{name}/files/{filename}"),
        ("POST", "/api/v1/runs/{run_id}/inputs"),
        ("GET", "/api/v1/runs/{run_id}/inputs"),
        ("POST", "/api/v1/tune/journals/{key}/logs"),
        ("GET", "/api/v1/tune/journals/{key}/logs"),
        ("POST", "/api/v1/runs/table"),
        ("POST", "/api/v1/runs/keys"),
        ("POST", "/api/v1/metrics/histories"),
        ("GET", "/api/v1/runs/{run_id}/outputs"),
        ("GET", "/api/v1/runs/{run_id}/parquet-head/{path}"),
        ("GET", "/api/v1/registered-models/{name}/versions/{version}/manifest"),
        ("GET", "/api/v1/datasets/{name}/versions/{version}/profile"),
        ("GET", "/api/v1/auth/whoami"),
        ("POST", "/api/v1/genai/spans"),
        ("GET", "/api/v1/genai/traces"),
        ("GET", "/api/v1/genai/traces/{trace_id}"),
        ("POST", "/api/v1/runs/{run_id}/heartbeat"),
        ("POST", "/api/v1/runs/sweep"),
        ("POST", "/api/v1/auth/tokens"),
        ("GET", "/api/v1/auth/tokens"),
        ("POST", "/api/v1/auth/tokens/{token_id}/revoke"),
        ("GET", "/api/v1/registered-models/{name}/deployment"),
        ("PUT", "/api/v1/registered-models/{name}/deployment"),
        ("DELETE", "/api/v1/registered-models/{name}/deployment"),
        ("GET", "/api/v1/registered-models/{name}/monitoring"),
        ("GET", "/api/v1/loops"),
        ("GET", "/api/v1/loops/{name}"),
        ("PUT", "/api/v1/loops/{name}"),
        ("GET", "/api/v1/loops/{name}/status"),
        ("POST", "/api/v1/loops/{name}/lease"),
        ("DELETE", "/api/v1/loops/{name}/lease"),
        ("POST", "/api/v1/loops/{name}/transitions"),
        ("GET", "/api/v1/loops/{name}/transitions"),
        ("POST", "/api/v1/loops/{name}/monitor-results"),
        ("GET", "/api/v1/loops/{name}/monitor-results"),
        ("POST", "/api/v1/loops/{name}/alerts"),
        ("GET", "/api/v1/loops/{name}/alerts"),
    }
    assert documented == expected
    # every route the routers serve is in the schema (none hidden)
    from fastapi.routing import APIRoute

    from mloop.server import (
        _auth,
        _datasets,
        _genai_api,
        _loop_api,
        _metrics,
        _previews,
        _registry,
        _tracking,
        _tune,
        _ui,
        _views,
    )

    routes = [
        *server.app.routes,
        *_tracking.router.routes,
        *_registry.router.routes,
        *_loop_api.router.routes,
        *_genai_api.router.routes,
        *_datasets.router.routes,
        *_tune.router.routes,
        *_metrics.router.routes,
        *_views.router.routes,
        *_previews.router.routes,
        *_ui.router.routes,
        *_auth.router.routes,
    ]
    served = {(m, r.path_format) for r in routes if isinstance(r, APIRoute) for m in r.methods}
    # the web UI's pages and assets are the only routes outside the API's schema; MLflow's
    # API is documented by MLflow
    ui_pages = {("GET", "/"), ("GET", "/ui"), ("GET", "/ui/{page}")}
    ours = {(m, p) for m, p in served if not p.startswith("/api/2.0/")}
    assert ours - expected == ui_pages
    assert expected <= ours

    batch = spec["paths"]["/api/v1/runs/{run_id}/batch"]["post"]
    assert "metrics" in batch["requestBody"]["content"]["application/json"]["schema"]["properties"]
    run_schema = spec["paths"]["/api/v1/runs/{run_id}"]["get"]["responses"]["200"]
    assert run_schema["content"]["application/json"]["schema"]["$ref"].endswith("/Run")
    assert "ErrorBody" in spec["components"]["schemas"]
    assert server.client.get("/docs").status_code == 200


def _sample(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    assert match, f"{name}{{{labels}}} not in /metrics"
    return float(match.group(1))


def test_metrics_count_requests_by_route_template(server: LiveServer, run_id: str) -> None:
    for _ in range(3):
        server.client.get(f"{API}/experiments")
    server.client.get(f"{API}/runs/{run_id}")
    server.client.get(f"{API}/runs/unknown-run")
    server.client.get("/no/such/route")
    text = server.client.get("/metrics").text
    assert _sample(
        text, "mloop_http_requests_total", 'method="GET",route="/api/v1/experiments",status="200"'
    ) == pytest.approx(3)
    assert _sample(
        text, "mloop_http_requests_total", 'method="GET",route="/api/v1/runs/{run_id}",status="404"'
    ) == pytest.approx(1)
    assert _sample(
        text, "mloop_http_requests_total", 'method="GET",route="<unmatched>",status="404"'
    ) == pytest.approx(1)
    assert "unknown-run" not in text
    assert _sample(
        text, "mloop_http_request_duration_seconds_count", 'route="/api/v1/experiments"'
    ) == pytest.approx(4)  # the 3 GETs and the POST of the run_id fixture
    assert re.search(r"^mloop_http_requests_in_flight 1\.0$", text, re.M)  # this request


def test_metrics_registries_are_per_app(start_server: StartServer) -> None:
    a, b = start_server(), start_server()
    a.client.get(f"{API}/experiments")
    text = b.client.get("/metrics").text
    assert 'route="/api/v1/experiments"' not in text


def test_request_id_echo_and_log_line(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mloop.server"):
        given = server.client.get(f"{API}/experiments", headers={"X-Request-ID": "req-42"})
        made = server.client.get(f"{API}/experiments")
        bad = server.client.get(f"{API}/experiments", headers={"X-Request-ID": "x" * 500})
    assert given.headers["x-request-id"] == "req-42"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])

    lines = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "mloop.server" and r.getMessage().startswith("{")
    ]
    mine = [line for line in lines if line["request_id"] == "req-42"]
    assert len(mine) == 1
    assert mine[0]["method"] == "GET"
    assert mine[0]["route"] == "/api/v1/experiments"
    assert mine[0]["status"] == 200
    assert mine[0]["duration_ms"] >= 0


def test_server_thread_lifecycle(server: LiveServer) -> None:
    thread = ServerThread(create_app(server.store))
    with pytest.raises(RuntimeError, match="not started"):
        _ = thread.url
    with thread:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", thread.url)
        assert httpx.get(f"{thread.url}/healthz").status_code == 200
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", thread.port), timeout=1):
        pass


def test_quoting_of_path_segments() -> None:
    assert _seg("..") == "%2E%2E"
    assert _seg("a/b") == "a%2Fb"
    assert _path("a/./b c") == "a/%2E/b%20c"
