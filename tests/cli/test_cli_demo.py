"""``mloop demo``: validates data, trains and tracks models, gates the best into @champion,
previews drift, serves the champion, runs the closed loop against it (a promotion, then a gate
failure with an alert), compares the runs and checks the server."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from mloop.cli._demo import CANDIDATES, plan
from mloop.cli._demo_closed_loop import LOOP_NAME, WINDOW_MS, start_ms
from mloop.cli._demo_loop import DRIFT_REPORT, HOLDOUT_DATASET, MODEL_NAME, TRAIN_DATASET

pytest.importorskip("sklearn")


@pytest.mark.slow
def test_demo_without_server(cli: Any) -> None:
    result = cli("demo", "--no-server", "--runs", "3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "★" in out
    assert 'mloop runs list --experiment demo --order-by "metrics.roc_auc desc"' in out
    assert "mloop server" in out
    assert "server check" not in out
    assert "trained 3 models" in result.stderr

    listed = cli("runs", "list", "-e", "demo", "-o", "metrics.roc_auc desc", "--json")
    runs = json.loads(listed.stdout)["runs"]
    assert len(runs) == 3
    assert {r["data"]["params"]["model"] for r in runs} == {
        "logistic_regression",
        "random_forest",
        "gradient_boosting",
    }
    best = runs[0]
    # The table printed first the run the store ranks first, and marked it.
    star_line = next(line for line in out.splitlines() if "★" in line)
    assert best["info"]["run_id"][:8] in star_line
    for run in runs:
        assert run["info"]["status"] == "FINISHED"
        metrics = run["data"]["metrics"]
        for key in ("accuracy", "roc_auc", "f1", "log_loss", "fit_time_s"):
            assert key in metrics
        assert 0.9 < metrics["roc_auc"]["value"] <= 1.0
        assert len(run["data"]["tags"]["dataset.sha256"]) == 64

    from mloop.data import list_datasets
    from mloop.models import load
    from mloop.registry import Registry
    from mloop.store import SqlStore

    store = SqlStore(cli.db_uri, cli.artifacts)
    try:
        gb = next(r for r in runs if r["data"]["params"]["model"] == "gradient_boosting")
        history = store.get_metric_history(gb["info"]["run_id"], "val_log_loss")
        assert len(history) == int(gb["data"]["params"]["n_estimators"])
        assert history.steps[0] == 1
        # Every run is an mloop model, registered, with the datasets it read.
        files = [a.path for a in store.list_artifacts(best["info"]["run_id"], "model")]
        assert "model/mloop-model.yaml" in files
        datasets = {(d.name, d.version) for d in list_datasets(store=store)}
        assert datasets == {(TRAIN_DATASET, 1), (HOLDOUT_DATASET, 1)}
        for run in runs:
            inputs = store.get_run_inputs(run["info"]["run_id"])
            assert sorted((i.dataset_name, i.context) for i in inputs) == [
                (HOLDOUT_DATASET, "eval"),
                (TRAIN_DATASET, "train"),
            ]
        registry = Registry(store)
        versions = registry.list_versions(MODEL_NAME)
        assert sorted(v.version for v in versions) == [1, 2, 3]
        by_run = {v.run_id: v.version for v in versions}
        # With three models the best by AUC (gradient boosting) loses more than 0.01 accuracy
        # to the baseline: the gate fails, and @champion stays on the baseline v1.
        best_version = by_run[best["info"]["run_id"]]
        assert best["data"]["params"]["model"] == "gradient_boosting"
        assert registry.resolve(f"models:/{MODEL_NAME}@challenger").version == best_version
        assert registry.resolve(f"models:/{MODEL_NAME}@champion").version == 1
        audit = registry.history(MODEL_NAME)
        moves = [
            e.after or {}
            for e in audit
            if e.action == "set_alias" and (e.after or {}).get("alias") == "champion"
        ]
        assert [after["version"] for after in moves] == [1]  # the baseline, never moved
        gate_reports = [
            e
            for e in audit
            if e.version == best_version and "Model gate failed" in json.dumps(e.after)
        ]
        assert gate_reports, "the gate report is not in the audit log"
        model = load(f"models:/{MODEL_NAME}@champion")
        assert model.reference_profile() is not None
        assert [loop.name for loop in store.list_loops()] == []  # no server, no loop
    finally:
        store.close()

    assert "p99_latency_ms <= 250" in out
    assert "@champion not moved: stays v1" in out
    assert f"mloop models history {MODEL_NAME}" in out
    report = cli.home / DRIFT_REPORT
    assert report.is_file() and "mean radius" in report.read_text(encoding="utf-8")
    assert f"drift report: {report.resolve()}" in out
    for line in ("validated data", "gated demo-classifier", "monitoring preview"):
        assert line in result.stderr


@pytest.mark.slow
def test_demo_json_with_server_check(cli: Any) -> None:
    result = cli("demo", "--runs", "2", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["experiment"]["name"] == "demo"
    assert len(body["runs"]) == 2
    assert body["best_run_id"] == body["runs"][0]["run_id"]
    aucs = [r["metrics"]["roc_auc"] for r in body["runs"]]
    assert aucs == sorted(aucs, reverse=True)
    assert body["server"]["healthz"] == "ok"
    assert body["server"]["runs_visible"] == 2
    assert body["dataset"]["test_rows"] + body["dataset"]["train_rows"] == 569
    data = body["data"]
    assert data["train"]["uri"] == f"datasets:/{TRAIN_DATASET}/1"
    assert data["holdout"]["rows"] == body["dataset"]["test_rows"]
    checks = data["checks"]
    assert checks["total"] == checks["passed"] + checks["failed"] > 0
    registry = body["registry"]
    assert registry["baseline_set_as_champion"] is True
    assert registry["champion_before"] == 1
    assert [r["rule"] for r in registry["gate"]["rules"]][-1] == "p99_latency_ms <= 250"
    assert registry["gate"]["promotion"]["version"] == registry["challenger_version"]
    assert {r["model_version"] for r in body["runs"]} == {1, 2}
    drift = body["drift"]
    assert "mean radius" in drift["drifted_columns"]
    assert drift["report"] == str((cli.home / DRIFT_REPORT).resolve())
    # The champion answered every held-out row over HTTP; the log holds each with its label.
    serving = body["serving"]
    assert serving["model_uri"] == "models:/demo-classifier@champion"
    assert serving["version"] == str(registry["champion"])
    assert serving["requests"] == serving["logged"] == body["dataset"]["test_rows"]
    accuracy = next(r for r in body["runs"] if r["model_version"] == registry["champion"])
    assert serving["accuracy_from_feedback"] == pytest.approx(accuracy["metrics"]["accuracy"])
    assert 0 < serving["latency_ms"]["p50"] <= serving["latency_ms"]["p99"]

    # The closed loop, read back from the store: pass 1 promoted its retrain through the canary
    # steps, pass 2's retrain failed the gate and alerted the webhook; the champion stayed.
    loop = body["loop"]
    _assert_closed_loop(cli, loop, champion_before=registry["champion"])
    assert "PROMOTED" in result.stderr and "GATE_FAILED" in result.stderr
    assert "webhook received" in result.stderr


def _assert_closed_loop(cli: Any, loop: dict[str, Any], *, champion_before: int) -> None:
    from mloop.loop import load_loop
    from mloop.store import SqlStore

    store = SqlStore(cli.db_uri, cli.artifacts)
    try:
        record = store.get_loop(LOOP_NAME)
        assert record.state == "IDLE"
        assert record.lease_owner is None  # given back
        history = store.list_loop_transitions(LOOP_NAME)
        states = [t.to_state for t in history]
        promoted = states.index("PROMOTED")
        assert states[: promoted + 2] == [
            "MONITORING",
            "RETRAINING",
            "RETRAINING",
            "GATING",
            "ROLLING_OUT",
            "ROLLING_OUT",
            "ROLLING_OUT",
            "PROMOTED",
            "IDLE",
        ]
        assert states[promoted + 2 :] == [
            "MONITORING",
            "RETRAINING",
            "RETRAINING",
            "GATING",
            "GATE_FAILED",
            "IDLE",
        ]
        assert "drift" in history[1].evidence["triggers"]
        # The rollout went 25 -> 50 -> 100 with live analysis on each step.
        steps = [t.evidence for t in history if t.to_state in ("ROLLING_OUT", "PROMOTED")]
        assert [e.get("weight") for e in steps[1:]] == [25.0, 50.0, 100.0]
        assert all(r["passed"] for e in steps[1:] for r in e["rules"])
        audit = [e for e in store.get_audit_log(MODEL_NAME) if e.actor == "mloop-loop"]
        assert [e.action for e in audit].count("deployment.set") == 3
        new = history[promoted].evidence["analysis"]["canary"]
        assert new["online.accuracy"] > steps[1]["analysis"]["champion"]["online.accuracy"]

        registry_champion = store.get_model_version_by_alias(MODEL_NAME, "champion").version
        challenger_1 = history[3].evidence["version"]
        challenger_2 = history[promoted + 5].evidence["version"]
        assert registry_champion == challenger_1 != champion_before
        assert store.get_model_version_by_alias(MODEL_NAME, "challenger").version == challenger_2
        failed = history[promoted + 6]
        assert failed.evidence["gate"]["passed"] is False
        assert store.get_deployment(MODEL_NAME).spec is None
        alerts = store.list_alert_deliveries(LOOP_NAME)
        assert {(a.condition, a.status) for a in alerts} == {
            ("drift", "delivered"),
            ("gate_failed", "delivered"),
        }
    finally:
        store.close()

    assert loop["champion_before"] == champion_before
    assert loop["champion"] == registry_champion
    assert [p["outcome"] for p in loop["passes"]] == ["PROMOTED", "GATE_FAILED"]
    # After the failed gate every request is still answered by the promoted champion.
    assert loop["passes"][1]["served_after"] == {str(registry_champion): 10}
    assert any("failed the gate" in text for text in loop["webhook_received"])
    # The files the loop ran from are left for the user, and load as they are.
    spec = load_loop(loop["files"]["retrain"])
    assert (spec.name, spec.model) == (LOOP_NAME, MODEL_NAME)


@pytest.mark.slow
def test_demo_twice_reuses_the_datasets_and_gates_against_the_last_champion(cli: Any) -> None:
    first = json.loads(cli("demo", "--no-server", "--runs", "2", "--json").stdout)
    second_result = cli("demo", "--no-server", "--runs", "2", "--json")
    assert second_result.exit_code == 0, second_result.output
    second = json.loads(second_result.stdout)
    # The same content registers as the same dataset version; model versions go on counting.
    assert second["data"]["train"] == first["data"]["train"]
    assert second["data"]["holdout"]["version"] == 1
    assert {r["model_version"] for r in second["runs"]} == {3, 4}
    assert second["registry"]["baseline_set_as_champion"] is False
    assert second["registry"]["champion_before"] == first["registry"]["champion"]
    assert second["registry"]["gate"]["rules"][1]["champion"] is not None


@pytest.mark.slow
def test_a_champion_the_loop_retrained_gives_way_to_the_baseline(cli: Any) -> None:
    from mloop.store import SqlStore

    first = json.loads(cli("demo", "--no-server", "--runs", "1", "--json").stdout)
    champion = first["registry"]["champion"]
    store = SqlStore(cli.db_uri, cli.artifacts)
    try:  # as the loop tags the versions it trains (on drifted traffic)
        store.set_model_version_tag(MODEL_NAME, champion, "mloop.loop", LOOP_NAME)
    finally:
        store.close()
    result = cli("demo", "--no-server", "--runs", "1", "--json")
    assert result.exit_code == 0, result.output
    registry = json.loads(result.stdout)["registry"]
    # This demo's loop must find the drift again: it starts from the bundled data's model.
    assert registry["replaced_loop_champion"] == champion
    assert registry["baseline_set_as_champion"] is True
    assert registry["champion_before"] == registry["baseline_version"] == champion + 1


def test_the_demo_clock_starts_after_an_earlier_demo_and_its_cooldown(tmp_path: Any) -> None:
    from mloop.store import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'mloop.db'}", str(tmp_path / "artifacts"))
    wall = 1_900_000_000_000
    try:
        # No loop yet: one window after the wall clock (traffic logged before stays out of it).
        assert start_ms(store, wall) == wall + WINDOW_MS
        store.ensure_loop(LOOP_NAME, MODEL_NAME, {}, now=wall)
        store.acquire_loop_lease(LOOP_NAME, "demo", ttl_ms=600_000, now=wall)
        later = wall + 3_600_000
        store.transition_loop(
            LOOP_NAME,
            owner="demo",
            expected_seq=0,
            to_state="IDLE",
            context={"cooldown_until": later},
            reason="an earlier demo",
            evidence={},
            actor="test",
            now=wall + 60_000,
        )
        # An earlier demo's clock ran ahead of the wall clock: start after its cooldown.
        assert start_ms(store, wall) == later + WINDOW_MS
        store.transition_loop(
            LOOP_NAME,
            owner="demo",
            expected_seq=1,
            to_state="ROLLING_OUT",
            context={},
            reason="interrupted",
            evidence={},
            actor="test",
            now=wall + 120_000,
        )
        reason = start_ms(store, wall)
        assert isinstance(reason, str) and "ROLLING_OUT" in reason
    finally:
        store.close()


def test_demo_without_scikit_learn(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    result = cli("demo", "--no-server")
    assert result.exit_code == 1
    assert "pip install 'mloop[sklearn]'" in result.stderr


def test_plan_covers_every_family_first() -> None:
    three = plan(3)
    assert {t.family for t in three} == {f for f, _ in CANDIDATES}
    many = plan(len(CANDIDATES) + 2)
    assert len({t.name for t in many}) == len(many)  # repeats get another seed and name
    assert many[-1].seed == 43
