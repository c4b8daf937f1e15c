"""The deployment record contract, on SQLite, PostgreSQL and HTTP against a real server."""

from __future__ import annotations

import pytest

from mloop.errors import Conflict, InvalidArgument, RegisteredModelNotFound
from mloop.registry import Registry
from mloop.store import Store

SPLIT = {"canary": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]}


def _two_versions(store: Store) -> None:
    store.create_model_version("churn", "runs:/a/model")
    store.create_model_version("churn", "runs:/b/model")


def test_no_record_reads_as_generation_zero(store: Store) -> None:
    _two_versions(store)
    record = store.get_deployment("churn")
    assert (record.generation, record.spec) == (0, None)
    with pytest.raises(RegisteredModelNotFound):
        store.get_deployment("nope")


def test_set_then_clear_moves_the_generation_and_is_audited(store: Store) -> None:
    _two_versions(store)
    first = store.set_deployment("churn", SPLIT, actor="ana", reason="canary v2 at 10%")
    assert (first.generation, first.spec, first.actor) == (1, SPLIT, "ana")
    assert store.get_deployment("churn") == first
    cleared = store.clear_deployment("churn", expected_generation=1, reason="promoted")
    assert (cleared.generation, cleared.spec) == (2, None)
    again = store.clear_deployment("churn")  # nothing to clear: no change, no audit entry
    assert again.generation == 2
    entries = [e for e in store.get_audit_log("churn") if e.action.startswith("deployment.")]
    assert [e.action for e in entries] == ["deployment.set", "deployment.clear"]
    assert entries[0].after == {"generation": 1, "spec": SPLIT}
    assert entries[0].reason == "canary v2 at 10%"
    assert entries[1].before == {"generation": 1, "spec": SPLIT}
    assert entries[1].after is None


def test_a_stale_expected_generation_is_a_conflict_and_changes_nothing(store: Store) -> None:
    _two_versions(store)
    store.set_deployment("churn", SPLIT, expected_generation=0)
    with pytest.raises(Conflict, match="generation 1, not 0"):
        store.set_deployment(
            "churn", {"canary": [{"version": 2, "weight": 100}]}, expected_generation=0
        )
    assert store.get_deployment("churn").spec == SPLIT
    with pytest.raises(Conflict):
        store.clear_deployment("churn", expected_generation=7)
    assert store.get_deployment("churn").generation == 1


def test_bad_arguments_are_refused(store: Store) -> None:
    _two_versions(store)
    with pytest.raises(InvalidArgument, match="mapping"):
        store.set_deployment("churn", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="expected_generation"):
        store.set_deployment("churn", SPLIT, expected_generation=-1)
    with pytest.raises(RegisteredModelNotFound):
        store.set_deployment("ghost", SPLIT)


def test_the_registry_validates_the_spec_before_the_store(store: Store) -> None:
    _two_versions(store)
    registry = Registry(store, actor="bo")
    with pytest.raises(InvalidArgument, match=r"canary\.0\.weight"):
        registry.set_deployment("churn", {"canary": [{"version": 1, "weight": -1}]})
    with pytest.raises(InvalidArgument, match="unknown key"):
        registry.set_deployment("churn", {"canary": [{"version": 1, "weight": 1}], "color": 1})
    with pytest.raises(InvalidArgument, match="names another model"):
        registry.set_deployment("churn", {"canary": [{"uri": "models:/other@x", "weight": 1}]})
    record = registry.set_deployment(
        "churn",
        {"canary": [{"uri": "models:/churn@champion", "weight": 95}, {"version": 2, "weight": 5}]},
        reason="by hand",
    )
    assert record.actor == "bo"
    assert record.spec == {
        "canary": [{"uri": "models:/churn@champion", "weight": 95.0}, {"version": 2, "weight": 5.0}]
    }
    assert store.get_deployment("churn").generation == 1
