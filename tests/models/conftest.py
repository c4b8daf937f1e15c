"""Model fixtures: one tiny fitted model per flavor case, built and saved once per process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mloop_models_cases import BUILDERS, Case

_cases: dict[str, Case] = {}
_saved: dict[str, Path] = {}


@pytest.fixture(scope="session")
def models_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


# Frameworks whose import alone takes seconds: their cases run in `make test`, not test-fast.
HEAVY = {"pytorch-torchscript", "pytorch-state-dict", "keras", "onnx"}


@pytest.fixture(
    params=[pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in BUILDERS]
)
def case(request: pytest.FixtureRequest, models_tmp: Path) -> Case:
    """A fitted model of each flavor case, built once per process."""
    name = request.param
    if name not in _cases:
        builder = BUILDERS[name]
        _cases[name] = builder(models_tmp) if name == "pyfunc" else builder()
    return _cases[name]


@pytest.fixture
def saved(case: Case, models_tmp: Path, tmp_path: Path) -> Path:
    """A fresh copy of the case's model saved with its input example (saved once per process)."""
    if case.id not in _saved:
        import mloop.models

        folder = models_tmp / f"saved-{case.id}"
        mloop.models.save(case.model, folder, input_example=case.example, **case.save_kwargs)
        _saved[case.id] = folder
    copy = tmp_path / "model"
    shutil.copytree(_saved[case.id], copy)
    return copy
