"""The registry domain API on the embedded default store."""

from __future__ import annotations

import pytest

import mloop
from mloop import registry
from mloop.errors import (
    InvalidAliasTarget,
    InvalidArgument,
    ModelVersionNotFound,
    RegisteredModelNotFound,
)
from mloop.store import ModelVersionStatus, Store

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


# -- Registry on every kind of store ------------------------------------------------------------


@pytest.fixture
def bound(store: Store) -> registry.Registry:
    """The registry API bound to a store (SQLite, PostgreSQL, HTTP), acting as ``alice``."""
    return registry.Registry(store, actor="alice")


def _alice(bound: registry.Registry) -> str:
    """How ``alice`` is recorded: as herself in a database, marked unverified by a server
    without --auth (it cannot check the name)."""
    from mloop.store import HttpStore

    return "unverified:alice" if isinstance(bound.store, HttpStore) else "alice"


def test_models_and_versions_are_listed(bound: registry.Registry) -> None:
    assert bound.list_models() == []
    bound.register_model("/m/churn-1", "churn", tags={"team": "growth"}, description="first")
    bound.register_model("/m/churn-2", "churn")
    bound.register_model("/m/fraud-1", "fraud")
    assert [m.name for m in bound.list_models()] == ["churn", "fraud"]
    churn = bound.get_model("churn")
    assert (churn.name, churn.latest_version, churn.aliases) == ("churn", 2, {})
    versions = bound.list_versions("churn")
    assert sorted((v.version, v.source) for v in versions) == [(1, "/m/churn-1"), (2, "/m/churn-2")]
    first = next(v for v in versions if v.version == 1)
    assert (first.tags, first.description) == ({"team": "growth"}, "first")
    with pytest.raises(RegisteredModelNotFound):
        bound.get_model("ghost")
    with pytest.raises(RegisteredModelNotFound):
        bound.list_versions("ghost")


def test_an_alias_is_set_deleted_and_audited(bound: registry.Registry) -> None:
    bound.register_model("/m/1", "churn")
    bound.register_model("/m/2", "churn")
    moved = bound.set_alias("churn", "champion", 2, reason="better")
    assert moved.aliases == ["champion"]
    assert bound.get_model("churn").aliases == {"champion": 2}
    bound.delete_alias("churn", "champion", reason="retired")
    assert bound.get_model("churn").aliases == {}
    with pytest.raises(ModelVersionNotFound, match="@champion"):
        bound.resolve("models:/churn@champion")
    last = bound.history("churn")[-1]
    assert (last.action, last.actor, last.reason) == ("delete_alias", _alice(bound), "retired")
    assert last.before == {"alias": "champion", "version": 2}


def test_an_archived_version_stays_but_takes_no_alias(bound: registry.Registry) -> None:
    bound.register_model("/m/1", "churn")
    bound.register_model("/m/2", "churn")
    bound.set_alias("churn", "champion", 2)
    with pytest.raises(InvalidAliasTarget):  # an alias still points at it
        bound.archive_version("churn", 2, reason="too early")
    archived = bound.archive_version("churn", 1, reason="superseded")
    assert archived.status == ModelVersionStatus.ARCHIVED
    assert bound.resolve("models:/churn/1").status == ModelVersionStatus.ARCHIVED  # kept
    with pytest.raises(InvalidAliasTarget):
        bound.set_alias("churn", "rollback", 1)
    last = bound.history("churn")[-1]
    assert (last.action, last.version, last.actor, last.reason) == (
        "archive_version",
        1,
        _alice(bound),
        "superseded",
    )
