"""Alerts to a real webhook (delivered, deduplicated, a hook that fails or hangs never stalls
the loop), the loop's REST routes and `mloop deploy` / `mloop loop` on the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from typer.testing import CliRunner

from mloop.cli import app as cli
from mloop.loop import load_loop
from mloop.loop._alerts import WebhookSink, send_alert
from mloop.server import ServerThread
from mloop.store import Store

T0 = 1_900_000_000_000

pytestmark = pytest.mark.slow  # a real webhook server


class Hook:
    """A webhook: records each JSON body; answers ``status``, or hangs when ``hang``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.hang = False
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            self.bodies.append(await request.json())
            for _ in range(300):  # hangs up to 30 s, or until the test lets it go
                if not self.hang:
                    break
                await asyncio.sleep(0.1)
            return Response(status_code=self.status)

        self.thread = ServerThread(app).start()
        self.url = f"{self.thread.url}/hook"


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.hang = False  # a request still hanging ends now, so the server stops at once
    h.thread.stop()


def _spec(url: str) -> Any:
    return load_loop(
        {
            "name": "l",
            "model": "m",
            "monitor": {"every": "10m", "window": "1h"},
            "alerts": [{"webhook": url, "retries": 2, "timeout": "200ms", "dedup": "1h"}],
        }
    )


def test_alerts_are_delivered_deduplicated_and_recorded(sqlite_store: Store, hook: Hook) -> None:
    spec = _spec(hook.url)
    sqlite_store.ensure_loop("l", "m", spec.to_json(), now=T0)
    sent = send_alert(
        spec, sqlite_store, condition="drift", text="drift on m", details={"x": 1}, now_ms=T0
    )
    assert sent == ["delivered"]
    assert hook.bodies[0]["text"] == "[mloop loop l] drift on m"
    assert hook.bodies[0]["details"] == {"x": 1}
    again = send_alert(
        spec, sqlite_store, condition="drift", text="drift", details={}, now_ms=T0 + 60_000
    )
    assert again == ["deduplicated"] and len(hook.bodies) == 1
    later = send_alert(
        spec, sqlite_store, condition="drift", text="drift", details={}, now_ms=T0 + 3_700_000
    )
    assert later == ["delivered"] and len(hook.bodies) == 2
    statuses = [d.status for d in sqlite_store.list_alert_deliveries("l")]
    assert statuses == ["delivered", "deduplicated", "delivered"]


def test_a_failing_or_hanging_hook_is_retried_then_recorded(
    sqlite_store: Store, hook: Hook
) -> None:
    spec = _spec(hook.url)
    sqlite_store.ensure_loop("l", "m", spec.to_json(), now=T0)
    hook.status = 503
    sink = WebhookSink(spec.alerts[0], sleep=lambda s: None)
    assert send_alert(
        spec, sqlite_store, condition="rollback", text="x", details={}, now_ms=T0, sinks=[sink]
    ) == ["failed"]
    assert len(hook.bodies) == 3  # the first try and two retries
    hook.status, hook.hang = 200, True
    assert send_alert(
        spec, sqlite_store, condition="gate_failed", text="x", details={}, now_ms=T0, sinks=[sink]
    ) == ["failed"]
    failed = sqlite_store.list_alert_deliveries("l")[0]
    assert failed.attempts == 3 and "Timeout" in failed.error
    hook.hang = False
    down = _spec("http://127.0.0.1:9/hook")  # nothing listens on the discard port
    assert send_alert(
        down,
        sqlite_store,
        condition="drift",
        text="x",
        details={},
        now_ms=T0,
        sinks=[WebhookSink(down.alerts[0], sleep=lambda s: None)],
    ) == ["failed"]


