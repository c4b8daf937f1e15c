"""``mloop evaluate``: table, JSON, HTML report, logging, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def model_and_data(tmp_path: Path) -> tuple[str, Path]:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "region": rng.choice(["eu", "us"], size=n),
            "gender": rng.choice(["f", "m"], size=n),
        }
    )
    df["y"] = (df["x1"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    model = LogisticRegression().fit(df[["x1"]], df["y"])
    uri = mloop.models.save(model, tmp_path / "m", input_example=df[["x1"]].head(3)).model_uri
    path = tmp_path / "test.parquet"
    df.to_parquet(path)
    return uri, path


def test_json_and_html(cli: Any, model_and_data: tuple[str, Path], tmp_path: Path) -> None:
    uri, data = model_and_data
    report = tmp_path / "report.html"
    result = cli(
        "evaluate",
        uri,
        "--data",
        str(data),
        "--target",
        "y",
        "--slice",
        "region",
        "--sensitive",
        "gender",
        "--json",
        "--html",
        str(report),
        "--no-latency",
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["task"] == "classification"
    assert 0.5 < body["metrics"]["accuracy"] <= 1
    assert set(body["slices"]["region"]) == {"eu", "us"}
    assert "demographic_parity_difference" in body["fairness"]["gender"]
    assert body["run_id"]
    assert f"logged to run {body['run_id']}" in result.stderr
    text = report.read_text()
    assert text.startswith("<!doctype html>")
    assert text.count("<svg") >= 4  # ROC, PR, calibration, confusion matrix, slice bars
    assert "Confusion matrix" in text
    assert "<script" not in text


def test_table_without_logging(cli: Any, model_and_data: tuple[str, Path]) -> None:
    uri, data = model_and_data
    result = cli("evaluate", uri, "-d", str(data), "-t", "y", "--slice", "region", "--no-log")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for word in ("accuracy", "roc_auc", "p99_latency_ms", "confusion matrix", "slices by region"):
        assert word in out
    assert "logged to run" not in result.stderr


def test_missing_target_is_one_error_line(cli: Any, model_and_data: tuple[str, Path]) -> None:
    uri, data = model_and_data
    result = cli("evaluate", uri, "--data", str(data), "--target", "label", "--no-log")
    assert result.exit_code == 1
    assert "error: target column 'label' is not in the data" in result.stderr
    assert "x1, region, gender, y" in result.stderr
    assert result.stdout == ""
