"""The loop-state contract (state machine, lease, history, monitor results, alerts), on
SQLite, PostgreSQL and HTTP against a real server."""

from __future__ import annotations

import pytest

from mloop.errors import Conflict, InvalidArgument, LoopLeaseHeld, LoopNotFound
from mloop.store import Store

T0 = 1_800_000_000_000


def test_a_new_loop_is_idle_and_keeps_its_state_when_its_spec_changes(store: Store) -> None:
    loop = store.ensure_loop("churn", "churn", {"name": "churn", "v": 1}, now=T0)
    assert (loop.state, loop.seq, loop.context, loop.spec["v"]) == ("IDLE", 0, {}, 1)
    store.acquire_loop_lease("churn", "a", ttl_ms=60_000, now=T0)
    store.transition_loop(
        "churn",
        owner="a",
        expected_seq=0,
        to_state="MONITORING",
        context={"x": 1},
        reason="due",
        now=T0,
    )
    again = store.ensure_loop("churn", "churn", {"name": "churn", "v": 2}, now=T0 + 1)
    assert (again.state, again.seq, again.spec["v"]) == ("MONITORING", 1, 2)
    assert [x.name for x in store.list_loops()] == ["churn"]
    with pytest.raises(LoopNotFound, match="mloop loop run"):
        store.get_loop("nope")


def test_one_owner_holds_the_lease_until_it_expires_or_is_released(store: Store) -> None:
    store.ensure_loop("l", "m", {}, now=T0)
    held = store.acquire_loop_lease("l", "a", ttl_ms=10_000, now=T0)
    assert (held.lease_owner, held.lease_expires) == ("a", T0 + 10_000)
    with pytest.raises(LoopLeaseHeld, match="another controller \\(a\\)"):
        store.acquire_loop_lease("l", "b", ttl_ms=10_000, now=T0 + 5_000)
    assert store.acquire_loop_lease("l", "a", ttl_ms=10_000, now=T0 + 5_000).lease_expires == (
        T0 + 15_000
    )
    taken = store.acquire_loop_lease("l", "b", ttl_ms=10_000, now=T0 + 15_001)  # expired
    assert taken.lease_owner == "b"
    store.release_loop_lease("l", "a")  # not the holder: nothing happens
    assert store.get_loop("l").lease_owner == "b"
    store.release_loop_lease("l", "b")
    assert store.get_loop("l").lease_owner is None
    assert store.acquire_loop_lease("l", "a", ttl_ms=1, now=T0 + 15_002).lease_owner == "a"


def test_transitions_are_a_compare_and_set_for_the_lease_holder(store: Store) -> None:
    store.ensure_loop("l", "m", {}, now=T0)
    store.acquire_loop_lease("l", "a", ttl_ms=60_000, now=T0)
    first = store.transition_loop(
        "l",
        owner="a",
        expected_seq=0,
        to_state="MONITORING",
        context={"step": 0},
        reason="monitor due",
        evidence={"every": "10m"},
        actor="controller",
        now=T0 + 1,
    )
    assert (first.seq, first.from_state, first.to_state) == (1, "IDLE", "MONITORING")
    with pytest.raises(Conflict, match="at transition 1, not 0"):
        store.transition_loop(
            "l", owner="a", expected_seq=0, to_state="IDLE", context={}, reason="", now=T0 + 2
        )
    with pytest.raises(LoopLeaseHeld, match="does not hold the lease"):
        store.transition_loop(
            "l", owner="b", expected_seq=1, to_state="IDLE", context={}, reason="", now=T0 + 2
        )
    with pytest.raises(LoopLeaseHeld):  # the lease ran out: even its old holder may not move
        store.transition_loop(
            "l",
            owner="a",
            expected_seq=1,
            to_state="IDLE",
            context={},
            reason="",
            now=T0 + 60_001,
        )
    second = store.transition_loop(
        "l",
        owner="a",
        expected_seq=1,
        to_state="RETRAINING",
        context={"result": 3},
        reason="drift",
        evidence={"monitor_result_id": 3},
        now=T0 + 3,
    )
    loop = store.get_loop("l")
    assert (loop.state, loop.seq, loop.context, loop.updated_at) == (
        "RETRAINING",
        2,
        {"result": 3},
        T0 + 3,
    )
    history = store.list_loop_transitions("l")
    assert [(h.seq, h.to_state) for h in history] == [(1, "MONITORING"), (2, "RETRAINING")]
    assert history[1] == second
    assert history[0].evidence == {"every": "10m"} and history[0].actor == "controller"
    assert [h.seq for h in store.list_loop_transitions("l", after_seq=1)] == [2]
    with pytest.raises(InvalidArgument, match="upper-case"):
        store.transition_loop(
            "l", owner="a", expected_seq=2, to_state="idle", context={}, reason="", now=T0 + 4
        )


def test_monitor_results_and_alerts_are_time_series(store: Store) -> None:
    store.ensure_loop("l", "m", {}, now=T0)
    for i, status in enumerate(["ok", "drift", "skipped"]):
        store.add_monitor_result("l", status=status, result={"rows": i * 10}, now=T0 + i)
    results = store.list_monitor_results("l")
    assert [(r.status, r.result["rows"]) for r in results] == [
        ("skipped", 20),
        ("drift", 10),
        ("ok", 0),
    ]
    assert [r.status for r in store.list_monitor_results("l", since=T0 + 1)] == [
        "skipped",
        "drift",
    ]
    alert = store.add_alert_delivery(
        "l",
        condition="drift",
        sink="https://hooks.example/ml",
        status="failed",
        attempts=3,
        error="timed out",
        payload={"text": "drift"},
        now=T0,
    )
    assert store.list_alert_deliveries("l") == [alert]
    with pytest.raises(LoopNotFound):
        store.add_monitor_result("ghost", status="ok", result={}, now=T0)
