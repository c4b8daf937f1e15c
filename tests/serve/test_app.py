"""The predict endpoints, the request formats and the error answers, over real HTTP."""

from __future__ import annotations

import math
import re

import httpx
import pytest
from mloop_serve_testlib import Served

ROWS = [{"a": 1.5, "b": 0}, {"a": -2.0, "b": 2}]
EXPECTED = [1.5, 18.0]  # reg predicts a + 10 * b


def _close(got: list[float], want: list[float]) -> bool:
    return all(math.isclose(g, w, abs_tol=1e-6) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize(
    "body",
    [
        {"records": ROWS},
        {"columns": ["a", "b"], "data": [[1.5, 0], [-2.0, 2]]},
        {"dataframe_records": ROWS},
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, 0], [-2.0, 2]]}},
        {"instances": ROWS},
        {"instances": [[1.5, 0], [-2.0, 2]]},
        {"inputs": {"a": [1.5, -2.0], "b": [0, 2]}},
        {"inputs": ROWS},
    ],
    ids=["records", "split", "df_records", "df_split", "instances", "rows", "inputs", "inputs_l"],
)
def test_every_v1_format(served: Served, body: dict[str, object]) -> None:
    r = served.client.post("/v1/models/reg:predict", json=body, headers={"X-Request-ID": "abc"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert _close(out["predictions"], EXPECTED)
    assert out["model"] == {"name": "reg", "version": "1"}
    assert out["request_id"] == "abc"
    assert r.headers["x-request-id"] == "abc"


def test_a_malformed_request_id_is_replaced(served: Served) -> None:
    # Ids that feedback would refuse later (too long, odd characters) are not taken.
    for given in ("x" * 200, "a b"):
        r = served.client.post(
            "/v1/models/reg:predict", json={"records": ROWS}, headers={"X-Request-ID": given}
        )
        assert r.status_code == 200
        assert re.fullmatch("[0-9a-f]{32}", r.json()["request_id"]), r.json()["request_id"]


def test_request_id_generated(served: Served) -> None:
    r = served.client.post("/v1/models/iris:predict", json={"records": ROWS})
    assert r.status_code == 200
    assert len(r.json()["request_id"]) == 32
    assert r.json()["predictions"] == [1, 0]


def test_v2_round_trip(served: Served) -> None:
    c = served.client
    assert c.get("/v2/health/live").json() == {"live": True}
    assert c.get("/v2/health/ready").status_code == 200
    assert c.get("/v2/models/reg/ready").json() == {"name": "reg", "ready": True}
    meta = c.get("/v2/models/reg").json()
    assert meta["name"] == "reg"
    assert meta["versions"] == ["1"]
    assert meta["platform"] == "mloop_sklearn"
    assert meta["inputs"] == [
        {"name": "a", "datatype": "FP64", "shape": [-1]},
        {"name": "b", "datatype": "INT64", "shape": [-1]},
    ]
    body = {
        "id": "req-7",
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "FP64", "data": [1.5, -2.0]},
            {"name": "b", "shape": [2, 1], "datatype": "INT64", "data": [0, 2]},
        ],
    }
    r = c.post("/v2/models/reg/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "reg"
    assert out["model_version"] == "1"
    assert out["id"] == "req-7"
    (tensor,) = out["outputs"]
    assert tensor["datatype"] == "FP64"
    assert tensor["shape"] == [2]
    assert _close(tensor["data"], EXPECTED)
    r = c.post("/v2/models/iris/infer", json=body)
    assert r.json()["outputs"][0]["datatype"] == "INT64"
    assert r.json()["outputs"][0]["data"] == [1, 0]


def test_v2_bad_tensor(served: Served) -> None:
    body = {"inputs": [{"name": "a", "shape": [3], "datatype": "FP64", "data": [1.0]}]}
    r = served.client.post("/v2/models/reg/infer", json=body)
    assert r.status_code == 422
    assert "shape [3] needs 3" in r.json()["error"]["message"]
    body = {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": ["x"]}]}
    r = served.client.post("/v2/models/reg/infer", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "INVALID_PAYLOAD"
    assert served.client.get("/v2/models/nope").status_code == 404


def _error(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error  # type: ignore[no-any-return]


def test_malformed_json(served: Served) -> None:
    r = served.client.post(
        "/v1/models/reg:predict", content=b'{"records": [', headers={"content-type": "x"}
    )
    error = _error(r, 422, "INVALID_PAYLOAD")
    assert "not valid JSON" in str(error["message"])


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"nothing": 1},
        {"records": []},
        {"records": [1]},
        {"columns": ["a"], "data": [[1, 2]]},
    ],
)
def test_bad_shapes(served: Served, body: object) -> None:
    _error(served.client.post("/v1/models/reg:predict", json=body), 422, "INVALID_PAYLOAD")


def test_wrong_type_and_missing_column(served: Served) -> None:
    r = served.client.post("/v1/models/reg:predict", json={"records": [{"a": "x"}]})
    error = _error(r, 422, "SIGNATURE_MISMATCH")
    bad = {d["column"]: d["problem"] for d in error["details"]}  # type: ignore[attr-defined]
    assert bad == {"a": "type", "b": "missing"}


def test_nan_where_not_allowed(served: Served) -> None:
    r = served.client.post("/v1/models/reg:predict", json={"records": [{"a": None, "b": 1}]})
    error = _error(r, 422, "SIGNATURE_MISMATCH")
    assert error["details"][0]["column"] == "a"  # type: ignore[index]


def test_too_large(served: Served) -> None:
    body = b'{"records": [' + b'{"a": 1.0, "b": 1},' * 1_100_000 + b'{"a": 1.0, "b": 1}]}'
    assert len(body) > 20_000_000
    r = served.client.post("/v1/models/reg:predict", content=body)
    error = _error(r, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"limit": 16 * 1024 * 1024}
    assert served.client.post("/v1/models/reg:predict", json={"records": ROWS}).status_code == 200


def test_too_large_streamed(start_serve: object, models_dir: object) -> None:
    serve = start_serve([str(models_dir / "reg")], max_body_bytes=1000)  # type: ignore[operator]

    def chunks() -> object:
        for _ in range(10):
            yield b" " * 500

    r = serve.client.post("/v1/models/reg:predict", content=chunks())
    _error(r, 413, "PAYLOAD_TOO_LARGE")


def test_unknown_model(served: Served) -> None:
    r = served.client.post("/v1/models/nope:predict", json={"records": ROWS})
    error = _error(r, 404, "SERVED_MODEL_NOT_FOUND")
    assert error["details"] == {"model": "nope", "served": ["doubler", "iris", "reg"]}


def test_model_that_raises(served: Served) -> None:
    r = served.client.post("/v1/models/doubler:predict", json={"records": [{"x": 666.0}]})
    error = _error(r, 500, "INTERNAL_ERROR")
    assert len(error["details"]["error_id"]) == 32  # type: ignore[index]
    assert "666" not in str(error["message"])  # the cause is in the log, not the answer
    r = served.client.post("/v1/models/doubler:predict", json={"records": [{"x": 2.0}]})
    assert r.status_code == 200
    assert r.json()["predictions"] == [4.0]


def test_no_batching(start_serve: object, models_dir: object) -> None:
    serve = start_serve([str(models_dir / "reg")], batching=False)  # type: ignore[operator]
    r = serve.client.post("/v1/models/reg:predict", json={"records": ROWS})
    assert _close(r.json()["predictions"], EXPECTED)
    assert serve.client.get("/v1/models").json()["models"][0]["batching"] is False


def test_names_by_mapping(start_serve: object, models_dir: object) -> None:
    serve = start_serve({"churn": str(models_dir / "reg")})  # type: ignore[operator]
    r = serve.client.post("/v1/models/churn:predict", json={"records": ROWS})
    assert r.json()["model"] == {"name": "churn", "version": "1"}


def test_openapi_documents_bodies(served: Served) -> None:
    spec = served.client.get("/openapi.json").json()
    op = spec["paths"]["/v1/models/{name}:predict"]["post"]
    assert "records" in op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert (
        "inputs"
        in spec["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]["properties"]
    )


def test_health_and_metrics(served: Served) -> None:
    c = served.client
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").json() == {"status": "ready"}
    c.post("/v1/models/reg:predict", json={"records": ROWS})
    c.post("/v1/models/reg:predict", json={"records": [{"a": "x", "b": 1}]})
    text = c.get("/metrics").text
    assert 'mloop_serve_requests_total{model="reg",version="1"}' in text
    assert 'mloop_serve_errors_total{code="SIGNATURE_MISMATCH",model="reg",version="1"} 1.0' in text
    assert 'mloop_serve_request_duration_seconds_bucket{le="0.5",model="reg",version="1"}' in text
    assert 'mloop_serve_batch_size_count{model="reg",version="1"}' in text
    assert 'mloop_serve_queue_depth{model="reg",version="1"}' in text
