"""The MLflow-compatible API: the real MLflow client end to end, then each endpoint family over
HTTP against a real server, checking the answer and what the store holds."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import LiveServer

from mloop.server._mlflow_tracking import translate_filter

API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
SCENARIO = Path(__file__).with_name("mlflow_client_scenario.py")


def _post(server: LiveServer, path: str, body: dict[str, Any]) -> Any:
    return server.client.post(API + path, json=body)


def _run(server: LiveServer, exp: str = "0", **body: Any) -> dict[str, Any]:
    r = _post(server, "/runs/create", {"experiment_id": exp, **body})
    assert r.status_code == 200, r.text
    return dict(r.json()["run"])


@pytest.mark.slow
def test_the_real_mlflow_client_logs_registers_searches_and_loads(
    server: LiveServer, tmp_path: Path
) -> None:
    pytest.importorskip("mlflow")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": server.url,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
        "GIT_PYTHON_REFRESH": "quiet",
    }
    proc = subprocess.run(
        [sys.executable, str(SCENARIO)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["predictions_equal"] is True
    assert seen["pyfunc_rows"] == 4
    assert seen["search_names"] == ["first"]
    assert seen["ordered_names"] == ["first", "second"]
    assert seen["loss_steps"] == [0, 1, 2, 3, 4]
    assert seen["params"] == {"C": "0.5", "solver": "lbfgs"}
    assert seen["tags_team"] == "fraud"
    assert seen["artifacts"] == ["docs"]
    assert seen["docs_files"] == ["docs/notes.txt"]
    assert seen["alias_version"] == seen["registered_version"] == "1"
    assert seen["model_versions"] == ["1"]
    assert seen["missing_run_error"] == "RESOURCE_DOES_NOT_EXIST"
    assert seen["param_change_error"] == "INVALID_PARAMETER_VALUE"

    # What mloop stored: the same records its own API and CLI read.
    store = server.reader()
    try:
        exp = store.get_experiment_by_name("mlflow-compat")
        assert exp.experiment_id == seen["experiment_id"]
        run = store.get_run(seen["run_id"])
        assert run.info.run_name == "first"
        assert run.data.params == {"C": "0.5", "solver": "lbfgs"}
        assert len(store.get_metric_history(run.run_id, "loss")) == 5
        with store.open_artifact(run.run_id, "docs/notes.txt") as f:
            assert f.read() == b"hello"
        mv = store.get_model_version_by_alias("fraud", "champion")
        holder = seen["model_id"][2:]
        assert mv.version == 1
        assert mv.source == f"runs:/{holder}"
        assert mv.run_id == seen["run_id"]  # lineage: the training run
        assert store.get_run(holder).info.parent_run_id == seen["run_id"]
        files = {a.path for a in store.list_artifacts(holder)}
        assert "MLmodel" in files
    finally:
        store.close()


# -- errors --------------------------------------------------------------------------------------


def test_errors_have_mlflows_shape_and_status(server: LiveServer) -> None:
    r = server.client.get(API + "/experiments/get-by-name", params={"experiment_name": "nope"})
    assert r.status_code == 404
    assert r.json() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "no experiment named 'nope'",
    }

    assert _post(server, "/experiments/create", {"name": "dup"}).status_code == 200
    r = _post(server, "/experiments/create", {"name": "dup"})
    assert (r.status_code, r.json()["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")

    r = server.client.post(
        API + "/runs/log-batch", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")

    r = _post(server, "/runs/create", {})
    run_id = r.json()["run"]["info"]["run_id"]
    r = _post(server, "/runs/log-batch", {"run_id": run_id, "metrics": [{"key": "x"}]})
    assert r.status_code == 400
    assert "missing or invalid value for metric 'x'" in r.json()["message"]

    r = server.client.get(API + "/traces/get")
    assert (r.status_code, r.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    assert "docs/mlflow.md" in r.json()["message"]

    r = _post(server, "/runs/search", {"filter": "metrics.auc >>> 1"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    # mloop's own API keeps mloop's shape
    assert "error" in server.client.get("/api/v1/runs/" + "0" * 32).json()


def test_params_are_immutable_but_may_be_logged_again_unchanged(server: LiveServer) -> None:
    run_id = _run(server)["info"]["run_id"]
    body = {"run_id": run_id, "key": "lr", "value": "0.1"}
    assert _post(server, "/runs/log-parameter", body).status_code == 200
    assert _post(server, "/runs/log-parameter", body).status_code == 200
    r = _post(server, "/runs/log-parameter", {**body, "value": "0.2"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert server.store.get_run(run_id).data.params == {"lr": "0.1"}


# -- experiments and runs ------------------------------------------------------------------------


def test_experiment_zero_is_mloops_default_experiment(server: LiveServer) -> None:
    run = _run(server, "0", run_name="r")
    default = server.store.get_experiment_by_name("default")
    assert run["info"]["experiment_id"] == default.experiment_id
    got = server.client.get(API + "/experiments/get", params={"experiment_id": "0"}).json()
    assert got["experiment"]["name"] == "default"
    assert run["info"]["artifact_uri"] == (
        f"mlflow-artifacts:/{default.experiment_id}/{run['info']['run_id']}/artifacts"
    )


def test_experiments_search_filters_orders_and_pages(server: LiveServer) -> None:
    for name, team in (("alpha", "a"), ("beta", "b"), ("alpine", "a")):
        body = {"name": name, "tags": [{"key": "team", "value": team}]}
        assert _post(server, "/experiments/create", body).status_code == 200
    r = _post(server, "/experiments/search", {"filter": "name LIKE 'alp%'", "order_by": ["name"]})
    assert [e["name"] for e in r.json()["experiments"]] == ["alpha", "alpine"]
    r = _post(server, "/experiments/search", {"filter": "tags.team = 'b'"})
    assert [e["name"] for e in r.json()["experiments"]] == ["beta"]
    first = _post(server, "/experiments/search", {"max_results": 2, "order_by": ["name ASC"]})
    token = first.json()["next_page_token"]
    rest = _post(
        server, "/experiments/search", {"max_results": 2, "order_by": ["name"], "page_token": token}
    )
    names = [e["name"] for e in first.json()["experiments"] + rest.json()["experiments"]]
    assert names == ["alpha", "alpine", "beta"]
    assert "next_page_token" not in rest.json()


def test_log_batch_history_and_special_values(server: LiveServer) -> None:
    run_id = _run(server)["info"]["run_id"]
    metrics = [
        {"key": "loss", "value": 1.5, "timestamp": 10, "step": 0},
        {"key": "loss", "value": "NaN", "timestamp": "11", "step": "1"},
        {"key": "loss", "value": "Infinity", "timestamp": 12, "step": 2},
    ]
    body = {
        "run_id": run_id,
        "metrics": metrics,
        "params": [{"key": "p", "value": "1"}],
        "tags": [{"key": "mlflow.runName", "value": "renamed"}],
    }
    assert _post(server, "/runs/log-batch", body).status_code == 200
    r = server.client.get(
        API + "/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}
    )
    points = r.json()["metrics"]
    assert [p["step"] for p in points] == [0, 1, 2]
    assert [p["value"] for p in points] == [1.5, "NaN", "Infinity"]
    stored = server.store.get_metric_history(run_id, "loss")
    assert math.isnan(stored.values[1]) and math.isinf(stored.values[2])
    assert server.store.get_run(run_id).info.run_name == "renamed"


def test_bodies_with_bare_nan_literals_are_read_as_before(server: LiveServer) -> None:
    """Bodies are parsed by orjson; what only Python's parser reads (bare ``NaN`` and
    ``-Infinity``, as ``json.dumps`` writes them) still logs."""
    run_id = _run(server)["info"]["run_id"]
    raw = json.dumps(
        {
            "run_id": run_id,
            "metrics": [
                {"key": "m", "value": float("nan"), "timestamp": 1, "step": 0},
                {"key": "m", "value": float("-inf"), "timestamp": 2, "step": 1},
            ],
        }
    )
    assert "NaN" in raw and "-Infinity" in raw
    r = server.client.post(
        API + "/runs/log-batch", content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    values = server.store.get_metric_history(run_id, "m").values
    assert math.isnan(values[0]) and values[1] == -math.inf


def test_search_runs_reads_mlflows_filter_syntax(server: LiveServer) -> None:
    exp = _post(server, "/experiments/create", {"name": "s"}).json()["experiment_id"]
    ids = {}
    for name, auc, model, user in (
        ("a", 0.9, "lgbm", "ann"),
        ("b", 0.7, "lgbm", "bob"),
        ("c", 0.95, "rf", "ann"),
    ):
        run = _run(
            server,
            exp,
            run_name=name,
            user_id=user,
            tags=[{"key": "mlflow.source.name", "value": f"train_{name}.py"}],
        )
        run_id = run["info"]["run_id"]
        ids[name] = run_id
        body = {
            "run_id": run_id,
            "metrics": [{"key": "auc", "value": auc, "timestamp": 1, "step": 0}],
            "params": [{"key": "model", "value": model}],
        }
        assert _post(server, "/runs/log-batch", body).status_code == 200

    def names(filter: str, order_by: list[str] | None = None) -> list[str]:
        body = {
            "experiment_ids": [exp],
            "filter": filter,
            "order_by": order_by or ["attributes.run_name"],
        }
        r = _post(server, "/runs/search", body)
        assert r.status_code == 200, r.text
        return [x["info"]["run_name"] for x in r.json()["runs"]]

    assert names('metrics.auc > 0.8 and params.model = "lgbm"') == ["a"]
    assert names("attributes.user_id = 'ann'") == ["a", "c"]
    assert names("tags.`mlflow.source.name` LIKE 'train_%'") == ["a", "b", "c"]
    assert names("tags.\"mlflow.source.name\" = 'train_b.py'") == ["b"]
    assert names("params.model IN ('rf')") == ["c"]
    assert names("attributes.run_name ILIKE 'A'") == ["a"]
    assert names("", ["metrics.auc DESC"]) == ["c", "a", "b"]
    deleted = {"run_id": ids["b"]}
    assert _post(server, "/runs/delete", deleted).status_code == 200
    r = _post(server, "/runs/search", {"experiment_ids": [exp], "run_view_type": "DELETED_ONLY"})
    assert [x["info"]["run_id"] for x in r.json()["runs"]] == [ids["b"]]


def test_translate_filter_keeps_quoted_text() -> None:
    assert translate_filter("attributes.user_id = 'user_id'") == "attributes.user = 'user_id'"
    assert translate_filter("user_id = 'x' and created > 5") == (
        "attributes.user = 'x' and attributes.start_time > 5"
    )
    assert translate_filter("params.user_id = '1'") == "params.user_id = '1'"
    assert translate_filter("tags.`created` = '1'") == "tags.`created` = '1'"


# -- artifacts -----------------------------------------------------------------------------------


def test_artifact_proxy_streams_files_in_and_out(server: LiveServer) -> None:
    run = _run(server)
    exp, run_id = run["info"]["experiment_id"], run["info"]["run_id"]
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = server.client.put(f"{PROXY}/{exp}/{run_id}/artifacts/model/weights.bin", content=data)
    assert r.status_code == 200, r.text
    stored = server.store.list_artifacts(run_id, "model")
    assert [(a.path, a.size) for a in stored] == [("model/weights.bin", len(data))]
    got = server.client.get(f"{PROXY}/{exp}/{run_id}/artifacts/model/weights.bin")
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    listing = server.client.get(PROXY, params={"path": f"{exp}/{run_id}/artifacts/model"}).json()
    assert listing == {"files": [{"path": "weights.bin", "is_dir": False, "file_size": len(data)}]}
    legacy = server.client.get(API + "/artifacts/list", params={"run_id": run_id}).json()
    assert legacy["files"] == [{"path": "model", "is_dir": True}]
    empty = server.client.get(PROXY, params={"path": f"{exp}/{run_id}/artifacts/none"}).json()
    assert empty == {"files": []}


@pytest.mark.parametrize(
    "path",
    [
        "{exp}/{run}/artifacts/../../../etc/passwd",
        "{exp}/{run}/other/x",
        "{exp}/{run}/artifacts/a\\b",
    ],
)
def test_artifact_proxy_refuses_paths_outside_a_run(server: LiveServer, path: str) -> None:
    run = _run(server)
    target = path.format(exp=run["info"]["experiment_id"], run=run["info"]["run_id"])
    r = server.client.put(f"{PROXY}/{target}", content=b"x")
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert server.store.list_artifacts(run["info"]["run_id"]) == []


def test_artifact_proxy_checks_the_experiment_of_the_run(server: LiveServer) -> None:
    run_id = _run(server)["info"]["run_id"]
    r = server.client.put(f"{PROXY}/999/{run_id}/artifacts/x", content=b"x")
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


# -- logged models and the registry --------------------------------------------------------------


def test_logged_models_are_child_runs_hidden_from_run_search(server: LiveServer) -> None:
    run = _run(server, run_name="train")
    exp, run_id = run["info"]["experiment_id"], run["info"]["run_id"]
    body = {
        "experiment_id": exp,
        "name": "model",
        "source_run_id": run_id,
        "model_type": "classifier",
        "params": [{"key": "C", "value": "1"}],
        "tags": [{"key": "k", "value": "v"}],
    }
    model = _post(server, "/logged-models", body).json()["model"]
    model_id = model["info"]["model_id"]
    assert model["info"]["status"] == "LOGGED_MODEL_PENDING"
    assert model["info"]["source_run_id"] == run_id
    assert model["info"]["tags"] == [{"key": "k", "value": "v"}]
    assert model["data"]["params"] == [{"key": "C", "value": "1"}]
    r = server.client.patch(
        f"{API}/logged-models/{model_id}", json={"status": "LOGGED_MODEL_READY"}
    )
    assert r.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    # metrics linked to the model go to the model's run, not again to the training run
    metric = {"key": "acc", "value": 0.9, "timestamp": 1, "step": 0, "model_id": model_id}
    assert (
        _post(server, "/runs/log-batch", {"run_id": run_id, "metrics": [metric]}).status_code == 200
    )
    assert "acc" not in server.store.get_run(run_id).data.metrics
    assert (
        _post(
            server,
            "/runs/outputs",
            {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]},
        ).status_code
        == 200
    )
    got = server.client.get(API + "/runs/get", params={"run_id": run_id}).json()["run"]
    assert got["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 0}]}
    assert all(not t["key"].startswith("mloop.mlflow.") for t in got["data"]["tags"])

    runs = _post(server, "/runs/search", {"experiment_ids": [exp]}).json()["runs"]
    assert [x["info"]["run_id"] for x in runs] == [run_id]
    found = _post(
        server, "/logged-models/search", {"experiment_ids": [exp], "filter": "name = 'model'"}
    )
    assert [m["info"]["model_id"] for m in found.json()["models"]] == [model_id]
    assert found.json()["models"][0]["data"]["metrics"][0]["key"] == "acc"

    r = _post(
        server,
        "/model-versions/create",
        {"name": "churn", "source": f"models:/{model_id}", "model_id": model_id},
    )
    mv = r.json()["model_version"]
    assert (mv["version"], mv["source"], mv["model_id"], mv["run_id"]) == (
        "1",
        f"models:/{model_id}",
        model_id,
        run_id,
    )
    stored = server.store.get_model_version("churn", 1)
    assert stored.source == f"runs:/{model_id[2:]}"
    uri = server.client.get(
        API + "/model-versions/get-download-uri", params={"name": "churn", "version": "1"}
    )
    assert uri.json()["artifact_uri"] == f"mlflow-artifacts:/{exp}/{model_id[2:]}/artifacts"
    r = server.client.get(f"{API}/logged-models/m-{'0' * 32}")
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_registry_models_versions_aliases_and_audit(server: LiveServer) -> None:
    run = _run(server)
    exp, run_id = run["info"]["experiment_id"], run["info"]["run_id"]
    body = {"name": "fraud", "description": "d", "tags": [{"key": "team", "value": "risk"}]}
    assert _post(server, "/registered-models/create", body).status_code == 200
    source = f"mlflow-artifacts:/{exp}/{run_id}/artifacts/model"
    for _ in range(2):
        r = _post(
            server, "/model-versions/create", {"name": "fraud", "source": source, "run_id": run_id}
        )
        assert r.status_code == 200, r.text
    assert server.store.get_model_version("fraud", 2).source == f"runs:/{run_id}/model"
    r = _post(
        server, "/registered-models/alias", {"name": "fraud", "alias": "champion", "version": "1"}
    )
    assert r.status_code == 200
    got = server.client.get(API + "/registered-models/get", params={"name": "fraud"}).json()
    rm = got["registered_model"]
    assert rm["aliases"] == [{"alias": "champion", "version": "1"}]
    assert rm["latest_versions"][0]["version"] == "2"
    assert rm["tags"] == [{"key": "team", "value": "risk"}]
    by_alias = server.client.get(
        API + "/registered-models/alias", params={"name": "fraud", "alias": "champion"}
    )
    assert by_alias.json()["model_version"]["source"] == source
    # MLflow's client adds this filter of its own to every registered model search
    prompts = "tag.`mlflow.prompt.is_prompt` != 'true'"
    hidden = server.client.get(API + "/registered-models/search", params={"filter": prompts})
    assert [m["name"] for m in hidden.json()["registered_models"]] == ["fraud"]
    search = server.client.get(
        API + "/registered-models/search", params={"filter": "name LIKE 'fr%'"}
    )
    assert [m["name"] for m in search.json()["registered_models"]] == ["fraud"]
    versions = server.client.get(
        API + "/model-versions/search", params={"filter": f"run_id = '{run_id}'"}
    )
    assert sorted(v["version"] for v in versions.json()["model_versions"]) == ["1", "2"]

    r = server.client.request(
        "DELETE", API + "/registered-models/alias", json={"name": "fraud", "alias": "champion"}
    )
    assert r.status_code == 200
    assert server.store.get_registered_model("fraud").aliases == {}
    r = _post(
        server,
        "/model-versions/transition-stage",
        {"name": "fraud", "version": "2", "stage": "Archived"},
    )
    assert r.json()["model_version"]["current_stage"] == "Archived"
    assert server.store.get_model_version("fraud", 2).status.value == "ARCHIVED"
    actions = [e.action for e in server.store.get_audit_log("fraud")]
    assert len(actions) >= 5

    r = server.client.request("DELETE", API + "/registered-models/delete", json={"name": "fraud"})
    assert (r.status_code, r.json()["error_code"]) == (501, "NOT_IMPLEMENTED")
    assert server.store.get_registered_model("fraud").name == "fraud"
    r = _post(
        server,
        "/model-versions/transition-stage",
        {"name": "fraud", "version": "1", "stage": "Production"},
    )
    assert r.status_code == 501


def test_the_mlflow_routes_are_in_the_openapi_schema(server: LiveServer) -> None:
    from fastapi.routing import APIRoute

    from mloop.server import _mlflow_artifacts, _mlflow_registry, _mlflow_tracking

    spec = server.client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    routers = (_mlflow_tracking.router, _mlflow_registry.router, _mlflow_artifacts.router)
    served = {
        (m, r.path_format)
        for router in routers
        for r in router.routes
        if isinstance(r, APIRoute) and r.include_in_schema
        for m in r.methods
    }
    assert ("POST", "/api/2.0/mlflow/runs/log-batch") in served
    assert ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{path}") in served
    assert served <= documented
