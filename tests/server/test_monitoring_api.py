"""``GET /api/v1/registered-models/{name}/monitoring``: the monitoring page's data in one
answer, over a real server and a real SQLite file, with and without auth."""

from __future__ import annotations

from tests.server.conftest import StartServer
from tests.ui import loop_seed

from mloop.store._tokens import Role


def test_one_request_returns_deployment_loop_history_and_alerts(
    start_server: StartServer,
) -> None:
    server = start_server()
    expect = loop_seed.fill(server.store)
    body = server.client.get(f"/api/v1/registered-models/{expect['model']}/monitoring").json()
    assert body["model"]["name"] == "fraud"
    assert body["model"]["aliases"] == {"champion": 1, "challenger": 2}
    weights = [(c["version"], c["weight"]) for c in body["deployment"]["spec"]["canary"]]
    assert weights == [(1, 90), (2, 10)]
    [entry] = body["loops"]
    assert entry["loop"]["name"] == "fraud-loop"
    assert entry["loop"]["state"] == "ROLLING_OUT"
    states = [t["to_state"] for t in entry["transitions"]]
    assert states == ["MONITORING", "RETRAINING", "GATING", "ROLLING_OUT"]
    assert entry["transitions"][2]["evidence"] == {"run_id": "a" * 32, "version": 2}
    results = entry["monitor_results"]
    assert len(results) == expect["runs"]
    assert results[0]["time"] > results[-1]["time"]  # newest first
    assert results[0]["result"]["drift"]["columns"]["amount"]["drifted"] is True
    assert [a["status"] for a in entry["alerts"]] == ["failed", "delivered"]

    # limit bounds each list and keeps the newest transitions
    small = server.client.get(
        "/api/v1/registered-models/fraud/monitoring", params={"limit": 2}
    ).json()["loops"][0]
    assert [t["to_state"] for t in small["transitions"]] == ["GATING", "ROLLING_OUT"]
    assert len(small["monitor_results"]) == 2
    assert len(small["alerts"]) == 2


def test_a_model_without_a_loop_has_no_loops_and_no_deployment(
    start_server: StartServer,
) -> None:
    server = start_server()
    server.store.create_registered_model("plain")
    body = server.client.get("/api/v1/registered-models/plain/monitoring").json()
    assert body["loops"] == []
    assert body["deployment"] == {
        "name": "plain",
        "generation": 0,
        "spec": None,
        "updated_at": None,
        "actor": "",
        "reason": "",
    }


def test_unknown_model_and_bad_limit_are_4xx(start_server: StartServer) -> None:
    server = start_server()
    missing = server.client.get("/api/v1/registered-models/nope/monitoring")
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]["message"]
    bad = server.client.get("/api/v1/registered-models/nope/monitoring", params={"limit": 0})
    assert bad.status_code == 422


def test_readers_see_it_and_model_scopes_hide_other_models(start_server: StartServer) -> None:
    server = start_server(auth=True)
    loop_seed.fill(server.store)
    reader = server.store.create_token("alice", Role.READER).token
    other = server.store.create_token("bob", Role.READER, scopes={"models": ["churn"]}).token
    url = "/api/v1/registered-models/fraud/monitoring"
    assert server.client.get(url).status_code == 401
    ok = server.client.get(url, headers={"Authorization": f"Bearer {reader}"})
    assert ok.status_code == 200
    assert ok.json()["loops"][0]["loop"]["name"] == "fraud-loop"
    hidden = server.client.get(url, headers={"Authorization": f"Bearer {other}"})
    assert hidden.status_code == 404
