"""The registry's module functions and ``Registry()`` follow the current store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mloop
import mloop.registry
import mloop.store
from mloop.errors import RegisteredModelNotFound
from mloop.registry import Registry


def _run_id() -> str:
    with mloop.start_run() as run:
        pass
    return run.run_id


def test_module_functions_follow_set_tracking_uri(elsewhere: Any) -> None:
    run_id = _run_id()
    v = mloop.registry.register_model(f"runs:/{run_id}/model", "churn")
    mloop.registry.set_alias("churn", "champion", v.version, reason="first")
    assert mloop.registry.resolve("models:/churn@champion").run_id == run_id
    assert mloop.store.current().store.get_model_version("churn", 1).run_id == run_id
    assert Registry().history("churn")[-1].reason == "first"


def test_registry_binds_the_store_current_when_made(mloop_home: Path, tmp_path: Path) -> None:
    default = Registry()
    with mloop.store.use(f"sqlite:///{tmp_path / 'scoped.db'}"):
        scoped = Registry()
        run_id = _run_id()
        mloop.registry.register_model(f"runs:/{run_id}/model", "churn")
        assert default.store is not scoped.store
    # outside the block: the default store, which has no such model, and the bound one, which has
    with pytest.raises(RegisteredModelNotFound):
        mloop.registry.resolve("models:/churn/1")
    with pytest.raises(RegisteredModelNotFound):
        default.get_model("churn")
    assert scoped.get_model("churn").name == "churn"
