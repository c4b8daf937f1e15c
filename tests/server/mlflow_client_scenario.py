"""Run by tests/server/test_mlflow_api.py with MLFLOW_TRACKING_URI pointing at an mloop server:
the real MLflow client, unchanged, logs, registers, searches and loads a model back. Prints one
JSON object with what it saw."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression


def main() -> None:
    out: dict[str, object] = {}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    exp = mlflow.set_experiment("mlflow-compat")
    out["experiment_id"] = exp.experiment_id
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_params({"C": 0.5, "solver": "lbfgs"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("auc", 0.91)
        mlflow.set_tag("team", "fraud")
        with tempfile.TemporaryDirectory() as tmp:
            note = Path(tmp, "notes.txt")
            note.write_text("hello")
            mlflow.log_artifact(str(note), artifact_path="docs")
        model = LogisticRegression(C=0.5).fit(x, y)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name="fraud", input_example=x[:2]
        )
        out["run_id"] = run.info.run_id
        out["model_id"] = info.model_id
        out["registered_version"] = info.registered_model_version
    with mlflow.start_run(run_name="second"):
        mlflow.log_params({"C": 2.0, "solver": "lbfgs"})
        mlflow.log_metric("auc", 0.80)
    client = MlflowClient()
    client.set_registered_model_alias("fraud", "champion", info.registered_model_version)
    loaded = mlflow.sklearn.load_model("models:/fraud@champion")
    out["predictions_equal"] = bool((loaded.predict(x) == model.predict(x)).all())
    pyfunc = mlflow.pyfunc.load_model("models:/fraud/1")
    out["pyfunc_rows"] = len(pyfunc.predict(x[:4]))
    found = mlflow.search_runs(
        [exp.experiment_id], "metrics.auc > 0.85 and params.solver = 'lbfgs'", output_format="list"
    )
    out["search_names"] = [r.info.run_name for r in found]
    ordered = client.search_runs([exp.experiment_id], order_by=["metrics.auc DESC"])
    out["ordered_names"] = [r.info.run_name for r in ordered]
    history = client.get_metric_history(out["run_id"], "loss")
    out["loss_steps"] = [m.step for m in history]
    got = client.get_run(out["run_id"])
    out["params"] = got.data.params
    out["tags_team"] = got.data.tags.get("team")
    out["artifacts"] = sorted(a.path for a in client.list_artifacts(out["run_id"]))
    out["docs_files"] = sorted(a.path for a in client.list_artifacts(out["run_id"], "docs"))
    mv = client.get_model_version_by_alias("fraud", "champion")
    out["alias_version"] = mv.version
    out["model_versions"] = [v.version for v in client.search_model_versions("name = 'fraud'")]
    try:
        client.get_run("0" * 32)
    except MlflowException as exc:
        out["missing_run_error"] = exc.error_code
    try:
        client.log_param(out["run_id"], "C", 99)
    except MlflowException as exc:
        out["param_change_error"] = exc.error_code
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
