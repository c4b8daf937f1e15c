"""``mloop demo``: trains scikit-learn models, tracks them, compares them, checks the server."""

from __future__ import annotations

import json
import pickle
import sys
import time
from typing import Any

import pytest

from mloop.cli._demo import CANDIDATES, plan

pytest.importorskip("sklearn")


@pytest.mark.slow
def test_demo_without_server(cli: Any) -> None:
    started = time.perf_counter()
    result = cli("demo", "--no-server", "--runs", "3")
    elapsed = time.perf_counter() - started
    print(f"mloop demo --no-server --runs 3: {elapsed:.1f} s")
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

    from mloop.store import SqlStore

    store = SqlStore(cli.db_uri, cli.artifacts)
    try:
        gb = next(r for r in runs if r["data"]["params"]["model"] == "gradient_boosting")
        history = store.get_metric_history(gb["info"]["run_id"], "val_log_loss")
        assert len(history) == int(gb["data"]["params"]["n_estimators"])
        assert history.steps[0] == 1
        files = [a.path for a in store.list_artifacts(best["info"]["run_id"], "model")]
        assert files == ["model/model.pkl"]
        with store.open_artifact(best["info"]["run_id"], "model/model.pkl") as fh:
            model = pickle.load(fh)
        assert hasattr(model, "predict_proba")
    finally:
        store.close()


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
