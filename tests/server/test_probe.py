"""The findings of the outside probe, each a request that once got a 500, a silent wrong
write or a leak: now a 4xx with the one error shape, and nothing stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import LiveServer

API = "/api/v1"
SURROGATE = '"\\ud800"'  # a lone surrogate, as JSON text (json.dumps would refuse to write it)


def _post_raw(server: LiveServer, url: str, text: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = server.client.post(
        url, content=text.encode(), headers={"Content-Type": "application/json"}
    )
    return response.status_code, response.json()


def _exp(server: LiveServer) -> str:
    name = f"e{len(server.reader().list_experiments())}"
    return str(
        server.client.post(f"{API}/experiments", json={"name": name}).json()["experiment_id"]
    )


def _run(server: LiveServer) -> str:
    body = {"experiment_id": _exp(server)}
    return str(server.client.post(f"{API}/runs", json=body).json()["info"]["run_id"])


@pytest.mark.parametrize(
    ("url", "template"),
    [
        (f"{API}/experiments", '{"name": %s}'),
        (f"{API}/experiments", '{"name": "x", "tags": {"k": %s}}'),
        (f"{API}/registered-models", '{"name": "m", "description": %s}'),
    ],
)
def test_lone_surrogates_are_422(server: LiveServer, url: str, template: str) -> None:
    status, body = _post_raw(server, url, template % SURROGATE)
    assert status == 422, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert "surrogate" in body["error"]["message"]


def test_lone_surrogates_in_runs_are_422(server: LiveServer) -> None:
    exp = _exp(server)
    status, body = _post_raw(
        server, f"{API}/runs", f'{{"experiment_id": "{exp}", "run_name": {SURROGATE}}}'
    )
    assert status == 422, body
    run = _run(server)
    status, body = _post_raw(server, f"{API}/runs/{run}/batch", f'{{"tags": {{"k": {SURROGATE}}}}}')
    assert status == 422, body
    status, body = _post_raw(server, f"{API}/runs/search", f'{{"filter": {SURROGATE}}}')
    assert status == 422, body


def test_ids_beyond_64_bits_are_4xx(server: LiveServer) -> None:
    huge = str(2**70)
    assert server.client.get(f"{API}/experiments/{huge}").status_code in (404, 422)
    body = {"experiment_id": huge}
    assert server.client.post(f"{API}/runs", json=body).status_code in (404, 422)
    search = server.client.post(f"{API}/runs/search", json={"experiment_ids": [huge]})
    assert search.status_code in (200, 422), search.text


def test_forged_page_token_is_422(server: LiveServer) -> None:
    import base64

    import orjson

    exp = _exp(server)
    forged = base64.urlsafe_b64encode(orjson.dumps({"offset": 2**63, "fp": "x"})).decode()
    body = {"experiment_ids": [exp], "page_token": forged}
    response = server.client.post(f"{API}/runs/search", json=body)
    assert response.status_code == 422, response.text


def test_deeply_nested_batch_is_422(server: LiveServer) -> None:
    run = _run(server)
    nested = "[" * 1000 + "]" * 1000
    status, body = _post_raw(server, f"{API}/runs/{run}/batch", f'{{"metrics": {nested}}}')
    assert status == 422, body


def test_params_are_json_text_not_python_reprs(server: LiveServer) -> None:
    run = _run(server)
    ok = server.client.post(
        f"{API}/runs/{run}/batch", json={"params": {"lr": 0.5, "deep": True, "n": 3, "s": "x"}}
    )
    assert ok.status_code == 204, ok.text
    params = server.reader().get_run(run).data.params
    assert params == {"lr": "0.5", "deep": "true", "n": "3", "s": "x"}
    for bad in (None, {"a": 1}, [1, 2]):
        refused = server.client.post(f"{API}/runs/{run}/batch", json={"params": {"p": bad}})
        assert refused.status_code == 422, refused.text
    assert "p" not in server.reader().get_run(run).data.params


def test_nul_bytes_are_refused(server: LiveServer) -> None:
    run = _run(server)
    for body in ({"params": {"p": "a\x00b"}}, {"tags": {"t": "a\x00b"}}):
        refused = server.client.post(f"{API}/runs/{run}/batch", json=body)
        assert refused.status_code == 422, refused.text
        assert "NUL" in refused.json()["error"]["message"]
    data = server.reader().get_run(run).data
    assert "p" not in data.params and "t" not in data.tags


def test_negative_end_time_is_refused(server: LiveServer) -> None:
    run = _run(server)
    refused = server.client.patch(f"{API}/runs/{run}", json={"status": "FINISHED", "end_time": -5})
    assert refused.status_code == 422, refused.text
    assert server.reader().get_run(run).info.end_time is None


@pytest.mark.parametrize(
    "location", ["/etc", "../../outside", "memory://x", "ftp://host/x", "file:///tmp/x"]
)
def test_artifact_location_outside_the_root_is_refused(server: LiveServer, location: str) -> None:
    body = {"name": "e", "artifact_location": location}
    refused = server.client.post(f"{API}/experiments", json=body)
    assert refused.status_code == 422, refused.text
    assert server.reader().list_experiments() == []


def test_artifact_location_inside_the_root_is_accepted(server: LiveServer) -> None:
    inside = str(server.artifacts / "team-a")
    created = server.client.post(
        f"{API}/experiments", json={"name": "e", "artifact_location": inside}
    )
    assert created.status_code == 201, created.text


def test_errors_do_not_reveal_server_paths(server: LiveServer) -> None:
    run = _run(server)
    missing = server.client.get(f"{API}/runs/{run}/artifacts/nope/file.txt")
    assert missing.status_code == 404
    assert str(server.artifacts) not in missing.text
    assert "/tmp" not in missing.text


def test_a_batch_over_the_point_limit_is_refused_whole(server: LiveServer) -> None:
    run = _run(server)
    point = b'["k", 1.0, 0, 0]'
    body = b'{"metrics": [' + b",".join([point] * 1_000_001) + b"]}"
    response = server.client.post(
        f"{API}/runs/{run}/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text[:300]
    assert "at most 1000000 metric points, got 1000001" in response.json()["error"]["message"]
    assert server.reader().get_run(run).data.metrics == {}


def test_a_batch_over_the_point_limit_is_refused_before_it_is_parsed(server: LiveServer) -> None:
    # Not valid JSON past the points: a server that parsed the body first would answer that the
    # JSON is broken; one that counts the points first refuses the count.
    run = _run(server)
    point = b'["k[", 1.0, 0, 0]'  # a '[' inside a key is not a point
    body = b'{"metrics": [' + b",".join([point] * 1_000_001) + b"], oops"
    response = server.client.post(
        f"{API}/runs/{run}/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text[:300]
    error = response.json()["error"]
    assert "at most 1000000 metric points, got 1000001" in error["message"]
    assert "before parsing" in error["message"]
    # '[' inside strings is not counted: 500,001 points whose keys hold '[' pass the count.
    from mloop.server._tracking import parse_batch

    many = b'{"metrics": [' + b",".join([point] * 500_001) + b"]}"
    assert len(parse_batch(many)[0]) == 500_001
