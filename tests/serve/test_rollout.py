"""Rollouts against a real registry: an alias that moves is followed with no failed request, a
registry outage does not stop serving, canary weights, sticky callers and shadow copies."""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from mloop_serve_testlib import (
    RegistryServer,
    StartServe,
    mloop_serve,
    predict_x,
    save_scaler,
    terminate,
    wait_for,
)

import mloop.registry
from mloop.server import ServerThread, create_app

pytestmark = pytest.mark.slow  # a subprocess, a server or Ray in every test

POLL = 0.1
MLOOP = Path(sys.executable).with_name("mloop")


def _register(tmp_path: Path, factors: list[float], **kwargs: Any) -> None:
    """Versions 1.. of model ``m``: ``Scaler(factor)`` each; ``@champion`` -> 1."""
    for i, factor in enumerate(factors, start=1):
        source = save_scaler(tmp_path / f"m{i}", factor, **kwargs.get(str(i), {}))
        mloop.registry.register_model(source, "m")
    mloop.registry.set_alias("m", "champion", 1)


class _Traffic:
    """Threads posting predicts back to back until stopped; every answer is kept in order."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: list[list[tuple[int, str | None, float | None]]] = [
            [] for _ in range(threads)
        ]
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def _run(self, i: int) -> None:
        out = self.answers[i]
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                x = float(len(out) % 7 + 1)
                try:
                    r = predict_x(client, "m", x)
                except httpx.HTTPError as exc:  # counted as a failure
                    out.append((-1, repr(exc), None))
                    continue
                if r.status_code != 200:
                    out.append((r.status_code, r.text, None))
                    continue
                body = r.json()
                out.append((200, body["model"]["version"], body["predictions"][0] / x))

    def __enter__(self) -> _Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def versions(self) -> list[str]:
        return [str(v) for answers in self.answers for _, v, _ in answers]


def test_alias_move_swaps_with_no_failed_request(
    mloop_home: Path, tmp_path: Path, start_serve: StartServe
) -> None:
    _register(tmp_path, [2.0, 3.0])
    served = start_serve(["models:/m@champion"], poll_interval_s=POLL)
    assert predict_x(served.client, "m", 1.0).json()["model"] == {"name": "m", "version": "1"}
    with _Traffic(served.url) as traffic:
        wait_for(lambda: sum(map(len, traffic.answers)) >= 30, 60, "traffic before the move")
        mloop.registry.set_alias("m", "champion", 2, reason="test")
        wait_for(lambda: "2" in traffic.versions(), 60, "version 2 to answer")
        wait_for(
            lambda: all(a and a[-1][1] == "2" for a in traffic.answers), 60, "every client on v2"
        )
        settled = sum(map(len, traffic.answers))
        wait_for(lambda: sum(map(len, traffic.answers)) >= settled + 30, 60, "traffic on v2")
    failures = [a for answers in traffic.answers for a in answers if a[0] != 200]
    assert failures == []
    total = sum(map(len, traffic.answers))
    assert total > 60
    for answers in traffic.answers:
        seen = [v for _, v, _ in answers]
        # Each client sees v1, then v2, never back; and each version answers with its own model.
        first_v2 = seen.index("2")
        assert set(seen[:first_v2]) == {"1"} and set(seen[first_v2:]) == {"2"}
        assert {(v, ratio) for _, v, ratio in answers} == {("1", 2.0), ("2", 3.0)}
    listing = served.client.get("/v1/models").json()["models"][0]
    assert listing["version"] == "2"
    assert listing["versions"] == ["2"]  # v1 was retired once its requests were answered
    assert listing["following"] is True
    assert listing["registry_error"] is None
    assert served.client.get("/readyz").status_code == 200
    metrics = served.client.get("/metrics").text
    assert 'mloop_serve_requests_total{model="m",version="2"}' in metrics


def test_latest_is_followed(mloop_home: Path, tmp_path: Path, start_serve: StartServe) -> None:
    _register(tmp_path, [2.0])
    served = start_serve(["models:/m"], poll_interval_s=POLL)
    assert predict_x(served.client, "m", 1.0).json()["model"]["version"] == "1"
    mloop.registry.register_model(save_scaler(tmp_path / "m2", 5.0), "m")
    wait_for(
        lambda: predict_x(served.client, "m", 1.0).json()["model"]["version"] == "2",
        60,
        "latest to be followed",
    )
    assert predict_x(served.client, "m", 2.0).json()["predictions"] == [10.0]


def test_pinned_version_is_not_followed(
    mloop_home: Path, tmp_path: Path, start_serve: StartServe
) -> None:
    _register(tmp_path, [2.0, 3.0])
    served = start_serve(["models:/m/1"], poll_interval_s=POLL)
    assert served.client.get("/v1/models").json()["models"][0]["following"] is False
    assert served.app.state.serve.follower.active is False


def test_registry_outage_keeps_serving(
    registry_server: RegistryServer,
    tmp_path: Path,
    start_serve: StartServe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = registry_server.registry
    registry.register_model(save_scaler(tmp_path / "m1", 2.0), "m")
    registry.set_alias("m", "champion", 1)
    served = start_serve(["models:/m@champion"], poll_interval_s=POLL)
    follower = served.app.state.serve.follower
    caplog.set_level(logging.INFO, logger="mloop.serve")
    registry_server.thread.stop()  # the registry is gone: connections are refused
    polls = follower.polls
    with _Traffic(served.url, threads=2) as traffic:
        wait_for(lambda: follower.polls >= polls + 10, 60, "ten polls during the outage")
        assert served.client.get("/readyz").status_code == 200
    failures = [a for answers in traffic.answers for a in answers if a[0] != 200]
    assert failures == []
    assert set(traffic.versions()) == {"1"}
    listing = served.client.get("/v1/models").json()["models"][0]
    assert "StoreUnavailable" in listing["registry_error"]
    assert listing["version"] == "1"
    warnings = [r for r in caplog.records if "cannot resolve models:/m@champion" in r.message]
    assert len(warnings) == 1, [r.message for r in warnings]  # once per outage, not per poll
    assert warnings[0].levelno == logging.WARNING
    assert "still serving v1" in warnings[0].message
    # The registry comes back (same port, same database) with the alias moved: followed again.
    registry.register_model(save_scaler(tmp_path / "m2", 3.0), "m")
    registry.set_alias("m", "champion", 2)
    port = int(registry_server.url.rsplit(":", 1)[1])
    with ServerThread(create_app(registry.store), port=port):
        wait_for(
            lambda: predict_x(served.client, "m", 1.0).json()["model"]["version"] == "2",
            60,
            "the swap once the registry answers again",
        )
        assert served.client.get("/v1/models").json()["models"][0]["registry_error"] is None
    assert any("the registry answers again" in r.message for r in caplog.records)


def test_new_version_that_fails_to_warm_is_retried(
    mloop_home: Path, tmp_path: Path, start_serve: StartServe, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken"
    _register(tmp_path, [2.0, 3.0], **{"2": {"fail_while": str(broken)}})
    broken.touch()  # v2 raises on every call from now on (its warm-up too)
    served = start_serve(["models:/m@champion"], poll_interval_s=POLL)
    follower = served.app.state.serve.follower
    caplog.set_level(logging.INFO, logger="mloop.serve")
    mloop.registry.set_alias("m", "champion", 2)
    polls = follower.polls
    wait_for(lambda: follower.polls >= polls + 5, 60, "polls while v2 cannot warm")
    r = predict_x(served.client, "m", 1.0)
    assert r.status_code == 200 and r.json()["model"]["version"] == "1"
    listing = served.client.get("/v1/models").json()["models"][0]
    assert listing["version"] == "1"
    assert "broken while" in listing["load_errors"]["models:/m@champion"]
    errors = [r for r in caplog.records if "failed to load or warm" in r.message]
    assert len(errors) == 1  # logged once; retried quietly at each poll
    assert served.client.get("/readyz").status_code == 200
    broken.unlink()  # fixed: the next poll loads it
    wait_for(
        lambda: predict_x(served.client, "m", 1.0).json()["model"]["version"] == "2",
        60,
        "v2 once it warms",
    )
    assert served.client.get("/v1/models").json()["models"][0]["load_errors"] == {}


def _policy(**model: Any) -> dict[str, Any]:
    return {"models": {"m": model}}


def test_canary_by_weight(mloop_home: Path, tmp_path: Path, start_serve: StartServe) -> None:
    _register(tmp_path, [2.0, 3.0])
    policy = _policy(
        canary=[
            {"uri": "models:/m@champion", "weight": 50},
            {"version": 2, "weight": 50},
        ]
    )
    served = start_serve(["models:/m@champion"], policy=policy, poll_interval_s=None)
    counts: Counter[str] = Counter()
    for i in range(200):
        r = predict_x(served.client, "m", float(i + 1))
        assert r.status_code == 200, r.text
        version = r.json()["model"]["version"]
        # The answer names the version that made it, and that version made it.
        assert r.json()["predictions"][0] == (i + 1) * {"1": 2.0, "2": 3.0}[version]
        counts[version] += 1
    assert set(counts) == {"1", "2"}
    assert 60 <= counts["1"] <= 140, counts  # 50/50 over 200: more than 5 sigma of slack
    described = served.client.get("/v1/models").json()["models"][0]["policy"]
    assert [(c["version"], c["weight"]) for c in described["canary"]] == [("1", 50), ("2", 50)]


def test_canary_weights_are_followed_per_entry(
    mloop_home: Path, tmp_path: Path, start_serve: StartServe
) -> None:
    _register(tmp_path, [2.0, 3.0, 4.0])
    policy = _policy(
        canary=[{"uri": "models:/m@champion", "weight": 1}, {"version": 2, "weight": 0}]
    )
    served = start_serve(["models:/m@champion"], policy=policy, poll_interval_s=POLL)
    assert {predict_x(served.client, "m", 1.0).json()["model"]["version"] for _ in range(20)} == {
        "1"
    }  # weight 0: never picked
    mloop.registry.set_alias("m", "champion", 3)
    wait_for(
        lambda: predict_x(served.client, "m", 1.0).json()["model"]["version"] == "3",
        60,
        "the canary's alias entry to follow the alias",
    )
    # v2 stays loaded (the canary pins it), v1 was retired.
    assert served.client.get("/v1/models").json()["models"][0]["versions"] == ["2", "3"]


def test_sticky_key_pins_callers(mloop_home: Path, tmp_path: Path, start_serve: StartServe) -> None:
    _register(tmp_path, [2.0, 3.0])
    policy = _policy(
        canary=[{"version": 1, "weight": 50}, {"version": 2, "weight": 50}],
        sticky_key="X-User-ID",
    )
    first = start_serve(["models:/m@champion"], policy=policy, poll_interval_s=None)
    second = start_serve(["models:/m@champion"], policy=policy, poll_interval_s=None)
    pinned: dict[str, str] = {}
    for user in (f"user-{i}" for i in range(30)):
        seen = {
            predict_x(c, "m", 1.0, headers={"x-user-id": user}).json()["model"]["version"]
            for c in (first.client, second.client)  # two replicas agree
            for _ in range(4)
        }
        assert len(seen) == 1, (user, seen)
        pinned[user] = seen.pop()
        # The same key in the body pins the same way (for callers that cannot set headers).
        body = {"records": [{"x": 1.0}], "X-User-ID": user}
        r = first.client.post("/v1/models/m:predict", json=body)
        assert r.json()["model"]["version"] == pinned[user]
    assert set(pinned.values()) == {"1", "2"}


def test_shadow_gets_copies(mloop_home: Path, tmp_path: Path, start_serve: StartServe) -> None:
    record = tmp_path / "shadow-calls.txt"
    _register(tmp_path, [2.0, 3.0], **{"2": {"record": str(record)}})
    served = start_serve(["models:/m@champion"], policy=_policy(shadow=2), poll_interval_s=None)
    record.unlink()  # drop the warm-up's call
    calls: list[tuple[str, str, int, Any, bool]] = []
    served.app.state.serve.on_prediction = (
        lambda rid, version, inputs, predictions, latency, shadow=False: calls.append(
            (rid, version.version, inputs.rows, predictions, shadow)
        )
    )
    for i in range(20):
        r = predict_x(served.client, "m", float(i), headers={"x-request-id": f"r{i}"})
        assert r.status_code == 200
        assert r.json()["model"]["version"] == "1"  # the shadow never answers
        assert r.json()["predictions"] == [2.0 * i]

    def shadow_rows() -> int:  # one line per call, with its row count (copies may batch)
        return sum(int(n) for n in record.read_text().split()) if record.exists() else 0

    wait_for(lambda: shadow_rows() >= 20, 60, "20 shadow rows")
    assert shadow_rows() == 20
    wait_for(lambda: len(calls) == 40, 60, "the hook to see 20 answers and 20 shadow answers")
    main = sorted(c for c in calls if not c[4])
    shadow = sorted(c for c in calls if c[4])
    assert [(c[0], c[1]) for c in main] == sorted((f"r{i}", "1") for i in range(20))
    assert [(c[0], c[1]) for c in shadow] == sorted((f"r{i}", "2") for i in range(20))
    assert all(c[2] == 1 for c in calls)
    described = served.client.get("/v1/models").json()["models"][0]["policy"]["shadow"]
    assert described["sent"] == 20 and described["dropped"] == 0
    assert described["disagreed"] == 19  # x = 0 is the one row where 2x == 3x


def test_slow_or_failing_shadow_never_costs_the_caller(
    mloop_home: Path, tmp_path: Path, start_serve: StartServe, caplog: pytest.LogCaptureFixture
) -> None:
    release = tmp_path / "release-the-shadow"
    _register(tmp_path, [2.0, 3.0], **{"2": {"hold": str(release)}})
    served = start_serve(
        ["models:/m@champion"],
        policy=_policy(shadow="models:/m/2", shadow_max_pending=2),
        poll_interval_s=None,
    )
    caplog.set_level(logging.INFO, logger="mloop.serve")
    # The shadow holds every copy until released: each caller is answered while its copy
    # still waits, so no answer can have waited for the shadow.
    for i in range(10):
        r = predict_x(served.client, "m", float(10 + i))
        assert r.status_code == 200 and r.json()["model"]["version"] == "1"
        assert r.json()["predictions"] == [2.0 * (10 + i)]
    shadow = served.client.get("/v1/models").json()["models"][0]["policy"]["shadow"]
    assert (shadow["pending"], shadow["sent"], shadow["failed"]) == (2, 0, 0)
    assert shadow["dropped"] == 8  # two in flight at most: the rest of the burst is dropped
    assert any("copies dropped" in r.message for r in caplog.records)
    release.touch()
    wait_for(
        lambda: (
            served.client.get("/v1/models").json()["models"][0]["policy"]["shadow"]["sent"] == 2
        ),
        60,
        "the two held copies to finish once released",
    )
    r = predict_x(served.client, "m", 666.0)  # v1 raises on 666 too: an error is its own
    assert r.status_code == 500


@pytest.mark.slow
def test_cli_follows_the_alias(mloop_home: Path, tmp_path: Path) -> None:
    _register(tmp_path, [2.0, 3.0])
    with (
        mloop_serve("models:/m@champion", "--poll-interval", "0.2") as (proc, url),
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        assert predict_x(client, "m", 1.0).json()["model"]["version"] == "1"
        mloop.registry.set_alias("m", "champion", 2)
        wait_for(
            lambda: predict_x(client, "m", 1.0).json()["model"]["version"] == "2",
            60,
            "the CLI server to follow the alias",
        )
        err = terminate(proc)
    assert proc.returncode == 0, err
    assert "m: models:/m@champion now serves v2 (was v1)" in err
