"""The models domain follows the current store: ``mloop.set_tracking_uri`` and
``mloop.store.use`` decide where ``log_model`` registers and where ``load`` caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mloop
import mloop.models
import mloop.store

X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.9, 0.3]})


def fitted() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(X, [0, 0, 1, 1])


def test_log_model_registers_in_the_store_set_by_set_tracking_uri(elsewhere: Any) -> None:
    """The reported bug: the run was in other.db, the registration looked in ./.mloop/mloop.db
    (RunNotFound) and created it (the fixture checks that ./.mloop stays absent)."""
    with mloop.start_run() as run:
        info = mloop.models.log_model(fitted(), registered_model_name="churn")
    assert info.registered_model_version is not None
    assert info.registered_model_version.version == 1
    assert info.registered_model_version.run_id == run.run_id
    assert mloop.store.current().store.get_model_version("churn", 1).run_id == run.run_id
    assert mloop.registry.resolve("models:/churn/1").source == info.model_uri
    assert elsewhere.db.exists()


def test_load_caches_under_the_current_home(mloop_home: Path, tmp_path: Path) -> None:
    with mloop.start_run():
        mloop.models.log_model(fitted(), registered_model_name="churn")
    settings = mloop.store.current().settings
    other_home = tmp_path / "elsewhere"
    with mloop.store.use(settings.model_copy(update={"home": other_home})):
        loaded = mloop.models.load("models:/churn/1")
    assert loaded.path.is_relative_to(other_home / "cache" / "models")
    assert not (mloop_home / "cache").exists()
    np.testing.assert_array_equal(loaded.predict(X), fitted().predict(X))
