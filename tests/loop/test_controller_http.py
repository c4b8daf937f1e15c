"""The loop end to end against an HTTP store: a real ``mloop server`` on 127.0.0.1 holds the
registry, the deployment record, the loop's state and the artifacts; the served model follows
the record through it; retrain runs land in the loop's ``experiment``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from loop_testlib import ManualClock, Traffic, register_champion, write_loop

import mloop.store
from mloop.loop import Controller, load_loop
from mloop.monitor import PredictionLog
from mloop.serve import create_serve_app
from mloop.server import ServerThread

pytestmark = pytest.mark.slow  # a server, a served model, a pipeline

MIN = 60_000


@pytest.fixture
def over_http(mloop_home: Path, live_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from mloop.store import _context

    monkeypatch.setenv("MLOOP_TRACKING_URI", live_server)
    _context.set_default()
    return live_server


def test_the_loop_promotes_a_retrained_model_through_an_http_store(
    over_http: str, tmp_path: Path
) -> None:
    from mloop.store import HttpStore

    register_champion()
    ctx = mloop.store.current()
    assert isinstance(ctx.store, HttpStore)
    path = write_loop(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        "model: churn\n", "model: churn\nexperiment: churn-retrains\n"
    )
    path.write_text(text, encoding="utf-8")
    spec = load_loop(path)
    assert spec.experiment_name == "churn-retrains"

    clock = ManualClock()
    log = PredictionLog(ctx.artifacts, clock=clock.seconds)
    app = create_serve_app(["models:/churn@champion"], poll_interval_s=0.05, prediction_log=log)
    controller = Controller(spec, clock=clock)
    store = controller.store
    with ServerThread(app) as served, httpx.Client(base_url=served.url, timeout=30) as client:
        traffic = Traffic(served.url)

        def send(n: int) -> dict[str, int]:
            out = traffic.send(n, shift=2.0)
            assert out["failures"] == 0
            assert log.flush(30)
            versions: dict[str, int] = out["versions"]
            return versions

        def generation() -> int:
            got = client.get("/v1/models").json()["models"][0]["deployment"]["generation"]
            return int(got)

        send(200)
        clock.advance(10 * MIN)
        controller.tick()
        states = [t.to_state for t in store.list_loop_transitions(spec.name)]
        assert states[-1] == "ROLLING_OUT", states
        challenger = store.get_model_version_by_alias("churn", "challenger")
        assert challenger.version == 2 and challenger.run_id is not None
        run = store.get_run(challenger.run_id)
        assert store.get_experiment(run.info.experiment_id).name == "churn-retrains"

        for step in range(2):  # 50%, then 100%: each hold sees traffic of the canary
            import time

            deadline = time.monotonic() + 60
            while generation() < step + 1:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            send(60)
            clock.advance(5 * MIN)
            controller.tick()
        states = [t.to_state for t in store.list_loop_transitions(spec.name)]
        assert states[-2:] == ["PROMOTED", "IDLE"], states
        assert store.get_model_version_by_alias("churn", "champion").version == 2
        status = httpx.get(f"{over_http}/api/v1/loops/{spec.name}/status").json()
        assert status["state"] == "IDLE" and status["champion"] == 2
