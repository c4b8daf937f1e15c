"""save() and load() on local folders: arguments, flavor choice, errors, lazy imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mloop_models_testlib import Echo

import mloop.models
from mloop.errors import (
    AlreadyExists,
    InvalidArgument,
    ModelError,
    SignatureMismatch,
    UnknownFlavor,
)
from mloop.models import ColSpec, Signature, TensorSpec

X = pd.DataFrame({"a": [1, 2, 3, 4], "b": [0.5, 0.1, 0.9, 0.3]})


def fitted() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(X, [0, 0, 1, 1])


class Broken(mloop.models.PythonModel):
    def predict(self, data: Any) -> Any:
        raise RuntimeError("boom")


def test_save_returns_what_it_wrote(tmp_path: Path) -> None:
    info = mloop.models.save(
        fitted(),
        tmp_path / "m",
        input_example=X,
        requirements=["scikit-learn>=1.0", "requests==2.32.0"],
        run_id="a" * 32,
        dataset_hashes=["sha256:abc"],
    )
    assert info.model_uri == str(tmp_path / "m")
    assert info.path == tmp_path / "m" and info.flavor == "sklearn"
    meta = mloop.models.load(tmp_path / "m").metadata
    assert meta == info.metadata
    assert meta.run_id == "a" * 32 and meta.dataset_hashes == ["sha256:abc"]
    assert meta.requirements[0] == "scikit-learn>=1.0"  # replaces the pin
    assert meta.requirements[-1] == "requests==2.32.0"
    assert meta.python_version == ".".join(map(str, sys.version_info[:3]))
    assert meta.mloop_version == mloop.__version__
    assert info.signature is not None
    assert info.signature.outputs == TensorSpec(dtype="int64", shape=(-1,))


def test_save_needs_a_new_or_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    mloop.models.save(fitted(), tmp_path / "empty")
    with pytest.raises(AlreadyExists, match="not an empty folder"):
        mloop.models.save(fitted(), tmp_path / "empty")


def test_a_failed_save_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="failed on its input example: RuntimeError: boom"):
        mloop.models.save(Broken(), tmp_path / "m", input_example=X)
    assert list(tmp_path.iterdir()) == []


def test_flavor_choice(tmp_path: Path) -> None:
    with pytest.raises(UnknownFlavor, match="known flavors: keras, lightgbm"):
        mloop.models.save(fitted(), tmp_path / "a", flavor="caffe")
    with pytest.raises(UnknownFlavor, match=r"cannot tell which flavor saves a builtins\.int"):
        mloop.models.save(3, tmp_path / "b")
    info = mloop.models.save(fitted(), tmp_path / "c", flavor="pyfunc", input_example=X)
    loaded = mloop.models.load(tmp_path / "c")
    assert info.flavor == loaded.flavor == "pyfunc"
    assert loaded.predict(X).tolist() == [0, 0, 1, 1]
    with pytest.raises(InvalidArgument, match="LoadedModel"):
        mloop.models.save(loaded, tmp_path / "d")


def test_flavor_arguments_are_checked(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(InvalidArgument, match="LogisticRegression is not fitted"):
        mloop.models.save(LogisticRegression(), tmp_path / "a")
    with pytest.raises(InvalidArgument, match=r"unknown option\(s\) for the sklearn flavor: bogus"):
        mloop.models.save(fitted(), tmp_path / "b", bogus=1)
    with pytest.raises(InvalidArgument, match="no file or folder"):
        mloop.models.save(Echo(), tmp_path / "c", artifacts={"x": tmp_path / "nope"})


def test_a_given_signature_is_checked_against_the_example(tmp_path: Path) -> None:
    sig = Signature(inputs=[ColSpec(name="a", type="int64"), ColSpec(name="c", type="string")])
    with pytest.raises(SignatureMismatch, match="'c' is missing"):
        mloop.models.save(fitted(), tmp_path / "m", signature=sig, input_example=X)
    info = mloop.models.save(Echo(), tmp_path / "n", signature=sig.to_dict())
    assert info.signature == sig
    assert mloop.models.load(tmp_path / "n").predict([{"c": "x", "a": 1}]).columns.tolist() == [
        "a",
        "c",
    ]


def test_without_a_signature_data_goes_through(tmp_path: Path) -> None:
    mloop.models.save(Echo(), tmp_path / "m")
    loaded = mloop.models.load(tmp_path / "m")
    assert loaded.signature is None and loaded.input_example is None
    assert loaded.predict([[1, 2]]).tolist() == [[1, 2]]
    assert isinstance(loaded.predict([{"a": 1}]), pd.DataFrame)


def test_framework_errors_on_valid_input_are_model_errors(tmp_path: Path) -> None:
    mloop.models.save(
        Broken(), tmp_path / "m", signature=Signature(inputs=[ColSpec(name="a", type="int64")])
    )
    with pytest.raises(ModelError, match="the pyfunc model failed in predict: RuntimeError: boom"):
        mloop.models.load(tmp_path / "m").predict(X)


def test_the_example_is_stored_as_given(tmp_path: Path) -> None:
    mloop.models.save(Echo(), tmp_path / "a", input_example=np.arange(6).reshape(3, 2))
    ex = mloop.models.load(tmp_path / "a").input_example
    assert isinstance(ex, np.ndarray) and ex.dtype == np.int64 and ex.shape == (3, 2)
    mloop.models.save(Echo(), tmp_path / "b", input_example=[{"a": 1, "b": "x"}])
    assert mloop.models.load(tmp_path / "b").input_example == [{"a": 1, "b": "x"}]


@pytest.mark.slow
def test_pytorch_module_class_must_be_importable(tmp_path: Path) -> None:
    import torch

    class Local(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x

    with pytest.raises(InvalidArgument, match="cannot be imported when the model is loaded"):
        mloop.models.save(Local(), tmp_path / "m")
    from mloop_models_torchnet import TinyNet

    with pytest.raises(InvalidArgument, match="do not fit TinyNet"):
        mloop.models.save(TinyNet(), tmp_path / "n", init_kwargs={"width": 3})


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_frameworks_are_imported_only_when_used(tmp_path: Path) -> None:
    result = _python(
        f"""
        import sys
        import mloop.models
        heavy = ("torch", "keras", "lightgbm", "xgboost", "onnxruntime", "skl2onnx", "sklearn")
        assert not [m for m in heavy if m in sys.modules], sys.modules.keys()
        from sklearn.linear_model import LinearRegression
        model = LinearRegression().fit([[1.0], [2.0]], [1.0, 2.0])
        mloop.models.save(model, {str(tmp_path / "m")!r}, input_example=[[1.0]])
        mloop.models.load({str(tmp_path / "m")!r}).predict([[3.0]])
        # skops builds its trusted types from sklearn's all_estimators(), whose package walk
        # imports sklearn.externals.array_api_compat.torch and so torch where it is installed:
        # a cost of skops, not of mloop, so torch is left out of what is counted here.
        print(sorted(m for m in heavy if m in sys.modules and m != "torch"))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['sklearn']"


