"""Train a churn model on the tour's data, track the run and register the model.

    python train.py                                 # gradient boosting, depth 3
    python train.py --max-depth 6 --learning-rate 0.05

Each call is one run in the experiment ``churn`` (params, training and holdout metrics, the
train dataset as an input, the model with its signature and an input example) and registers
the model as the next version of ``churn``. ``objective`` is the same training for
``mloop tune train.py:objective --space space.yaml``.
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import mloop

TARGET = "churned"
CATEGORICAL = ["plan", "region"]
NUMERIC = ["age", "tenure_months", "monthly_charges", "support_calls"]
FEATURES = CATEGORICAL + NUMERIC  # not customer_id (an identifier), nor gender (fairness only)


def build(max_depth: int = 3, learning_rate: float = 0.1, max_iter: int = 100) -> Pipeline:
    """One-hot encode the plan and region, then gradient-boosted trees."""
    encode = ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)],
        remainder="passthrough",
    )
    trees = HistGradientBoostingClassifier(
        max_depth=max_depth, learning_rate=learning_rate, max_iter=max_iter, random_state=0
    )
    return Pipeline([("encode", encode), ("model", trees)])


def scores(model: Pipeline, frame: pd.DataFrame) -> dict[str, float]:
    proba = model.predict_proba(frame[FEATURES])[:, 1]
    return {
        "accuracy": accuracy_score(frame[TARGET], proba >= 0.5),
        "roc_auc": roc_auc_score(frame[TARGET], proba),
        "log_loss": log_loss(frame[TARGET], proba),
    }


def objective(params: dict[str, Any], trial: Any) -> float:
    """The holdout log loss of one set of params: ``mloop tune`` minimizes it."""
    train, holdout = pd.read_parquet("train.parquet"), pd.read_parquet("holdout.parquet")
    model = build(**params).fit(train[FEATURES], train[TARGET])
    trial.log_model(model, input_example=holdout[FEATURES].head(5))
    return scores(model, holdout)["log_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description="Train, track and register a churn model.")
    parser.add_argument("--max-depth", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--max-iter", type=int, default=100)
    args = parser.parse_args()
    params = {
        "max_depth": args.max_depth,
        "learning_rate": args.learning_rate,
        "max_iter": args.max_iter,
    }

    train, holdout = pd.read_parquet("train.parquet"), pd.read_parquet("holdout.parquet")
    mloop.set_experiment("churn")
    with mloop.start_run(run_name=f"hgb-depth{args.max_depth}") as run:
        mloop.log_params({"model": "hist_gradient_boosting", **params})
        mloop.log_input(mloop.data.register(train, "churn-train"), context="train")
        model = build(**params).fit(train[FEATURES], train[TARGET])
        mloop.log_metrics({f"train_{k}": v for k, v in scores(model, train).items()})
        mloop.log_metrics(scores(model, holdout))
        info = mloop.models.log_model(
            model,
            "model",
            input_example=holdout[FEATURES].head(5),
            registered_model_name="churn",
        )
    auc = scores(model, holdout)["roc_auc"]
    print(
        f"run {run.run_id[:8]}: holdout roc_auc {auc:.3f}; "
        f"registered churn version {info.registered_model_version.version}"
    )


if __name__ == "__main__":
    main()
