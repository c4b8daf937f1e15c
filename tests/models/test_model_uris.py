"""load() through runs:/, models:/ and fsspec URLs, and log_model() inside a run, on a real
SQLite tracking store."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
import mloop.models
from mloop.errors import InvalidArgument, ModelIntegrityError, ModelNotFound, NoActiveRun

X = pd.DataFrame({"a": [1, 2, 3, 4], "b": [0.5, 0.1, 0.9, 0.3]})


def fitted() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(X, [0, 0, 1, 1])


def test_log_model_needs_an_active_run(mloop_home: Path) -> None:
    with pytest.raises(NoActiveRun, match="log_model needs an active run"):
        mloop.models.log_model(fitted())


def test_log_model_then_load_through_runs_uri(mloop_home: Path) -> None:
    model = fitted()
    with mloop.start_run() as run:
        info = mloop.models.log_model(model, "clf", input_example=X)
        with pytest.raises(InvalidArgument, match="sets the model's run"):
            mloop.models.log_model(model, run_id="x")
    assert info.model_uri == f"runs:/{run.run_id}/clf"
    assert info.run_id == run.run_id and info.artifact_path == "clf" and info.path is None
    assert info.metadata.run_id == run.run_id
    stored = {a.path for a in mloop.Client().list_artifacts(run.run_id, "clf")}
    assert "clf/mloop-model.yaml" in stored and "clf/model.skops" in stored

    loaded = mloop.models.load(info.model_uri)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    cache = mloop_home / "cache" / "models"
    assert loaded.path.parent == cache
    # unchanged: the cached copy is used again
    assert mloop.models.load(info.model_uri).path == loaded.path
    # a damaged cached copy is fetched again
    (loaded.path / "model.skops").write_bytes(b"junk")
    again = mloop.models.load(info.model_uri)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    # a damaged stored copy is refused (the cached copy, verified, is still the model saved)
    stored_file = next((mloop_home / "artifacts").rglob("clf/model.skops"))
    stored_file.write_bytes(stored_file.read_bytes()[:-10])
    assert mloop.models.load(info.model_uri).path == again.path
    shutil.rmtree(cache)
    with pytest.raises(ModelIntegrityError, match=r"'model\.skops' does not match its sha256"):
        mloop.models.load(info.model_uri)


def test_runs_uri_without_a_model(mloop_home: Path) -> None:
    with mloop.start_run() as run:
        pass
    with pytest.raises(ModelNotFound, match=r"has no mloop-model\.yaml"):
        mloop.models.load(f"runs:/{run.run_id}/nothing")


def test_log_model_registers_and_load_through_models_uris(mloop_home: Path) -> None:
    from mloop.registry import set_alias

    model = fitted()
    with mloop.start_run() as run:
        info = mloop.models.log_model(model, input_example=X, registered_model_name="churn")
    version = info.registered_model_version
    assert version.name == "churn" and version.version == 1
    assert version.source == f"runs:/{run.run_id}/model" and version.run_id == run.run_id
    set_alias("churn", "champion", 1)
    for uri in ("models:/churn/1", "models:/churn@champion"):
        loaded = mloop.models.load(uri)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_load_from_an_fsspec_url(mloop_home: Path, tmp_path: Path) -> None:
    import fsspec

    model = fitted()
    mloop.models.save(model, tmp_path / "m", input_example=X)
    fs = fsspec.filesystem("memory")
    root = f"/models-{uuid.uuid4().hex}/churn"
    for path in (tmp_path / "m").iterdir():
        fs.pipe_file(f"{root}/{path.name}", path.read_bytes())
    try:
        loaded = mloop.models.load(f"memory://{root}")
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        assert loaded.path.parent == mloop_home / "cache" / "models"
        with pytest.raises(ModelNotFound, match="no model at"):
            mloop.models.load(f"memory://{root}-missing")
    finally:
        fs.rm(root.rsplit("/", 1)[0], recursive=True)


def test_load_from_a_file_url(tmp_path: Path) -> None:
    mloop.models.save(fitted(), tmp_path / "m", input_example=X)
    assert mloop.models.load(f"file://{tmp_path / 'm'}").path == tmp_path / "m"
