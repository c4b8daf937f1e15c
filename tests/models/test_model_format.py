"""The model folder: mloop-model.yaml validation, sha256 checks, what a loader may open."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mloop_models_testlib import Echo

import mloop.models
from mloop.errors import ModelError, ModelIntegrityError, ModelNotFound, UnknownFlavor
from mloop.models._format import MODEL_FILE


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    mloop.models.save(Echo(), folder, input_example=pd.DataFrame({"a": [1, 2]}))
    return folder


def edit_yaml(folder: Path, **changes: object) -> None:
    path = folder / MODEL_FILE
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data))


def test_the_yaml_holds_every_field(model_dir: Path) -> None:
    data = yaml.safe_load((model_dir / MODEL_FILE).read_text())
    assert list(data) == [
        "format_version",
        "flavor",
        "signature",
        "input_example",
        "requirements",
        "python_version",
        "files",
        "run_id",
        "dataset_hashes",
        "reference_profile",
        "created_time",
        "mloop_version",
        "unsafe",
    ]
    assert data["unsafe"] is True  # a pickled Python object
    assert data["format_version"] == 1
    assert data["flavor"]["name"] == "pyfunc"
    assert data["input_example"] == "input_example.parquet"
    assert set(data["files"]) == {"python_model.pkl", "input_example.parquet"}
    assert [r.split("==")[0] for r in data["requirements"]] == ["numpy", "pandas", "mloop"]


def test_missing_field(model_dir: Path) -> None:
    edit_yaml(model_dir, files=None)
    with pytest.raises(ModelIntegrityError, match=r"mloop-model.yaml .* 'files' is missing"):
        mloop.models.load(model_dir)


def test_not_yaml(model_dir: Path) -> None:
    (model_dir / MODEL_FILE).write_text("format_version: [1\n")
    with pytest.raises(ModelIntegrityError, match="not valid YAML"):
        mloop.models.load(model_dir)


def test_newer_format(model_dir: Path) -> None:
    edit_yaml(model_dir, format_version=2)
    with pytest.raises(ModelError, match="format_version 2; this mloop reads format 1"):
        mloop.models.load(model_dir)


def test_unknown_flavor_names_the_known_ones(model_dir: Path) -> None:
    edit_yaml(model_dir, flavor={"name": "caffe", "options": {}})
    with pytest.raises(UnknownFlavor) as err:
        mloop.models.load(model_dir)
    assert "'caffe'" in str(err.value)
    assert "keras, lightgbm, onnx, pyfunc, pytorch, sklearn, transformers, xgboost" in str(
        err.value
    )


def test_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no model folder"):
        mloop.models.load(tmp_path / "nothing")
    with pytest.raises(ModelNotFound, match=r"has no mloop-model\.yaml"):
        mloop.models.load(tmp_path)


def test_every_damaged_file_is_named(model_dir: Path) -> None:
    (model_dir / "python_model.pkl").write_bytes(b"evil")
    (model_dir / "input_example.parquet").unlink()
    with pytest.raises(ModelIntegrityError) as err:
        mloop.models.load(model_dir)
    assert "'python_model.pkl' does not match its sha256" in str(err.value)
    assert "'input_example.parquet' is missing" in str(err.value)


def test_an_extra_file_is_noted_and_ignored(
    model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (model_dir / "notes.txt").write_text("hi")
    with caplog.at_level(logging.WARNING, logger="mloop.models"):
        loaded = mloop.models.load(model_dir)
    assert loaded.extra_files == ["notes.txt"]
    assert "notes.txt" in caplog.text


def test_a_loader_opens_only_verified_files(model_dir: Path) -> None:
    # an unlisted file named in the options is refused before it is unpickled
    (model_dir / "other.pkl").write_bytes((model_dir / "python_model.pkl").read_bytes())
    edit_yaml(model_dir, flavor={"name": "pyfunc", "options": {"file": "other.pkl"}})
    with pytest.raises(ModelIntegrityError, match="not among the files"):
        mloop.models.load(model_dir)
    edit_yaml(model_dir, flavor={"name": "pyfunc", "options": {"file": "../x.pkl"}})
    with pytest.raises(ModelIntegrityError, match="not a path inside the model folder"):
        mloop.models.load(model_dir)


def test_listed_paths_must_stay_inside_the_folder(model_dir: Path) -> None:
    edit_yaml(model_dir, files={"../../etc/passwd": "0" * 64})
    with pytest.raises(ModelIntegrityError, match="not a relative path inside the model folder"):
        mloop.models.load(model_dir)
