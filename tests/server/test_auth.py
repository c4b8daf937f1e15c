"""Tokens and roles on a real server: the role table covers every route, each role is refused
what it may not do, and the audit log names the token's identity, never the request's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from mloop.errors import Unauthorized
from mloop.server import create_app
from mloop.server._auth import PUBLIC, RULES, authorize, required_role
from mloop.store import HttpStore, SqlStore
from mloop.store._tokens import Role

if TYPE_CHECKING:
    from conftest import LiveServer, StartServer

_PUBLIC_PATHS = {"/healthz", "/metrics", "/openapi.json", "/docs", "/redoc", "/", "/ui"}


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _app(tmp_path: Path) -> FastAPI:
    store = SqlStore(f"sqlite:///{tmp_path}/routes.db", str(tmp_path / "artifacts"))
    return create_app(store, auth=True)


def test_every_route_is_checked_and_has_a_role(tmp_path: Path) -> None:
    app = _app(tmp_path)
    routes = [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)]
    assert len(routes) > 50
    for route in routes:
        calls = [d.call for d in route.dependant.dependencies]
        assert authorize in calls, f"{route.path} is not checked"
        for method in route.methods:
            need = required_role(method, route.path)
            assert need == PUBLIC or isinstance(need, Role), (method, route.path)
            if need == PUBLIC:
                assert route.path in _PUBLIC_PATHS or route.path.startswith(("/ui/", "/docs")), (
                    f"{method} {route.path} is open to anyone"
                )


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/api/v1/experiments", Role.READER),
        ("POST", "/api/v1/experiments", Role.EDITOR),
        ("POST", "/api/v1/runs/search", Role.READER),
        ("POST", "/api/v1/runs/table", Role.READER),
        ("POST", "/api/v1/metrics/histories", Role.READER),
        ("POST", "/api/2.0/mlflow/runs/search", Role.READER),
        ("POST", "/api/v1/registered-models/{name}/versions", Role.EDITOR),
        ("PUT", "/api/v1/registered-models/{name}/aliases/{alias}", Role.DEPLOYER),
        ("DELETE", "/api/v1/registered-models/{name}/aliases/{alias}", Role.DEPLOYER),
        ("POST", "/api/2.0/mlflow/registered-models/alias", Role.DEPLOYER),
        ("PUT", "/api/v1/deployments/{name}", Role.DEPLOYER),
        ("PUT", "/api/v1/registered-models/{name}/deployment", Role.DEPLOYER),
        ("DELETE", "/api/v1/registered-models/{name}/deployment", Role.DEPLOYER),
        ("GET", "/api/v1/registered-models/{name}/monitoring", Role.READER),
        ("POST", "/api/v1/loops/{name}/transitions", Role.DEPLOYER),
        ("DELETE", "/api/v1/loops/{name}/lease", Role.DEPLOYER),
        ("POST", "/api/v1/loops/{name}/pause", Role.DEPLOYER),
        ("DELETE", "/api/v1/runs/{run_id}", Role.ADMIN),
        ("DELETE", "/api/v1/runs/{run_id}/tags/{key:path}", Role.EDITOR),
        ("POST", "/api/v1/runs/{run_id}/restore", Role.ADMIN),
        ("POST", "/api/2.0/mlflow/runs/delete", Role.ADMIN),
        ("GET", "/api/v1/auth/tokens", Role.ADMIN),
        ("POST", "/api/v1/auth/tokens/{token_id}/revoke", Role.ADMIN),
        ("GET", "/api/v1/auth/whoami", Role.READER),
        ("POST", "/api/v1/genai/prompts", Role.EDITOR),  # a route no rule names: the default
    ],
)
def test_role_table(method: str, path: str, role: Role) -> None:
    assert required_role(method, path) == role


def test_rules_are_reachable() -> None:
    # A rule shadowed by an earlier one is a mistake in the table.
    for i, rule in enumerate(RULES):
        path = rule.path.replace("*", "x")
        method = sorted(rule.methods)[0]
        first = next(r for r in RULES if r.matches(method, path))
        assert first is rule or first.need == rule.need, (i, rule)


def _tokens(server: LiveServer) -> dict[str, str]:
    store = server.reader()
    try:
        return {role.value: store.create_token(f"{role.value}-person", role).token for role in Role}
    finally:
        store.close()


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_is_401_with_www_authenticate(start_server: StartServer) -> None:
    server = start_server(auth=True)
    for method, url in [("GET", "/api/v1/experiments"), ("POST", "/api/v1/experiments")]:
        response = server.client.request(method, url, json={"name": "x"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == Unauthorized.code
    bad = server.client.get("/api/v1/experiments", headers=_h("mlp_000000000000_" + "x" * 43))
    assert bad.status_code == 401
    assert server.client.get("/healthz").status_code == 200
    assert server.client.get("/openapi.json").status_code == 200
    assert server.client.get("/metrics").status_code == 200
    assert server.reader().list_experiments() == []


def test_each_role_may_do_its_part_only(start_server: StartServer) -> None:
    server = start_server(auth=True)
    tok = _tokens(server)
    c = server.client
    assert c.get("/api/v1/experiments", headers=_h(tok["reader"])).status_code == 200
    refused = c.post("/api/v1/experiments", json={"name": "e"}, headers=_h(tok["reader"]))
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"role": "reader", "needed": "editor"}

    exp = c.post("/api/v1/experiments", json={"name": "e"}, headers=_h(tok["editor"])).json()
    run = c.post(
        "/api/v1/runs",
        json={"experiment_id": exp["experiment_id"], "user": "mallory"},
        headers=_h(tok["editor"]),
    ).json()
    assert run["info"]["user"] == "editor-person"
    body = {"source": "s3://bucket/model", "actor": "mallory"}
    created = c.post("/api/v1/registered-models/m/versions", json=body, headers=_h(tok["editor"]))
    assert created.status_code == 201
    assert created.json()["registered_by"] == "editor-person"

    alias = {"version": 1, "actor": "mallory"}
    url = "/api/v1/registered-models/m/aliases/champion"
    assert c.put(url, json=alias, headers=_h(tok["editor"])).status_code == 403
    assert c.put(url, json=alias, headers=_h(tok["deployer"])).status_code == 200

    run_url = f"/api/v1/runs/{run['info']['run_id']}"
    assert c.delete(run_url, headers=_h(tok["deployer"])).status_code == 403
    assert c.delete(run_url, headers=_h(tok["admin"])).status_code == 204

    audit = server.reader().get_audit_log("m")
    assert [(e.action, e.actor) for e in audit] == [
        ("create_model", "editor-person"),
        ("create_version", "editor-person"),
        ("set_alias", "deployer-person"),
    ]


def test_tokens_over_the_api_need_admin(start_server: StartServer) -> None:
    server = start_server(auth=True)
    tok = _tokens(server)
    body = {"name": "ci", "role": "editor"}
    assert (
        server.client.post("/api/v1/auth/tokens", json=body, headers=_h(tok["deployer"]))
    ).status_code == 403
    with HttpStore(server.url, token=tok["admin"]) as admin:
        new = admin.create_token("ci", "editor", scopes={"models": ["churn"]})
        assert new.info.created_by == "admin-person"
        listed = {t.token_id: t for t in admin.list_tokens()}
        assert listed[new.info.token_id].scopes.models == ["churn"]
        assert (
            "secret" not in server.client.get("/api/v1/auth/tokens", headers=_h(tok["admin"])).text
        )
    with HttpStore(server.url, token=new.token) as ci:
        ci.create_experiment("from-ci")
        who = ci._request("GET", "/auth/whoami").json()
        assert who == {
            "name": "ci",
            "role": "editor",
            "scopes": {"experiments": None, "models": ["churn"], "inference": []},
            "auth_enabled": True,
            "token_id": new.info.token_id,
            "expires_at": None,
        }
    with HttpStore(server.url) as anonymous, pytest.raises(Unauthorized):
        anonymous.list_experiments()


def test_revoked_and_expired_tokens_are_refused(start_server: StartServer) -> None:
    clock = Clock()
    server = start_server(auth=True, clock=clock)
    store = server.reader()
    now_ms = int(clock.now * 1000)
    short = store.create_token("short", "reader", expires_at=now_ms + 60_000).token
    revoked = store.create_token("gone", "reader")
    c = server.client
    assert c.get("/api/v1/experiments", headers=_h(short)).status_code == 200
    assert c.get("/api/v1/experiments", headers=_h(revoked.token)).status_code == 200
    store.revoke_token(revoked.info.token_id)
    clock.now += 61  # past the expiry, and past the 30 s cache
    assert c.get("/api/v1/experiments", headers=_h(short)).status_code == 401
    assert c.get("/api/v1/experiments", headers=_h(revoked.token)).status_code == 401


def test_model_scopes_hide_other_models(start_server: StartServer) -> None:
    server = start_server(auth=True)
    store = server.reader()
    store.create_registered_model("churn")
    store.create_registered_model("secret-model")
    token = store.create_token("team", "editor", scopes={"models": ["churn"]}).token
    c = server.client
    names = [m["name"] for m in c.get("/api/v1/registered-models", headers=_h(token)).json()]
    assert names == ["churn"]
    assert c.get("/api/v1/registered-models/secret-model", headers=_h(token)).status_code == 404
    body = {"source": "s3://b/m"}
    url = "/api/v1/registered-models/secret-model/versions"
    assert c.post(url, json=body, headers=_h(token)).status_code == 404
    assert store.list_model_versions("secret-model") == []


def test_a_route_added_later_is_protected_by_default(tmp_path: Path) -> None:
    from mloop.server import ServerThread

    app = _app(tmp_path)
    extra = APIRouter(prefix="/api/v1/extra")

    @extra.post("/things")
    def make_thing() -> dict[str, str]:
        return {"made": "yes"}

    app.include_router(extra, prefix="/api/v1/more")  # a prefix given at include time
    store: SqlStore = app.state.store
    reader = store.create_token("r", "reader").token
    editor = store.create_token("e", "editor").token
    thread = ServerThread(app).start()
    try:
        with httpx.Client(base_url=thread.url) as c:
            url = "/api/v1/more/api/v1/extra/things"
            assert c.post(url).status_code == 401
            assert c.post(url, headers=_h(reader)).status_code == 403
            assert c.post(url, headers=_h(editor)).json() == {"made": "yes"}
    finally:
        thread.stop()
        store.close()


def test_without_auth_the_actor_is_marked_unverified(server: LiveServer) -> None:
    c = server.client
    c.post("/api/v1/registered-models", json={"name": "m", "actor": "alice"})
    body = {"source": "s3://b/m", "actor": "alice"}
    version = c.post("/api/v1/registered-models/m/versions", json=body).json()
    assert version["registered_by"] == "unverified:alice"
    assert [e.actor for e in server.reader().get_audit_log("m")] == [
        "unverified:alice",
        "unverified:alice",
    ]
    who = c.get("/api/v1/auth/whoami").json()
    assert who["auth_enabled"] is False


def test_mlflow_api_is_checked_and_credits_the_identity(start_server: StartServer) -> None:
    server = start_server(auth=True)
    tok = _tokens(server)
    c = server.client
    url = "/api/2.0/mlflow/registered-models/create"
    assert c.post(url, json={"name": "m"}).status_code == 401
    assert c.post(url, json={"name": "m"}, headers=_h(tok["reader"])).status_code == 403
    assert c.post(url, json={"name": "m"}, headers=_h(tok["editor"])).status_code == 200
    search = "/api/2.0/mlflow/runs/search"
    assert c.post(search, json={"experiment_ids": []}, headers=_h(tok["reader"])).status_code == (
        200
    )
    assert [e.actor for e in server.reader().get_audit_log("m")] == ["editor-person"]


def test_metrics_auth(start_server: StartServer) -> None:
    server = start_server(auth=True, metrics_auth=True)
    token = _tokens(server)["reader"]
    assert server.client.get("/metrics").status_code == 401
    assert server.client.get("/metrics", headers=_h(token)).status_code == 200
    assert server.client.get("/healthz").status_code == 200


def test_experiment_scopes_hide_other_experiments(start_server: StartServer) -> None:
    server = start_server(auth=True)
    store = server.reader()
    mine = store.create_experiment("mine").experiment_id
    other = store.create_experiment("other").experiment_id
    store.create_run(mine)
    store.create_run(other)
    token = store.create_token("team", "editor", scopes={"experiments": [mine]}).token
    c = server.client
    listed = c.get("/api/v1/experiments", headers=_h(token)).json()
    assert [e["name"] for e in listed] == ["mine"]
    assert c.get(f"/api/v1/experiments/{other}", headers=_h(token)).status_code == 404
    assert c.get("/api/v1/experiments/by-name/other", headers=_h(token)).status_code == 404
    body = {"experiment_id": other}
    assert c.post("/api/v1/runs", json=body, headers=_h(token)).status_code == 404
    assert c.delete(f"/api/v1/experiments/{other}", headers=_h(token)).status_code == 403
    for ids in ([], [mine, other], [other]):
        found = c.post("/api/v1/runs/search", json={"experiment_ids": ids}, headers=_h(token))
        assert found.status_code == 200, found.text
        expected = 0 if ids == [other] else 1
        assert len(found.json()["runs"]) == expected
    assert {r.info.experiment_id for r in store.search_runs([mine, other]).runs} == {mine, other}


def test_experiment_scopes_hide_runs_of_other_experiments(start_server: StartServer) -> None:
    server = start_server(auth=True)
    store = server.reader()
    mine = store.create_experiment("mine").experiment_id
    other = store.create_experiment("other").experiment_id
    own = store.create_run(mine).info.run_id
    theirs = store.create_run(other).info.run_id
    store.log_batch(theirs, metrics=[("loss", 0.5, 0, 1)], params={"secret": "x"})
    token = store.create_token("team", "admin", scopes={"experiments": [mine]}).token
    c = server.client
    h = _h(token)
    assert c.get(f"/api/v1/runs/{own}", headers=h).status_code == 200
    refused = [
        c.get(f"/api/v1/runs/{theirs}", headers=h),
        c.patch(f"/api/v1/runs/{theirs}", json={"status": "FINISHED"}, headers=h),
        c.post(
            f"/api/v1/runs/{theirs}/batch", json={"params": [{"key": "k", "value": "v"}]}, headers=h
        ),
        c.get(f"/api/v1/runs/{theirs}/metrics/loss/history", headers=h),
        c.get(f"/api/v1/runs/{theirs}/artifacts", headers=h),
        c.put(f"/api/v1/runs/{theirs}/artifacts/a.txt", content=b"x", headers=h),
        c.get(f"/api/v1/runs/{theirs}/inputs", headers=h),
        c.get(f"/api/v1/runs/{theirs}/outputs", headers=h),
        c.delete(f"/api/v1/runs/{theirs}", headers=h),
        c.post(
            "/api/v1/metrics/histories", json={"run_ids": [theirs], "keys": ["loss"]}, headers=h
        ),
    ]
    for answer in refused:
        assert answer.status_code == 404, (answer.request.url, answer.text)
        assert answer.json()["error"]["code"] == "RUN_NOT_FOUND"
    assert c.get(f"/api/v1/runs/{theirs}").status_code == 401  # no token: still 401 first
    table = c.post("/api/v1/runs/table", json={"experiment_ids": [other]}, headers=h).json()
    assert table["attributes"]["run_id"] == []
    keys = c.post("/api/v1/runs/keys", json={}, headers=h).json()
    assert "secret" not in keys["params"] and "loss" not in keys["metrics"]
    run = store.get_run(theirs)  # nothing was written through the refused token
    assert run.info.status == "RUNNING" and run.data.params == {"secret": "x"}
    assert run.info.lifecycle_stage == "active"


def test_experiment_scopes_cover_mlflow_routes_and_tune_journals(
    start_server: StartServer,
) -> None:
    server = start_server(auth=True)
    store = server.reader()
    mine = store.create_experiment("mine").experiment_id
    other = store.create_experiment("other").experiment_id
    own = store.create_run(mine).info.run_id
    theirs = store.create_run(other).info.run_id
    store.log_batch(theirs, metrics=[("loss", 0.5, 0, 1)], params={"secret": "x"})
    store.append_tune_journal(f"{other}:study", [{"op_code": 0}])
    store.append_tune_journal("free-key", [{"op_code": 0}])
    token = store.create_token("team", "admin", scopes={"experiments": [mine]}).token
    c = server.client
    h = _h(token)
    ml = "/api/2.0/mlflow"
    assert c.get(f"{ml}/runs/get", params={"run_id": own}, headers=h).status_code == 200
    refused = [
        c.get(f"{ml}/runs/get", params={"run_id": theirs}, headers=h),
        c.get(f"{ml}/experiments/get", params={"experiment_id": other}, headers=h),
        c.get(f"{ml}/experiments/get-by-name", params={"experiment_name": "other"}, headers=h),
        c.post(f"{ml}/runs/create", json={"experiment_id": other}, headers=h),
        c.post(f"{ml}/runs/update", json={"run_id": theirs, "status": "FAILED"}, headers=h),
        c.post(
            f"{ml}/runs/log-parameter", json={"run_id": theirs, "key": "k", "value": "v"}, headers=h
        ),
        c.post(f"{ml}/runs/set-tag", json={"run_id": theirs, "key": "k", "value": "v"}, headers=h),
        c.post(f"{ml}/runs/delete", json={"run_id": theirs}, headers=h),
        c.post(f"{ml}/experiments/delete", json={"experiment_id": other}, headers=h),
        c.get(
            f"{ml}/metrics/get-history",
            params={"run_id": theirs, "metric_key": "loss"},
            headers=h,
        ),
        c.get(f"{ml}/artifacts/list", params={"run_id": theirs}, headers=h),
        c.get(
            "/api/2.0/mlflow-artifacts/artifacts",
            params={"path": f"{other}/{theirs}/artifacts"},
            headers=h,
        ),
        c.put(
            f"/api/2.0/mlflow-artifacts/artifacts/{other}/{theirs}/artifacts/a.txt",
            content=b"x",
            headers=h,
        ),
    ]
    for answer in refused:
        assert answer.status_code == 404, (answer.request.url, answer.text)
        assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", answer.text
    # Searches return what lies inside the scopes only.
    found = c.post(f"{ml}/runs/search", json={"experiment_ids": [mine, other]}, headers=h)
    assert [r["info"]["run_id"] for r in found.json()["runs"]] == [own]
    found = c.post(f"{ml}/runs/search", json={"experiment_ids": [other]}, headers=h)
    assert found.json().get("runs", []) == []
    listed = c.post(f"{ml}/experiments/search", json={}, headers=h).json()["experiments"]
    assert [e["name"] for e in listed] == ["mine"]
    # Tuning journals: those of the scoped experiments' studies only.
    logs = "/api/v1/tune/journals/{}/logs"
    ok = c.post(logs.format(f"{mine}:study"), json={"logs": ['{"op_code": 0}']}, headers=h)
    assert ok.status_code == 201, ok.text
    assert c.get(logs.format(f"{mine}:study"), headers=h).json()["logs"][0]["index"] == 0
    for key in (f"{other}:study", "free-key"):
        assert c.get(logs.format(key), headers=h).status_code == 404
        appended = c.post(logs.format(key), json={"logs": ['{"op_code": 0}']}, headers=h)
        assert appended.status_code == 404
    # Nothing was written through the refused token; an unscoped token sees everything.
    run = store.get_run(theirs)
    assert run.info.status == "RUNNING" and run.data.params == {"secret": "x"}
    assert run.data.tags.get("k") is None and run.info.lifecycle_stage == "active"
    assert len(store.read_tune_journal(f"{other}:study")) == 1
    assert len(store.read_tune_journal("free-key")) == 1
    admin = store.create_token("root", "admin").token
    found = c.post(f"{ml}/runs/search", json={"experiment_ids": [mine, other]}, headers=_h(admin))
    assert len(found.json()["runs"]) == 2
