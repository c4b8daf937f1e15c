"""``evaluate``: run a model over labelled data and measure everything a gate may ask about."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mloop._core._tags import (
    TAG_EVALUATION_DATA,
    TAG_EVALUATION_MODEL_URI,
    TAG_VERSION_EVALUATION_RUN,
)
from mloop.errors import InvalidEvaluationInput, ModelError
from mloop.evaluate._result import ConfusionMatrix, EvaluationResult, SliceResult

__all__ = ["evaluate", "read_data"]

Task = Literal["classification", "regression"]
#: A numeric slice column with more distinct values than this is cut into quantile bins.
MAX_SLICE_VALUES = 10
RESULT_ARTIFACT = "evaluation.json"


def evaluate(
    model_uri: str,
    data: Any,
    *,
    target: str,
    task: Task = "classification",
    slices: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    quantile_bins: int = 4,
    log: bool = True,
    latency: bool = True,
    data_label: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Evaluate a model on labelled data.

    Args:
        model_uri: anything :func:`mloop.models.load` takes (a folder, ``runs:/``,
            ``models:/name@alias``).
        data: a pandas DataFrame, a pyarrow Table, a Parquet or CSV path, or a ``datasets:/``
            URI; the ``target`` column holds the true values, the other columns are the features.
        target: the label column.
        task: ``classification`` or ``regression``.
        slices: columns to break every metric down by: one slice per value, or per quantile bin
            (``[0, 12.5)``) for a numeric column with more than 10 values.
        sensitive: columns to measure group fairness over (binary classification).
        quantile_bins: how many quantile bins a numeric slice column is cut into.
        log: log the metrics to a new run (and the full result as ``evaluation.json``), and tag
            a ``models:/`` version with ``mloop.evaluation_run``.
        latency: measure single-row and batch prediction latency.
        data_label: how reports and the run name the data (default: the file or URI given,
            ``DataFrame`` or ``pyarrow.Table`` for a table in memory).
        progress: called with a short line as each phase starts (loading, predicting,
            slices, latency, logging), for a spinner.

    Returns:
        The :class:`EvaluationResult` (with ``run_id`` when logged).

    Raises:
        InvalidEvaluationInput: the target or a slice column is missing, the target holds labels
            the model never saw, or a regression target is not numeric.
        SignatureMismatch: the features do not match the model's signature.
        ModelNotFound, RegistryError: no model at ``model_uri``.

    Example::

        result = evaluate("models:/churn@challenger", "datasets:/churn-test@latest",
                          target="churned", slices=["region"], sensitive=["gender"])
        result.metrics["roc_auc"], result.lookup("slice[region=eu].recall")
    """
    from mloop.models import load

    if task not in ("classification", "regression"):
        raise InvalidEvaluationInput(f"unknown task {task!r}: use 'classification' or 'regression'")
    say = progress or _quiet
    frame, read_label = read_data(data)
    data_label = data_label or read_label
    _check_columns(frame, target, [*slices, *sensitive])
    say(f"loading {model_uri}")
    model = load(model_uri)
    y_true = frame[target].to_numpy()
    features = frame.drop(columns=[target])
    if task == "regression" and not pd.api.types.is_numeric_dtype(frame[target].dtype):
        raise InvalidEvaluationInput(
            f"target column {target!r} has type {frame[target].dtype}: regression needs a "
            "numeric target (use task='classification' for labels)",
            details={"column": target, "dtype": str(frame[target].dtype)},
        )
    say(f"predicting {len(features):,} rows")
    y_pred = _as_vector(model.predict(features))
    notes: list[str] = []
    fields: dict[str, Any] = {}
    if task == "classification":
        classes = _classes(model, y_true, y_pred)
        proba = _proba(model, features, classes, notes)
        ctx = _Classification(classes, proba)
        out = ctx.metrics(y_true, y_pred, np.ones(len(y_true), dtype=bool), curves=True)
        fields.update(
            metrics=out.metrics,
            per_class=out.per_class,
            confusion_matrix=ConfusionMatrix(labels=out.labels, matrix=out.matrix),
            curves=out.curves,
        )
        fields["fairness"] = _fairness(frame, sensitive, y_true, y_pred, classes, notes)

        def slice_metrics(mask: np.ndarray[Any, Any]) -> dict[str, float]:
            found: dict[str, float] = ctx.metrics(y_true[mask], y_pred[mask], mask).metrics
            return found

    else:
        from mloop.evaluate._metrics import regression_metrics

        metrics, reg_notes = regression_metrics(y_true, y_pred)
        fields["metrics"] = metrics
        notes.extend(reg_notes)
        if sensitive:
            notes.append("fairness: only measured for binary classification")

        def slice_metrics(mask: np.ndarray[Any, Any]) -> dict[str, float]:
            return regression_metrics(y_true[mask], y_pred[mask])[0]

    fields["slices"] = {
        col: {
            label: SliceResult(n_rows=int(mask.sum()), metrics=slice_metrics(mask))
            if mask.any()
            else SliceResult(n_rows=0)
            for label, mask in _slice_masks(frame[col], quantile_bins).items()
        }
        for col in slices
    }
    if latency:
        from mloop.evaluate._latency import measure_latency

        say("measuring latency")
        timings, latency_notes = measure_latency(model, features)
        fields["metrics"] = {**fields["metrics"], **timings}
        notes.extend(latency_notes)
    result = EvaluationResult(
        model_uri=str(model_uri),
        task=task,
        n_rows=len(frame),
        data=data_label,
        notes=notes,
        **fields,
    )
    if log:
        say("logging the evaluation")
        result = _log(result)
    return result


