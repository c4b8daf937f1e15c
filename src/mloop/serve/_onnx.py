"""The compiled path of ``mloop serve --optimize``: a scikit-learn model run by ONNX Runtime.

At load, :func:`optimize` converts the model with skl2onnx (pipelines of scalers, encoders,
imputers, ``ColumnTransformer`` and the common estimators), one ONNX input per column of the
signature, and checks the converted model against the original on the saved input example and
on a sample drawn from it (rows resampled, numeric values jittered; a fixed seed). Labels must
match exactly, numbers within ``RTOL``: skl2onnx computes in float32. Only then does the served
version predict through the ONNX Runtime session, behind the same input validation and output
shaping as the plain model.

Anything that fails (skl2onnx or onnxruntime not installed, a model it cannot convert, a model
that is not scikit-learn, predictions that differ) leaves the plain model in place; the reason
is returned and logged, never raised: ``--optimize`` can only make serving faster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mloop.models import LoadedModel

__all__ = ["Optimized", "optimize"]

logger = logging.getLogger("mloop.serve")

RTOL = 1e-4  # float32 arithmetic: about 1e-7 relative per operation
ATOL = 1e-5
SAMPLE_ROWS = 256
ONNX_EXTRA_HINT = "pip install 'mloop[onnx]'"


@dataclass(frozen=True)
class Optimized:
    """What :func:`optimize` did: the model to serve and, when it is the original, why."""

    model: LoadedModel
    compiled: bool
    reason: str | None = None


class _OrtPredictor:
    """``predict(frame)`` through an ONNX Runtime session, one input per column."""

    def __init__(self, session: Any, inputs: list[tuple[str, Any]], label: str) -> None:
        self.session = session
        self.inputs = inputs  # (column, numpy dtype the ONNX input takes)
        self.label = label

    def predict(self, x: Any) -> Any:
        feeds = {}
        for name, dtype in self.inputs:
            col = np.asarray(x[name].to_numpy() if hasattr(x, "columns") else x[name])
            feeds[name] = col.astype(dtype, copy=False).reshape(-1, 1)
        out = self.session.run([self.label], feeds)[0]
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out


def optimize(model: LoadedModel, *, name: str = "model") -> Optimized:
    """``model`` converted to ONNX and checked, or ``model`` itself with the reason it is not.

    Example::

        result = optimize(mloop.models.load("models:/churn@champion"))
        result.compiled, result.reason
    """
    try:
        compiled = _compile(model)
    except _NotCompiled as exc:
        logger.warning("%s: --optimize kept the plain model: %s", name, exc)
        return Optimized(model, compiled=False, reason=str(exc))
    logger.info("%s: --optimize serves the ONNX Runtime session", name)
    return Optimized(compiled, compiled=True)


class _NotCompiled(Exception):
    pass


def _compile(model: LoadedModel) -> LoadedModel:
    if model.flavor != "sklearn":
        raise _NotCompiled(f"only scikit-learn models are compiled, this one is {model.flavor}")
    example = model.input_example
    if example is None or not hasattr(example, "columns") or len(example) == 0:
        raise _NotCompiled("the model has no saved input example (a DataFrame) to check against")
    try:
        import onnxruntime as ort
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import (
            FloatTensorType,
            Int64TensorType,
            StringTensorType,
        )
    except ImportError as exc:
        raise _NotCompiled(f"{exc.name} is not installed: {ONNX_EXTRA_HINT}") from None

    frame = model._prepare(example)  # the columns and dtypes predict hands the estimator
    initial: list[tuple[str, Any]] = []
    inputs: list[tuple[str, Any]] = []
    for col in frame.columns:
        kind = frame[col].dtype.kind
        if kind in "fc":
            initial.append((str(col), FloatTensorType([None, 1])))
            inputs.append((str(col), np.float32))
        elif kind in "iub":
            initial.append((str(col), Int64TensorType([None, 1])))
            inputs.append((str(col), np.int64))
        else:
            initial.append((str(col), StringTensorType([None, 1])))
            inputs.append((str(col), np.str_))
    estimator = model.unwrap()
    try:
        onx = to_onnx(
            estimator,
            initial_types=initial,
            options={"zipmap": False} if hasattr(estimator, "predict_proba") else None,
        )
        options = ort.SessionOptions()
        # A request is a few rows: a thread pool per call costs more than it saves, and the
        # server already runs requests side by side.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # skl2onnx and onnxruntime raise many unrelated types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _NotCompiled(f"conversion failed: {type(exc).__name__}: {first}") from None
    label = session.get_outputs()[0].name
    compiled = LoadedModel(
        model.path, model.metadata, _OrtPredictor(session, inputs, label), model.extra_files
    )
    _check(model, compiled, example)
    return compiled


def _sample(example: Any, rows: int, seed: int = 0) -> Any:
    """Rows resampled from the example, numeric values scaled by up to +-20%."""
    rng = np.random.default_rng(seed)
    out = example.iloc[rng.integers(0, len(example), rows)].reset_index(drop=True)
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = out[col] * rng.uniform(0.8, 1.2, rows)
    return out


def _check(plain: LoadedModel, compiled: LoadedModel, example: Any) -> None:
    for what, data in (("input example", example), ("sample", _sample(example, SAMPLE_ROWS))):
        try:
            want = np.asarray(plain.predict(data))
            got = np.asarray(compiled.predict(data))
        except Exception as exc:
            raise _NotCompiled(f"the ONNX model failed on the {what}: {exc}") from None
        if want.shape != got.shape:
            raise _NotCompiled(
                f"predictions differ on the {what}: shape {got.shape} instead of {want.shape}"
            )
        if want.dtype.kind in "fc":
            close = np.isclose(got.astype(np.float64), want, rtol=RTOL, atol=ATOL)
        else:
            close = got.astype(want.dtype) == want
        if not np.all(close):
            bad = int(np.size(close) - np.count_nonzero(close))
            raise _NotCompiled(
                f"predictions differ on {bad} of {want.size} values of the {what} "
                f"(tolerance rtol={RTOL}, atol={ATOL})"
            )