def test_loop_routes_over_http(http_store: Store, live_server: str) -> None:
    http_store.create_model_version("m", "runs:/a/model")
    http_store.ensure_loop("l", "m", _spec("https://hooks.example/x").to_json(), now=T0)
    http_store.acquire_loop_lease("l", "c1", ttl_ms=60_000, now=T0)
    http_store.transition_loop(
        "l", owner="c1", expected_seq=0, to_state="MONITORING", context={}, reason="due", now=T0
    )
    status = httpx.get(f"{live_server}/api/v1/loops/l/status").json()
    assert status["state"] == "MONITORING"
    assert status["lease"]["owner"] == "c1"
    assert status["next_action"] == "finish the monitor run"
    history = httpx.get(f"{live_server}/api/v1/loops/l/transitions").json()
    assert [h["to_state"] for h in history] == ["MONITORING"]
    refused = httpx.post(
        f"{live_server}/api/v1/loops/l/lease", json={"owner": "c2", "ttl_ms": 1000, "now": T0}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "LOOP_LEASE_HELD"
    missing = httpx.get(f"{live_server}/api/v1/loops/nope/status")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "LOOP_NOT_FOUND"
    bad = httpx.put(
        f"{live_server}/api/v1/registered-models/m/deployment",
        json={"spec": {"canary": [{"version": 1, "weight": -5}]}},
    )
    assert bad.status_code == 422 and "canary.0.weight" in bad.json()["error"]["message"]


def test_deploy_and_loop_commands(mloop_home: Path) -> None:
    import mloop.registry

    mloop.registry.register_model("/models/a", "m")
    mloop.registry.register_model("/models/b", "m")
    runner = CliRunner()
    env = {"COLUMNS": "200", "NO_COLOR": "1"}
    out = runner.invoke(
        cli, ["deploy", "set", "m", "--weights", "1=90,2=10", "--reason", "c"], env=env
    )
    assert out.exit_code == 0, out.output
    assert "generation 1" in out.stdout and "v2" in out.stdout
    shown = runner.invoke(cli, ["deploy", "show", "m", "--json"], env=env)
    assert json.loads(shown.stdout)["spec"]["canary"][1] == {"version": 2, "weight": 10.0}
    stale = runner.invoke(cli, ["deploy", "clear", "m", "--expected-generation", "0"], env=env)
    assert stale.exit_code == 1 and "generation 1, not 0" in stale.stderr
    bad = runner.invoke(cli, ["deploy", "set", "m", "--weights", "1:90"], env=env)
    assert bad.exit_code == 2 and "VERSION=WEIGHT" in bad.output
    cleared = runner.invoke(cli, ["deploy", "clear", "m"], env=env)
    assert cleared.exit_code == 0 and "no deployment record (generation 2)" in cleared.stdout
    missing = runner.invoke(cli, ["loop", "status", "nope"], env=env)
    assert missing.exit_code == 1 and "no loop named 'nope'" in missing.stderr


def test_a_monitor_run_that_cannot_run_is_recorded_not_raised(mloop_home: Path) -> None:
    import mloop.store
    from mloop.loop import Controller
    from mloop.monitor import PredictionLog
    from mloop.monitor._predformat import RequestRows

    class Clock:
        def now_ms(self) -> int:
            return T0

    log = PredictionLog(mloop.store.current().artifacts, clock=lambda: (T0 - 60_000) / 1000)
    for i in range(120):
        log.record(f"r{i}", None, "ghost", "1", RequestRows(1, {"a": [float(i)]}), [0], 0.001)
    log.close(10)
    spec = load_loop({"name": "g", "model": "ghost", "monitor": {"every": "10m", "window": "1h"}})
    controller = Controller(spec, clock=Clock())
    controller.tick()
    history = controller.store.list_loop_transitions("g")
    assert [t.to_state for t in history] == ["MONITORING", "IDLE"]
    assert "monitor run failed" in history[1].reason and "ghost" in history[1].reason
    result = controller.store.list_monitor_results("g")[0]
    assert result.status == "error" and "NotFound" in result.result["error"]
