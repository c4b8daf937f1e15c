"""A model can carry a profile of its training data: the reference for drift monitoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mloop.models
from mloop.data import drift
from mloop.errors import ModelIntegrityError


@pytest.fixture
def train() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    y = (x["a"] + x["b"] > 0).astype(int).to_numpy()
    return x, y


def test_the_reference_profile_travels_with_the_model(
    tmp_path: Path, train: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = train
    clf = LogisticRegression().fit(x, y)
    mloop.models.save(clf, tmp_path / "m", input_example=x.head(5), reference_data=x)
    loaded = mloop.models.load(tmp_path / "m")
    assert loaded.metadata.reference_profile == "reference.profile"
    assert "reference.profile" in loaded.metadata.files
    ref = loaded.reference_profile()
    assert ref is not None
    shifted = x.assign(a=x["a"] + 3)
    result = drift(ref, shifted)
    drifted = {c.name for c in result.columns if c.drifted}
    assert drifted == {"a"}


def test_a_model_without_reference_has_none(
    tmp_path: Path, train: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = train
    mloop.models.save(LogisticRegression().fit(x, y), tmp_path / "m", input_example=x.head(5))
    assert mloop.models.load(tmp_path / "m").reference_profile() is None


def test_a_tampered_reference_profile_is_refused(
    tmp_path: Path, train: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = train
    clf = LogisticRegression().fit(x, y)
    mloop.models.save(clf, tmp_path / "m", input_example=x.head(5), reference_data=x)
    target = tmp_path / "m" / "reference.profile"
    target.write_bytes(target.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelIntegrityError, match=r"reference\.profile"):
        mloop.models.load(tmp_path / "m")
