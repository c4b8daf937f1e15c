"""Signatures and their inference from examples."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import ValidationError

from mloop.errors import InvalidArgument
from mloop.models import ColSpec, Signature, TensorSpec, infer_signature


def test_infer_from_a_dataframe() -> None:
    df = pd.DataFrame(
        {
            "i8": np.array([1, 2], dtype=np.int8),
            "u32": np.array([1, 2], dtype=np.uint32),
            "f32": np.array([1.0, np.nan], dtype=np.float32),
            "b": [True, False],
            "s": ["a", None],
            "t": [dt.datetime(2024, 1, 1), None],
            "n": pd.array([1, None], dtype="Int64"),
            "c": pd.Categorical(["x", "y"]),
            "o": np.array([1, 2], dtype=object),
        }
    )
    sig = infer_signature(df, np.array([0, 1]))
    assert sig.inputs == [
        ColSpec(name="i8", type="int8"),
        ColSpec(name="u32", type="uint32"),
        ColSpec(name="f32", type="float32", nullable=True),
        ColSpec(name="b", type="bool"),
        ColSpec(name="s", type="string", nullable=True),
        ColSpec(name="t", type="datetime", nullable=True),
        ColSpec(name="n", type="int64", nullable=True),
        ColSpec(name="c", type="string"),
        ColSpec(name="o", type="int64"),
    ]
    assert sig.outputs == TensorSpec(dtype="int64", shape=(-1,))


def test_infer_from_other_kinds() -> None:
    expected = [ColSpec(name="a", type="int64"), ColSpec(name="b", type="string")]
    assert infer_signature(pa.table({"a": [1, 2], "b": ["x", "y"]})).inputs == expected
    assert infer_signature([{"a": 1, "b": "x"}]).inputs == expected
    assert infer_signature({"a": [1], "b": ["x"]}).inputs == expected
    arr = np.zeros((5, 3, 2), dtype=np.float32)
    assert infer_signature(arr).inputs == TensorSpec(dtype="float32", shape=(-1, 3, 2))
    assert infer_signature([[1.0, 2.0]]).inputs == TensorSpec(dtype="float64", shape=(-1, 2))
    out = infer_signature(arr, pd.Series([1.0], name="p")).outputs
    assert out == [ColSpec(name="p", type="float64")]
    nullable = infer_signature(pa.table({"a": pa.array([1, None], pa.int32())})).inputs
    assert nullable == [ColSpec(name="a", type="int32", nullable=True)]


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (pd.DataFrame({"a": [None, None]}), "only missing values"),
        (pd.DataFrame({"a": [1, "x"]}), "mixed types"),
        (pd.DataFrame([[1, 2]]), "column names that are not strings"),
        (np.array(3.0), "a single value"),
        (np.array([1 + 2j]), "unsupported dtype complex128"),
        (object(), "got object"),
    ],
)
def test_what_cannot_be_inferred(example: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        infer_signature(example)


def test_signature_validation_and_yaml_form() -> None:
    with pytest.raises(ValidationError, match="appears twice"):
        Signature(inputs=[ColSpec(name="a", type="int64"), ColSpec(name="a", type="bool")])
    with pytest.raises(ValidationError):
        ColSpec(name="a", type="int128")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TensorSpec(dtype="float32", shape=(-2, 3))
    sig = Signature(
        inputs=[ColSpec(name="age", type="int64")],
        outputs=TensorSpec(dtype="float32", shape=(-1, 2)),
    )
    data = sig.to_dict()
    assert data == {
        "inputs": [{"name": "age", "type": "int64", "nullable": False}],
        "outputs": {"dtype": "float32", "shape": [-1, 2]},
    }
    assert Signature.model_validate(data) == sig
