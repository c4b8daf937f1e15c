"""The registry domain API on the embedded default store."""

from __future__ import annotations

import pytest

import mloop
from mloop import registry
from mloop.errors import InvalidArgument, ModelVersionNotFound, RegisteredModelNotFound

pytestmark = pytest.mark.usefixtures("mloop_home")


def test_register_resolve_and_audit() -> None:
    with mloop.start_run() as run:
        pass
    v1 = registry.register_model(f"runs:/{run.run_id}/model", "churn", reason="first")
    assert v1.version == 1
    assert v1.run_id == run.run_id  # taken from the runs:/ URI
    v2 = registry.register_model("/models/churn-2", "churn")
    registry.set_alias("churn", "champion", 1, reason="baseline")

    assert registry.resolve("models:/churn/2").source == "/models/churn-2"
    assert registry.resolve("models:/churn@champion").version == 1
    assert registry.resolve("models:/churn").version == v2.version  # latest
    assert registry.resolve("models:/churn@latest").version == 2

    history = registry.Registry().history("churn")
    assert [e.action for e in history] == [
        "create_model",
        "create_version",
        "create_version",
        "set_alias",
    ]
    assert history[-1].reason == "baseline"
    assert history[-1].actor  # the current user


def test_resolve_errors() -> None:
    with pytest.raises(InvalidArgument, match="models:/"):
        registry.resolve("runs:/abc/model")
    with pytest.raises(InvalidArgument):
        registry.resolve("models:/churn/notanumber")
    with pytest.raises(RegisteredModelNotFound):
        registry.resolve("models:/ghost@champion")
    registry.register_model("/m", "real")
    with pytest.raises(ModelVersionNotFound, match="@champion"):
        registry.resolve("models:/real@champion")