def _quiet(_: str) -> None:
    pass


# -- input -------------------------------------------------------------------------------------


def read_data(data: Any) -> tuple[pd.DataFrame, str]:
    """The table ``data`` names, and a short description of it for tags and reports."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), "DataFrame"
    try:
        import pyarrow as pa

        if isinstance(data, pa.Table):
            return data.to_pandas(), "pyarrow.Table"
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    if isinstance(data, str | os.PathLike):
        text = os.fspath(data)
        if text.startswith("datasets:/"):
            from mloop.data import load

            return load(text), text
        path = Path(text).expanduser()
        if not path.is_file():
            raise InvalidEvaluationInput(
                f"{text}: no such file (give a Parquet or CSV file, or a datasets:/ URI)"
            )
        suffix = path.suffix.lower()
        try:
            if suffix in (".parquet", ".pq"):
                return pd.read_parquet(path), text
            if suffix in (".csv", ".tsv"):
                return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ","), text
        except Exception as exc:  # pandas' and pyarrow's parser errors share no base
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InvalidEvaluationInput(f"{text}: cannot read it: {first}") from exc
        raise InvalidEvaluationInput(
            f"{text}: unknown file type {suffix or '(none)'}; use .parquet, .csv or .tsv"
        )
    raise InvalidEvaluationInput(
        "data must be a pandas DataFrame, a pyarrow Table, a Parquet or CSV path or a "
        f"datasets:/ URI, not {type(data).__name__}"
    )


def _check_columns(frame: pd.DataFrame, target: str, others: Sequence[str]) -> None:
    columns = [str(c) for c in frame.columns]
    if target not in frame.columns:
        raise InvalidEvaluationInput(
            f"target column {target!r} is not in the data; its columns are: {', '.join(columns)}",
            details={"column": target, "columns": columns},
        )
    if frame.empty:
        raise InvalidEvaluationInput("the data has no rows")
    missing = [c for c in others if c not in frame.columns]
    if missing:
        raise InvalidEvaluationInput(
            f"slice or sensitive column(s) {', '.join(map(repr, missing))} not in the data; "
            f"its columns are: {', '.join(columns)}",
            details={"columns": missing},
        )
    if frame[target].isna().any():
        raise InvalidEvaluationInput(
            f"target column {target!r} has {int(frame[target].isna().sum())} missing values: "
            "drop those rows first",
            details={"column": target},
        )


def _as_vector(predictions: Any) -> np.ndarray[Any, Any]:
    if isinstance(predictions, pd.DataFrame):
        predictions = predictions.iloc[:, 0]
    arr = np.asarray(predictions)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ModelError(
            f"the model's predictions have shape {arr.shape}: evaluate needs one value per row"
        )
    return arr


def _classes(model: Any, y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any]) -> list[Any]:
    known = getattr(model.unwrap(), "classes_", None)
    if known is None:
        return sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=str)
    classes = list(np.asarray(known).tolist())
    unseen = sorted(set(y_true.tolist()) - set(classes), key=str)
    if unseen:
        shown = ", ".join(repr(v) for v in unseen[:10]) + (" ..." if len(unseen) > 10 else "")
        raise InvalidEvaluationInput(
            f"the target holds {len(unseen)} label(s) the model never saw: {shown}; "
            f"the model's classes are: {', '.join(repr(c) for c in classes)}",
            details={"unseen": [str(v) for v in unseen], "classes": [str(c) for c in classes]},
        )
    return classes


def _proba(
    model: Any, features: pd.DataFrame, classes: list[Any], notes: list[str]
) -> np.ndarray[Any, Any] | None:
    try:
        proba = np.asarray(model.predict_proba(features), dtype=float)
    except ModelError as exc:
        notes.append(f"probability metrics skipped: {exc.message}")
        return None
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        notes.append(
            f"probability metrics skipped: predict_proba gave shape {proba.shape} for "
            f"{len(classes)} classes"
        )
        return None
    return proba


class _Classification:
    def __init__(self, classes: list[Any], proba: np.ndarray[Any, Any] | None) -> None:
        self.classes = classes
        self.proba = proba

    def metrics(
        self,
        y_true: np.ndarray[Any, Any],
        y_pred: np.ndarray[Any, Any],
        mask: np.ndarray[Any, Any],
        *,
        curves: bool = False,
    ) -> Any:
        from mloop.evaluate._metrics import classification_metrics

        proba = None if self.proba is None else self.proba[mask]
        return classification_metrics(y_true, y_pred, proba, self.classes, curves=curves)


def _fairness(
    frame: pd.DataFrame,
    sensitive: Sequence[str],
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    classes: list[Any],
    notes: list[str],
) -> dict[str, Any]:
    if not sensitive:
        return {}
    if len(classes) != 2:
        notes.append(
            f"fairness: only measured for binary classification (the model has {len(classes)} "
            "classes)"
        )
        return {}
    from mloop.evaluate._fairness import fairness

    return {col: fairness(y_true, y_pred, frame[col], classes[1]) for col in sensitive}


# -- slices ------------------------------------------------------------------------------------


def _slice_masks(column: pd.Series[Any], quantile_bins: int) -> dict[str, np.ndarray[Any, Any]]:
    """Value label -> row mask. Categories a categorical column declares but does not hold
    appear as empty slices."""
    values = column.dropna()
    is_numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    )
    masks: dict[str, np.ndarray[Any, Any]] = {}
    if is_numeric and values.nunique() > MAX_SLICE_VALUES:
        x = column.to_numpy(dtype=float, na_value=np.nan)
        edges = np.unique(
            np.quantile(values.to_numpy(dtype=float), np.linspace(0, 1, quantile_bins + 1))
        )
        for i in range(len(edges) - 1):
            lo, hi = edges[i], edges[i + 1]
            last = i == len(edges) - 2
            masks[f"[{_num(lo)}, {_num(hi)}{']' if last else ')'}"] = (x >= lo) & (
                (x <= hi) if last else (x < hi)
            )
    else:
        if isinstance(column.dtype, pd.CategoricalDtype):
            keys: list[Any] = list(column.cat.categories)
        else:
            keys = sorted(values.unique().tolist(), key=lambda v: (str(type(v)), v))
        for key in keys:
            masks[str(key)] = np.asarray(column == key, dtype=bool)
    nulls = column.isna().to_numpy()
    if nulls.any():
        masks["null"] = nulls
    return masks


def _num(value: float) -> str:
    return f"{float(value):g}"


# -- logging -----------------------------------------------------------------------------------


def _log(result: EvaluationResult) -> EvaluationResult:
    from mloop import tracking

    tags = {
        TAG_EVALUATION_MODEL_URI: result.model_uri[:5000],
        TAG_EVALUATION_DATA: result.data[:5000],
    }
    nested = tracking.active_run() is not None
    # Beside the model's own runs, unless a run is active or an experiment was chosen.
    experiment_id = None
    if not nested and tracking.current_experiment_id() is None:
        experiment_id = _experiment_of(result.model_uri)
    with tracking.start_run(
        run_name="evaluation", nested=nested, tags=tags, experiment_id=experiment_id
    ) as run:
        result = result.model_copy(update={"run_id": run.run_id})
        tracking.log_metrics(result.metrics)
        with tempfile.TemporaryDirectory(prefix="mloop-eval-") as tmp:
            path = Path(tmp) / RESULT_ARTIFACT
            path.write_text(result.to_json(), encoding="utf-8")
            tracking.log_artifact(path)
    if result.model_uri.startswith("models:/"):
        from mloop.registry import Registry

        registry = Registry()
        version = registry.resolve(result.model_uri)
        registry.store.set_model_version_tag(
            version.name,
            version.version,
            TAG_VERSION_EVALUATION_RUN,
            run.run_id,
            actor=registry.actor,
        )
    return result


def _experiment_of(model_uri: str) -> str | None:
    """The experiment of the run a ``models:/`` or ``runs:/`` model was logged from, if any."""
    from mloop.errors import MloopError
    from mloop.tracking import current_client

    try:
        if model_uri.startswith("models:/"):
            from mloop.registry import resolve

            run_id = resolve(model_uri).run_id
        elif model_uri.startswith("runs:/"):
            run_id = model_uri.removeprefix("runs:/").split("/", 1)[0]
        else:
            return None
        if not run_id:
            return None
        return current_client().get_run(run_id).info.experiment_id
    except MloopError:  # a model without a run, a run deleted since: the default experiment
        return None
