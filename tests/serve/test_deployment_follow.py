"""Replicas follow the deployment record of their model: a split written in the store (by the
loop controller or `mloop deploy set`) reaches every `mloop serve` with no failed request; a
cleared record gives the served URI back; a `--policy` file wins; a bad record keeps the old
split."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from mloop_serve_testlib import (
    StartServe,
    mloop_serve,
    predict_x,
    terminate,
    wait_for,
)
from test_rollout import _register, _Traffic

import mloop.registry
import mloop.store
from mloop.registry import Registry

pytestmark = pytest.mark.slow  # a server or a subprocess in every test

POLL = 0.1


def _versions(client: httpx.Client, n: int = 60) -> set[str]:
    answers = [predict_x(client, "m", 1.0) for _ in range(n)]
    failed = [(r.status_code, r.text) for r in answers if r.status_code != 200]
    assert failed == []
    return {r.json()["model"]["version"] for r in answers}


def test_a_replica_follows_set_and_clear_with_no_failed_request(
    mloop_home: Path, tmp_path: Path, start_serve: StartServe
) -> None:
    _register(tmp_path, [2.0, 3.0])
    served = start_serve(["models:/m@champion"], poll_interval_s=POLL)
    registry = Registry(actor="test")
    assert _versions(served.client, 10) == {"1"}
    with _Traffic(served.url) as traffic:
        wait_for(lambda: sum(map(len, traffic.answers)) >= 20, 60, "traffic before the split")
        record = registry.set_deployment(
            "m",
            {"canary": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]},
            expected_generation=0,
            reason="canary v2",
        )
        wait_for(lambda: "2" in traffic.versions(), 60, "v2 to take its share")
        listing = served.client.get("/v1/models").json()["models"][0]
        assert listing["deployment"] == {"follows": True, "generation": 1, "error": None}
        assert listing["versions"] == ["1", "2"]
        registry.set_deployment(
            "m",
            {"canary": [{"version": 2, "weight": 100}]},
            expected_generation=record.generation,
        )
        wait_for(
            lambda: (
                served.client.get("/v1/models").json()["models"][0]["deployment"]["generation"] == 2
            ),
            60,
            "generation 2",
        )
        # After the swap each client gets v2 only (past the one request it had in flight).
        marks = [len(a) for a in traffic.answers]
        wait_for(
            lambda: all(len(a) >= m + 6 for a, m in zip(traffic.answers, marks, strict=True)),
            60,
            "every client on v2",
        )
        after = {a[1] for ans, m in zip(traffic.answers, marks, strict=True) for a in ans[m + 1 :]}
        assert after == {"2"}
        registry.clear_deployment("m", reason="rolled back")
        wait_for(lambda: _versions(served.client, 5) == {"1"}, 60, "the served URI again")
        settled = sum(map(len, traffic.answers))
        wait_for(lambda: sum(map(len, traffic.answers)) >= settled + 30, 60, "traffic on v1")
    failures = [a for answers in traffic.answers for a in answers if a[0] != 200]
    assert failures == []
    # Each version answered with its own model.
    assert {(v, r) for answers in traffic.answers for _, v, r in answers} == {
        ("1", 2.0),
        ("2", 3.0),
    }
    listing = served.client.get("/v1/models").json()["models"][0]
    assert listing["deployment"]["generation"] == 3
    assert "policy" not in listing
    wait_for(
        lambda: served.client.get("/v1/models").json()["models"][0]["versions"] == ["1"],
        60,
        "v2 retired",
    )
    metrics = served.client.get("/metrics").text
    assert 'mloop_serve_deployment_generation{model="m"} 3.0' in metrics


def test_a_policy_file_wins_over_the_record(
    mloop_home: Path, tmp_path: Path, start_serve: StartServe
) -> None:
    _register(tmp_path, [2.0, 3.0])
    policy = {"models": {"m": {"canary": [{"version": 1, "weight": 100}]}}}
    served = start_serve(["models:/m@champion"], poll_interval_s=POLL, policy=policy)
    Registry().set_deployment("m", {"canary": [{"version": 2, "weight": 100}]})
    follower = served.app.state.serve.follower
    polls = follower.polls
    wait_for(lambda: follower.polls >= polls + 5, 60, "polls after the record was set")
    assert _versions(served.client, 20) == {"1"}
    listing = served.client.get("/v1/models").json()["models"][0]
    assert listing["deployment"]["follows"] is False


def test_no_deployment_ignores_records(
    mloop_home: Path, tmp_path: Path, start_serve: StartServe
) -> None:
    _register(tmp_path, [2.0, 3.0])
    Registry().set_deployment("m", {"canary": [{"version": 2, "weight": 100}]})
    served = start_serve(["models:/m@champion"], poll_interval_s=POLL, deployments=False)
    follower = served.app.state.serve.follower
    polls = follower.polls
    wait_for(lambda: follower.polls >= polls + 3, 60, "polls")
    assert _versions(served.client, 20) == {"1"}


def test_a_record_that_does_not_load_keeps_the_previous_split(
    mloop_home: Path,
    tmp_path: Path,
    start_serve: StartServe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _register(tmp_path, [2.0, 3.0])
    served = start_serve(["models:/m@champion"], poll_interval_s=POLL)
    caplog.set_level(logging.INFO, logger="mloop.serve")
    store = mloop.store.current().store
    # Written past the registry's checks, as an older client could: version 9 does not exist.
    store.set_deployment("m", {"canary": [{"version": 9, "weight": 100}]})
    follower = served.app.state.serve.follower
    polls = follower.polls
    wait_for(lambda: follower.polls >= polls + 5, 60, "polls with the bad record")
    assert _versions(served.client, 20) == {"1"}
    listing = served.client.get("/v1/models").json()["models"][0]
    assert "generation 1" in listing["deployment"]["error"]
    assert listing["deployment"]["generation"] == 0
    errors = [r for r in caplog.records if "cannot be applied" in r.message]
    assert len(errors) == 1  # logged once, retried at every poll
    store.set_deployment("m", {"canary": [{"version": 2, "weight": 100}]})
    wait_for(lambda: _versions(served.client, 5) == {"2"}, 60, "the fixed record")
    assert served.client.get("/v1/models").json()["models"][0]["deployment"]["error"] is None


def test_the_cli_server_takes_the_record_at_start_and_follows_it(
    mloop_home: Path, tmp_path: Path
) -> None:
    _register(tmp_path, [2.0, 3.0])
    mloop.registry.Registry().set_deployment("m", {"canary": [{"version": 2, "weight": 100}]})
    with (
        mloop_serve("models:/m@champion", "--poll-interval", "0.2") as (proc, url),
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        wait_for(lambda: _versions(client, 5) == {"2"}, 60, "the record at start")
        mloop.registry.Registry().clear_deployment("m")
        wait_for(lambda: _versions(client, 5) == {"1"}, 60, "the cleared record")
        err = terminate(proc)
    assert proc.returncode == 0, err
    assert "deployment record generation 2 applied" in err
