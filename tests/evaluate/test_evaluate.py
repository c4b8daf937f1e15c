"""``mloop.evaluate.evaluate``: inputs, slices, errors, logging and the lookup gates use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.errors import InvalidEvaluationInput, SignatureMismatch
from mloop.evaluate import EvaluationResult, evaluate


def test_binary_classification(binary_model: str, binary_data: pd.DataFrame) -> None:
    result = evaluate(binary_model, binary_data, target="y", log=False)
    assert result.task == "classification"
    assert result.n_rows == len(binary_data)
    for name in (
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier_score",
        "calibration_error",
        "p50_latency_ms",
        "p99_latency_ms",
        "batch_p50_latency_ms",
        "batch_p99_latency_ms",
    ):
        assert name in result.metrics, name
    assert result.metrics["accuracy"] > 0.7
    assert result.metrics["p50_latency_ms"] <= result.metrics["p99_latency_ms"]
    assert result.confusion_matrix is not None
    assert result.confusion_matrix.labels == ["0", "1"]
    assert set(result.per_class) == {"0", "1"}
    assert set(result.curves) == {"roc", "pr", "calibration"}
    assert result.run_id is None
    assert result.lookup("class[1].recall") == result.per_class["1"]["recall"]
    assert result.lookup("accuracy") == result.metrics["accuracy"]
    assert result.lookup("no_such_metric") is None
    again = EvaluationResult.model_validate_json(result.to_json())
    assert again == result
    assert json.loads(result.to_json())["metrics"]["accuracy"] == result.metrics["accuracy"]


def test_multiclass(multiclass_model: str, multiclass_data: pd.DataFrame) -> None:
    result = evaluate(
        multiclass_model,
        multiclass_data,
        target="label",
        log=False,
        latency=False,
        sensitive=["x2"],
    )
    assert {"roc_auc", "pr_auc", "brier_score", "log_loss"} <= set(result.metrics)
    assert "p50_latency_ms" not in result.metrics
    assert result.confusion_matrix is not None
    assert result.confusion_matrix.labels == ["a", "b", "c"]
    assert result.curves == {}
    assert result.fairness == {}
    assert any("binary" in note for note in result.notes)


def test_regression_from_parquet_and_csv(
    regression_model: str, regression_data: pd.DataFrame, tmp_path: Path
) -> None:
    regression_data.to_parquet(tmp_path / "d.parquet")
    regression_data.to_csv(tmp_path / "d.csv", index=False)
    a = evaluate(
        regression_model,
        tmp_path / "d.parquet",
        target="y",
        task="regression",
        log=False,
        latency=False,
        slices=["size"],
    )
    b = evaluate(
        regression_model,
        str(tmp_path / "d.csv"),
        target="y",
        task="regression",
        log=False,
        latency=False,
    )
    c = evaluate(
        regression_model,
        pa.Table.from_pandas(regression_data),
        target="y",
        task="regression",
        log=False,
        latency=False,
    )
    assert a.metrics["mae"] == pytest.approx(b.metrics["mae"]) == pytest.approx(c.metrics["mae"])
    assert {"mae", "rmse", "r2", "mape", "residual_q05", "residual_q95"} <= set(a.metrics)
    assert a.metrics["r2"] > 0.9
    assert any("mape: 3 of" in note for note in a.notes)
    assert a.confusion_matrix is None
    # `size` has 40 values: quantile bins, the last one closed.
    labels = list(a.slices["size"])
    assert len(labels) == 4
    assert labels[0].startswith("[0, ")
    assert labels[0].endswith(")")
    assert labels[-1].endswith("]")
    assert sum(s.n_rows for s in a.slices["size"].values()) == len(regression_data)
    assert a.lookup(f"slice[size={labels[0]}].mae") == a.slices["size"][labels[0]].metrics["mae"]
    assert a.lookup(f"slice[size={labels[-1]}].n_rows") == a.slices["size"][labels[-1]].n_rows


def test_slices_by_value_and_empty_slice(binary_model: str, binary_data: pd.DataFrame) -> None:
    data = binary_data.copy()
    data["region"] = pd.Categorical(data["region"], categories=["apac", "eu", "us", "mars"])
    result = evaluate(binary_model, data, target="y", slices=["region"], log=False, latency=False)
    eu = result.slices["region"]["eu"]
    mask = data["region"] == "eu"
    assert eu.n_rows == int(mask.sum())
    from sklearn.metrics import accuracy_score

    from mloop.models import load

    pred = np.asarray(load(binary_model).predict(data.loc[mask, ["x1", "x2"]])).ravel()
    assert eu.metrics["accuracy"] == pytest.approx(accuracy_score(data.loc[mask, "y"], pred))
    assert result.lookup("slice[region=eu].accuracy") == eu.metrics["accuracy"]
    mars = result.slices["region"]["mars"]
    assert mars.n_rows == 0
    assert mars.metrics == {}
    assert result.lookup("slice[region=mars].accuracy") is None
    assert result.lookup("slice[region=mars].n_rows") == 0.0
    assert result.lookup("slice[region=atlantis].accuracy") is None
    assert result.lookup("slice[nocolumn=eu].accuracy") is None


def test_missing_target_lists_columns(binary_model: str, binary_data: pd.DataFrame) -> None:
    with pytest.raises(InvalidEvaluationInput, match=r"'label' is not in the data.*x1, x2"):
        evaluate(binary_model, binary_data, target="label", log=False)


def test_missing_slice_column(binary_model: str, binary_data: pd.DataFrame) -> None:
    with pytest.raises(InvalidEvaluationInput, match="'country'"):
        evaluate(binary_model, binary_data, target="y", slices=["country"], log=False)


def test_unseen_labels_are_named(binary_model: str, binary_data: pd.DataFrame) -> None:
    data = binary_data.copy()
    data.loc[:4, "y"] = 7
    with pytest.raises(
        InvalidEvaluationInput, match=r"never saw: 7; the model's classes are: 0, 1"
    ):
        evaluate(binary_model, data, target="y", log=False)


def test_signature_mismatch_surfaces(binary_model: str, binary_data: pd.DataFrame) -> None:
    with pytest.raises(SignatureMismatch, match="x2"):
        evaluate(binary_model, binary_data.drop(columns=["x2"]), target="y", log=False)


def test_regression_needs_numeric_target(
    regression_model: str, regression_data: pd.DataFrame
) -> None:
    data = regression_data.assign(y=regression_data["y"].map(lambda v: f"{v:.1f}"))
    with pytest.raises(InvalidEvaluationInput, match="numeric target"):
        evaluate(regression_model, data, target="y", task="regression", log=False)


def test_unreadable_data(binary_model: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidEvaluationInput, match="no such file"):
        evaluate(binary_model, tmp_path / "nope.csv", target="y", log=False)
    (tmp_path / "d.json").write_text("{}")
    with pytest.raises(InvalidEvaluationInput, match="unknown file type"):
        evaluate(binary_model, tmp_path / "d.json", target="y", log=False)


def test_logs_run_and_links_model_version(
    mloop_home: Path, binary_model: str, binary_data: pd.DataFrame
) -> None:
    from mloop.registry import Registry
    from mloop.tracking import Client

    client = Client()
    registry = Registry(client.store)
    version = registry.register_model(binary_model, "churn")
    registry.set_alias("churn", "challenger", version.version)
    result = evaluate("models:/churn@challenger", binary_data, target="y", latency=False)
    assert result.run_id is not None
    run = client.get_run(result.run_id)
    assert run.data.tags["mloop.evaluation.model_uri"] == "models:/churn@challenger"
    assert run.data.tags["mloop.evaluation.data"] == "DataFrame"
    assert run.data.metrics["accuracy"].value == pytest.approx(result.metrics["accuracy"])
    assert "evaluation.json" in [a.path for a in client.list_artifacts(result.run_id)]
    got = client.download_artifacts(result.run_id, "evaluation.json", mloop_home / "dl")
    stored = EvaluationResult.model_validate_json(Path(got).read_text())
    assert stored == result
    tagged = registry.store.get_model_version("churn", version.version)
    assert tagged.tags["mloop.evaluation_run"] == result.run_id


def test_datasets_uri(mloop_home: Path, binary_model: str, binary_data: pd.DataFrame) -> None:
    import mloop.data

    ds = mloop.data.register(binary_data, "eval-set")
    result = evaluate(binary_model, ds.uri, target="y", log=True, latency=False)
    assert result.data == ds.uri
    assert result.n_rows == len(binary_data)


def test_mloop_evaluate_is_callable(binary_model: str, binary_data: pd.DataFrame) -> None:
    import mloop

    result = mloop.evaluate(binary_model, binary_data, target="y", log=False, latency=False)
    assert result.lookup("recall") == result.per_class[result.confusion_matrix.labels[1]]["recall"]
    assert mloop.evaluate.gate is not None
