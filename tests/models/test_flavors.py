"""The one contract every flavor honours: save, load, predict, signature, round trip, integrity,
wrong-schema input. Parametrized over every flavor case in conftest.py."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from mloop_models_cases import KERAS_ARRAY_COPY, TORCH_JIT_DEPRECATED, Case

import mloop.models
from mloop.errors import ModelError, ModelIntegrityError, SignatureMismatch
from mloop.models import ColSpec, TensorSpec, infer_signature

pytestmark = [TORCH_JIT_DEPRECATED, KERAS_ARRAY_COPY]


def assert_predictions(got: Any, expected: Any, rtol: float) -> None:
    if isinstance(expected, pd.DataFrame):
        assert isinstance(got, pd.DataFrame)
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
        return
    assert isinstance(got, np.ndarray), type(got)
    assert got.shape == np.shape(expected)
    if rtol and np.issubdtype(np.asarray(expected).dtype, np.floating):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


def model_file(folder: Path) -> str:
    meta = yaml.safe_load((folder / "mloop-model.yaml").read_text())
    return str(meta["flavor"]["options"]["file"])


def test_save_load_predict_equals_the_in_memory_model(case: Case, saved: Path) -> None:
    loaded = mloop.models.load(saved)
    assert loaded.flavor == case.flavor
    assert_predictions(loaded.predict(case.example), case.expected, case.rtol)


def test_predict_proba_where_the_model_has_it(case: Case, saved: Path) -> None:
    loaded = mloop.models.load(saved)
    if case.proba is None:
        with pytest.raises(ModelError, match="has no predict_proba"):
            loaded.predict_proba(case.example)
    else:
        np.testing.assert_allclose(
            loaded.predict_proba(case.example), case.proba, rtol=case.rtol or 1e-7
        )


def test_signature_is_inferred_from_the_example(case: Case, saved: Path) -> None:
    loaded = mloop.models.load(saved)
    sig = loaded.signature
    assert sig is not None
    assert sig.inputs == infer_signature(case.example).inputs
    if isinstance(case.expected, pd.DataFrame):
        assert isinstance(sig.outputs, list)
        assert [c.name for c in sig.outputs] == list(case.expected.columns)
    else:
        assert isinstance(sig.outputs, TensorSpec)
        assert sig.outputs.shape == (-1, *np.shape(case.expected)[1:])
    meta = loaded.metadata
    version = importlib.metadata.version(case.package)
    assert f"{case.package}=={version}" in meta.requirements
    assert set(meta.files) >= {model_file(saved), meta.input_example}
    assert loaded.input_example is not None


def _inputs(example: Any, tabular: bool) -> list[Any]:
    if tabular:
        return [
            example,
            pa.Table.from_pandas(example, preserve_index=False),
            example.to_dict("records"),
            example.to_numpy(),  # columns by position
        ]
    return [example, example.tolist(), pd.DataFrame(example, columns=["a", "b", "c", "d"])]


def test_predict_takes_all_four_input_kinds(case: Case, saved: Path) -> None:
    loaded = mloop.models.load(saved)
    sig = loaded.signature
    assert sig is not None
    for data in _inputs(case.example, isinstance(sig.inputs, list)):
        # another memory layout may change float sums in the last bit
        assert_predictions(loaded.predict(data), case.expected, max(case.rtol, 1e-12))


def test_round_trip_through_save_and_load_twice(case: Case, saved: Path, tmp_path: Path) -> None:
    first = mloop.models.load(saved)
    info = mloop.models.save(
        case.resave(first), tmp_path / "again", input_example=case.example, **case.save_kwargs
    )
    second = mloop.models.load(info.model_uri)
    assert second.signature == first.signature
    assert_predictions(second.predict(case.example), case.expected, case.rtol)


@pytest.mark.parametrize("damage", ["tamper", "delete", "truncate"])
def test_a_damaged_model_file_is_refused(case: Case, saved: Path, damage: str) -> None:
    name = model_file(saved)
    target = saved / name
    if damage == "tamper":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
    elif damage == "delete":
        target.unlink()
    else:
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(ModelIntegrityError) as err:
        mloop.models.load(saved)
    assert repr(name) in str(err.value)
    assert err.value.details["files"][0]["file"] == name


def _bad_table(example: pd.DataFrame, columns: list[ColSpec]) -> tuple[pd.DataFrame, set[str]]:
    """Break three columns of the example: strings in a number column (or numbers in a string
    column), a missing column, and a null in a non-nullable column."""
    bad = example.copy()
    first, second = columns[0], columns[1]
    bad[first.name] = bad[first.name].astype(object)
    bad.loc[bad.index[[1, 3]], first.name] = 7 if first.type == "string" else "oops"
    bad = bad.drop(columns=[second.name])
    broken = {first.name, second.name}
    if len(columns) > 2:
        third = columns[2]
        bad[third.name] = bad[third.name].astype(object)
        bad.loc[bad.index[2], third.name] = None
        broken.add(third.name)
    return bad.assign(extra=1), broken


def test_wrong_schema_lists_every_bad_column(case: Case, saved: Path) -> None:
    loaded = mloop.models.load(saved)
    sig = loaded.signature
    assert sig is not None
    if isinstance(sig.inputs, list):
        bad, broken = _bad_table(case.example, sig.inputs)
        with pytest.raises(SignatureMismatch) as err:
            loaded.predict(bad)
        assert {d["column"] for d in err.value.details} == broken
        for name in broken:
            assert repr(name) in str(err.value)
        assert f"{len(broken)} columns do not match the model's signature" in str(err.value)
    else:
        with pytest.raises(SignatureMismatch) as err:
            loaded.predict(np.array([["x", "y", "z"]] * 5))
        assert {d["problem"] for d in err.value.details} == {"shape", "type"}
        assert "got (5, 3)" in str(err.value)
        assert "got string in 5 of 5 rows" in str(err.value)
