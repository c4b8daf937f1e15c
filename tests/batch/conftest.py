"""A registered scikit-learn model and input files to score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(size=(1_000, 4)), columns=["a", "b", "c", "d"])
    x["id"] = np.arange(len(x), dtype=np.int64)
    return x


@pytest.fixture
def model_uri(mloop_home: Path, frame: pd.DataFrame) -> str:
    """``models:/scorer@champion``: a logistic regression on a, b, c, d."""
    from sklearn.linear_model import LogisticRegression

    import mloop

    features = frame[["a", "b", "c", "d"]]
    target = (features.a + features.b > 0).astype(int)
    with mloop.start_run():
        info = mloop.models.log_model(
            LogisticRegression().fit(features, target),
            input_example=features.head(3),
            registered_model_name="scorer",
        )
    assert info.registered_model_version is not None
    mloop.registry.set_alias("scorer", "champion", info.registered_model_version.version)
    return "models:/scorer@champion"
