"""Run by the importer tests with the real MLflow client: fills the MLflow store named on the
command line (a tracking URI) and prints one JSON object naming what it made."""

from __future__ import annotations

import json
import sys

import mlflow
import mlflow.sklearn
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression


def main(uri: str, gap: bool = True) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()
    mlflow.set_experiment("churn")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] > 0).astype(int)
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"C": 1.0, "solver": "lbfgs"})
        for step in range(3):
            mlflow.log_metric(
                "loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step
            )
        mlflow.set_tag("team", "growth")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("acc", 0.5)
        mlflow.log_text("hello", "notes/readme.txt")
        info = mlflow.sklearn.log_model(
            LogisticRegression().fit(x, y), name="model", registered_model_name="churn-model"
        )
    # a gap in MLflow's version numbers: register twice more, delete the middle one
    notes = f"{parent.info.artifact_uri}/notes"
    v2 = client.create_model_version("churn-model", notes, run_id=parent.info.run_id)
    v3 = client.create_model_version("churn-model", notes, run_id=parent.info.run_id)
    if gap:
        client.delete_model_version("churn-model", v2.version)
    client.set_registered_model_alias("churn-model", "champion", info.registered_model_version)
    client.set_registered_model_alias("churn-model", "challenger", v3.version)
    client.update_registered_model("churn-model", description="predicts churn")
    json.dump(
        {
            "parent": parent.info.run_id,
            "child": child.info.run_id,
            "model_id": info.model_id,
            "versions": [str(info.registered_model_version), str(v3.version)],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    # --no-gap: for servers that keep every version (mloop's registry is append-only)
    main(sys.argv[1], gap="--no-gap" not in sys.argv)