@pytest.mark.slow
def test_keras_refuses_another_backend() -> None:
    result = _python(
        """
        from mloop.models._keras import import_keras
        from mloop.errors import ModelError
        try:
            import_keras()
        except ModelError as exc:
            print(exc)
        """,
        KERAS_BACKEND="jax",
    )
    assert result.returncode == 0, result.stderr
    assert "KERAS_BACKEND is 'jax', but mloop runs Keras 3 on the torch backend" in result.stdout


def test_requirements_name_what_the_pickle_references(tmp_path: Path) -> None:
    import lightgbm as lgb
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), lgb.LGBMClassifier(n_estimators=2, verbose=-1))
    pipeline.fit(pd.concat([X] * 5), [0, 0, 1, 1] * 5)
    reqs = mloop.models.save(pipeline, tmp_path / "m").metadata.requirements
    names = [r.split("==")[0] for r in reqs]
    assert names == ["scikit-learn", "lightgbm", "numpy", "pandas", "mloop"]
    wrapper = Echo()
    wrapper.inner = fitted()  # type: ignore[attr-defined]
    reqs = mloop.models.save(wrapper, tmp_path / "n").metadata.requirements
    assert [r.split("==")[0] for r in reqs] == ["numpy", "scikit-learn", "pandas", "mloop"]
