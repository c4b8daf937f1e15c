"""ONNX: a model run by onnxruntime, and ``to_onnx`` (scikit-learn -> ONNX with skl2onnx, checked
against the original's predictions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.errors import InvalidArgument, ModelError
from mloop.models._flavor import Flavor, ModelFiles, Predictor, Wrapper

__all__ = ["OnnxFlavor", "to_onnx"]

_ORT_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


class _OnnxPredictor(Wrapper):
    """Feeds a table or an array to an ``InferenceSession``.

    One input: the whole table or array, cast to the input's dtype. Several inputs: one column
    each, by name. ``predict`` returns the first output; ``predict_proba`` the output whose name
    says probabilities (skl2onnx's classifiers), when there is one.
    """

    def __init__(self, session: Any) -> None:
        self.model = session
        self._inputs = [(i.name, _ORT_DTYPES.get(i.type)) for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        self._label = outputs[:1]
        proba = next((o for o in outputs[1:] if "prob" in o.lower()), None)
        self._proba = [proba] if proba is not None else None
        self.predict_proba = self._predict_proba if proba is not None else None

    def _feed(self, data: Any) -> dict[str, Any]:
        if len(self._inputs) == 1:
            name, dtype = self._inputs[0]
            if isinstance(data, pd.DataFrame):
                return {name: data.to_numpy(dtype=dtype)}
            return {name: np.asarray(data, dtype=dtype)}
        if isinstance(data, pd.DataFrame):
            missing = [name for name, _ in self._inputs if name not in data.columns]
            if not missing:
                return {
                    name: data[name].to_numpy(dtype=dtype).reshape(-1, 1)
                    for name, dtype in self._inputs
                }
        names = ", ".join(name for name, _ in self._inputs)
        raise InvalidArgument(
            f"this ONNX model has {len(self._inputs)} inputs ({names}): pass a table with a "
            "column for each"
        )

    def predict(self, data: Any) -> Any:
        return self.model.run(self._label, self._feed(data))[0]

    def _predict_proba(self, data: Any) -> Any:
        assert self._proba is not None
        out = self.model.run(self._proba, self._feed(data))[0]
        if isinstance(out, list):  # a ZipMap output: one {label: probability} dict per row
            return pd.DataFrame(out).to_numpy()
        return out


class OnnxFlavor(Flavor):
    """An ``onnx.ModelProto`` (or its serialized bytes), run with onnxruntime on the CPU."""

    name = "onnx"
    packages = ("onnxruntime", "onnx")

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options)
        if isinstance(model, bytes | bytearray):
            data = bytes(model)
        elif callable(getattr(model, "SerializeToString", None)):
            data = model.SerializeToString()
        else:
            raise InvalidArgument(
                f"the onnx flavor saves an onnx.ModelProto or its bytes, not a "
                f"{type(model).__name__} (convert a scikit-learn model with mloop.models.to_onnx)"
            )
        (path / "model.onnx").write_bytes(data)
        return {"file": "model.onnx"}

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        import onnxruntime as ort

        session = ort.InferenceSession(
            str(self._file(files, options)), providers=["CPUExecutionProvider"]
        )
        return _OnnxPredictor(session)


def _example_matrix(input_example: Any) -> np.ndarray:
    if type(input_example).__module__.startswith("pyarrow"):
        input_example = input_example.to_pandas()
    if isinstance(input_example, list):
        input_example = pd.DataFrame(input_example)
    arr = input_example.to_numpy() if isinstance(input_example, pd.DataFrame) else input_example
    arr = np.asarray(arr)
    if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InvalidArgument(
            "to_onnx converts models on numeric tables: the input example must be a 2-D table "
            f"or array of numbers (got {arr.dtype} of shape {arr.shape})"
        )
    return arr.astype(np.float32)


def to_onnx(model: Any, input_example: Any, *, rtol: float = 1e-4, atol: float = 1e-5) -> Any:
    """Convert a fitted scikit-learn model (or Pipeline) on numeric inputs to ONNX with skl2onnx,
    and check that onnxruntime's predictions on the example agree with the model's.

    The ONNX model takes one float32 tensor ``X`` of shape ``(-1, n_features)``. For a
    classifier, the labels must be equal on every row and the probabilities within the
    tolerances; for a regressor, the predictions within them (float32 arithmetic).

    Args:
        model: a fitted scikit-learn estimator or Pipeline.
        input_example: rows to convert with and to compare on (DataFrame or 2-D array).
        rtol, atol: tolerances of the comparison (``numpy.allclose``).

    Returns:
        The ``onnx.ModelProto``; save it with ``mloop.models.save(onnx_model, path)``.

    Raises:
        InvalidArgument: the example is not a numeric table.
        ModelError: skl2onnx cannot convert the model, or the converted model's predictions
            disagree with the original's (the message says on how many rows and by how much).

    Example::

        onx = mloop.models.to_onnx(pipeline, X.head(100))
        mloop.models.save(onx, "model-onnx", input_example=X.head(5).astype("float32"))
    """
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    matrix = _example_matrix(input_example)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    classifier = is_classifier(final)
    options = {id(final): {"zipmap": False}} if classifier else None
    try:
        onx = convert_sklearn(
            model,
            initial_types=[("X", FloatTensorType([None, matrix.shape[1]]))],
            options=options,
        )
    except Exception as exc:
        raise ModelError(
            f"skl2onnx cannot convert the {type(model).__name__}: {type(exc).__name__}: {exc}"
        ) from exc
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"X": matrix})
    expected = np.asarray(model.predict(input_example))
    got = np.asarray(outputs[0]).reshape(expected.shape)
    n = len(expected)
    if classifier:
        differ = expected != got
        if differ.any():
            raise _disagree(f"the labels differ on {int(differ.sum())} of {n} rows", differ)
        if hasattr(model, "predict_proba") and len(outputs) > 1:
            _compare(
                np.asarray(model.predict_proba(input_example)),
                outputs[1],
                rtol,
                atol,
                "probabilities",
            )
    else:
        _compare(expected, got, rtol, atol, "predictions")
    return onx


def _compare(expected: np.ndarray, got: Any, rtol: float, atol: float, what: str) -> None:
    got = np.asarray(got, dtype=np.float64).reshape(expected.shape)
    expected = expected.astype(np.float64)
    close = np.isclose(got, expected, rtol=rtol, atol=atol)
    if not close.all():
        rows = ~close.reshape(len(expected), -1).all(axis=1)
        worst = float(np.max(np.abs(got - expected)))
        raise _disagree(
            f"the {what} differ on {int(rows.sum())} of {len(expected)} rows (largest difference "
            f"{worst:.3g}; rtol={rtol:g}, atol={atol:g})",
            rows,
        )


def _disagree(what: str, rows: np.ndarray) -> ModelError:
    first = int(np.argmax(rows))
    return ModelError(
        f"the ONNX conversion does not agree with the scikit-learn model: {what}, first at row "
        f"{first}. Check the model on float32 inputs, or loosen rtol/atol if the difference is "
        "acceptable",
        details={"rows": int(rows.sum()), "first_row": first},
    )
