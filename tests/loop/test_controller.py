"""The loop end to end, in one process with real parts: a served model behind real HTTP that
follows its deployment record, a prediction log with labels, the controller ticked with an
injected clock (shared with the log), a real pipeline, a real gate."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from loop_testlib import ManualClock, Traffic, register_champion, write_loop

import mloop.store
from mloop.errors import LoopLeaseHeld
from mloop.loop import Controller, load_loop, loop_status
from mloop.monitor import PredictionLog
from mloop.serve import create_serve_app
from mloop.server import ServerThread

pytestmark = pytest.mark.slow  # a server, pipelines and models in every test

MIN = 60_000


@dataclass
class World:
    clock: ManualClock
    log: PredictionLog
    url: str
    client: httpx.Client
    traffic: Traffic
    folder: Path

    def wait_generation(self, generation: int) -> None:
        import time

        deadline = time.monotonic() + 60
        while True:
            got = self.client.get("/v1/models").json()["models"][0]["deployment"]["generation"]
            if got == generation:
                return
            assert time.monotonic() < deadline, f"the replica is at generation {got}"
            time.sleep(0.02)

    def send(self, n: int, shift: float) -> dict[str, Any]:
        out = self.traffic.send(n, shift=shift)
        assert self.log.flush(30)
        return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(
    request: pytest.FixtureRequest,
    mloop_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """The same loop on SQLite and on PostgreSQL (the metadata store of everything: the
    registry, the deployment record, the loop's state)."""
    if request.param == "postgres":
        from mloop.store import _context

        request.getfixturevalue("pg_store")  # a migrated, emptied database
        url = request.getfixturevalue("pg_database")
        monkeypatch.setenv("MLOOP_TRACKING_URI", url)
        monkeypatch.setenv("MLOOP_ARTIFACTS", str(tmp_path / "artifacts"))
        _context.set_default()
    register_champion()
    clock = ManualClock()
    log = PredictionLog(mloop.store.current().artifacts, clock=clock.seconds)
    app = create_serve_app(["models:/churn@champion"], poll_interval_s=0.05, prediction_log=log)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield World(clock, log, server.url, client, Traffic(server.url), tmp_path)


def _states(controller: Controller) -> list[str]:
    return [t.to_state for t in controller.store.list_loop_transitions(controller.spec.name)]


def test_drift_retrains_gates_rolls_out_in_steps_and_promotes(world: World) -> None:
    # The analysis also reads error rates from the replicas' /metrics: one is down.
    down = "http://127.0.0.1:9"
    spec = load_loop(write_loop(world.folder, endpoints=[world.url, down]))
    controller = Controller(spec, clock=world.clock)
    store = controller.store

    # No traffic yet: a recorded skip, not an error and not a retrain.
    controller.tick()
    assert _states(controller) == ["MONITORING", "IDLE"]
    first = store.list_monitor_results(spec.name)[0]
    assert first.status == "skipped" and "not enough data" in first.result["reason"]
    assert controller.tick() == []  # the next run is not due yet

    # Drifted traffic with labels: the next run detects it and the loop retrains and gates.
    assert world.send(200, shift=2.0)["failures"] == 0
    world.clock.advance(10 * MIN)
    controller.tick()
    assert _states(controller)[2:] == [
        "MONITORING",
        "RETRAINING",
        "RETRAINING",
        "GATING",
        "ROLLING_OUT",
    ]
    monitored = store.list_monitor_results(spec.name)[0]
    assert monitored.status == "alert"
    assert monitored.result["drift"]["dataset_drift"] is True
    assert monitored.result["drift"]["columns"]["a"]["drifted"] is True
    assert monitored.result["labels"] == 200
    assert monitored.result["estimated"]["reason"].startswith("not estimated")
    perf = monitored.result["performance"]
    assert perf["baseline"] > perf["realized"]  # the champion got worse on live labels
    history = store.list_loop_transitions(spec.name)
    gating = history[-1]
    assert gating.evidence["gate"]["passed"] is True
    challenger = store.get_model_version_by_alias("churn", "challenger")
    assert challenger.version == 2
    assert challenger.tags["mloop.loop"] == spec.name
    assert store.get_deployment("churn").spec == {
        "canary": [{"version": 1, "weight": 50.0}, {"version": 2, "weight": 50.0}]
    }
    assert loop_status(store, spec.name)["step"] == {"index": 0, "weight": 50.0}

    # Step 1 (50%): the replica follows the record, both versions answer; after the hold the
    # analysis passes and the canary goes to 100%.
    world.wait_generation(1)
    sent = world.send(200, shift=2.0)
    assert sent["failures"] == 0 and set(sent["versions"]) == {"1", "2"}
    assert controller.tick() == []  # holding
    world.clock.advance(5 * MIN)
    controller.tick()
    assert _states(controller)[-1] == "ROLLING_OUT"
    analysed = store.list_loop_transitions(spec.name)[-1].evidence
    assert all(r["passed"] for r in analysed["rules"])
    assert [r["endpoint"] for r in analysed["analysis"]["replicas_down"]] == [down]
    assert analysed["analysis"]["canary"]["error_rate"] == 0.0
    assert (
        analysed["analysis"]["canary"]["online.accuracy"]
        > (analysed["analysis"]["champion"]["online.accuracy"])
    )
    world.wait_generation(2)
    # The last step holds for canary rows too: its hold over with none logged, it waits.
    world.clock.advance(5 * MIN)
    assert controller.tick() == []
    assert _states(controller)[-1] == "ROLLING_OUT"
    assert world.send(60, shift=2.0)["versions"] == {"2": 60}
    world.clock.advance(5 * MIN)
    controller.tick()
    assert _states(controller)[8:] == ["PROMOTED", "IDLE"]
    promoted = store.list_loop_transitions(spec.name)[8]
    assert promoted.evidence["analysis"]["champion"]["from_step"] == 0  # v1 had no traffic
    assert store.get_model_version_by_alias("churn", "champion").version == 2
    assert store.get_deployment("churn").spec is None
    world.wait_generation(3)
    assert world.send(20, shift=2.0)["versions"] == {"2": 20}

    # Every move is audited with the loop's transition in its reason.
    audit = [e for e in store.get_audit_log("churn") if e.actor == "mloop-loop"]
    actions = [e.action for e in audit]
    assert actions.count("set_alias") == 2  # @challenger, then @champion
    assert actions.count("deployment.set") == 2 and actions.count("deployment.clear") == 1
    assert all(f"loop {spec.name}" in e.reason for e in audit)
    status = loop_status(store, spec.name)
    assert status["state"] == "IDLE" and status["champion"] == 2


def test_a_challenger_that_fails_the_gate_never_reaches_traffic(world: World) -> None:
    spec = load_loop(write_loop(world.folder, params="{bad: true}"))
    controller = Controller(spec, clock=world.clock)
    world.send(200, shift=2.0)
    world.clock.advance(10 * MIN)
    controller.tick()
    states = _states(controller)
    assert states[-2:] == ["GATE_FAILED", "IDLE"]
    failed = controller.store.list_loop_transitions(spec.name)[-2]
    assert "failed the gate" in failed.reason
    assert failed.evidence["gate"]["passed"] is False
    assert controller.store.get_deployment("churn").generation == 0  # never written
    assert controller.store.get_model_version_by_alias("churn", "champion").version == 1
    assert world.send(20, shift=2.0)["versions"] == {"1": 20}
    # In cooldown: drift again does not retrain.
    world.clock.advance(10 * MIN)
    controller.tick()
    last = controller.store.list_loop_transitions(spec.name)[-1]
    assert last.to_state == "IDLE" and "cools down" in last.reason


def test_a_canary_that_fails_live_analysis_is_rolled_back(world: World) -> None:
    # A challenger that passes a lenient gate but answers wrong on live traffic.
    spec = load_loop(write_loop(world.folder, params="{invert: true}", gate="accuracy >= 0"))
    controller = Controller(spec, clock=world.clock)
    world.send(200, shift=2.0)
    world.clock.advance(10 * MIN)
    controller.tick()
    assert _states(controller)[-1] == "ROLLING_OUT"
    world.wait_generation(1)
    sent = world.send(200, shift=2.0)
    world.clock.advance(5 * MIN)
    controller.tick()
    history = controller.store.list_loop_transitions(spec.name)
    assert [t.to_state for t in history][-2:] == ["ROLLED_BACK", "IDLE"]
    rolled = history[-2]
    assert "online.accuracy" in rolled.reason
    assert rolled.evidence["analysis"]["canary"]["online.accuracy"] < 0.5
    store = controller.store
    assert store.get_deployment("churn").spec is None
    assert store.get_model_version_by_alias("churn", "champion").version == 1
    assert store.get_model_version_by_alias("churn", "challenger").version == 2  # kept
    world.wait_generation(2)
    after = world.send(40, shift=2.0)
    assert sent["failures"] == after["failures"] == 0
    assert after["versions"] == {"1": 40}
    alerts = store.list_alert_deliveries(spec.name)
    assert alerts == []  # no webhook in this loop.yaml: nothing sent, nothing recorded


def test_a_failing_pipeline_is_recorded_with_its_traceback(world: World) -> None:
    spec = load_loop(write_loop(world.folder, pipeline="fails"))
    controller = Controller(spec, clock=world.clock)
    world.send(200, shift=2.0)
    world.clock.advance(10 * MIN)
    controller.tick()
    history = controller.store.list_loop_transitions(spec.name)
    assert [t.to_state for t in history][-2:] == ["RETRAIN_FAILED", "IDLE"]
    assert "the feature store is down" in history[-2].evidence["traceback"]


def test_two_controllers_on_one_loop(world: World) -> None:
    spec = load_loop(write_loop(world.folder))
    first = Controller(spec, clock=world.clock, owner="first")
    second = Controller(spec, clock=world.clock, owner="second")
    first.tick()
    with pytest.raises(LoopLeaseHeld, match="another controller \\(first\\)"):
        second.tick()
    world.clock.advance(first.lease_ttl_ms + 1)  # the first one died: its lease runs out
    second.tick()
    assert {t.actor for t in second.store.list_loop_transitions(spec.name)} == {"mloop-loop"}
    with pytest.raises(LoopLeaseHeld):
        first.tick()
