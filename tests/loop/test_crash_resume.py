"""A controller SIGKILLed in the middle of the loop resumes where it was, in a new process, with
no duplicate retrain, registration, alias move or deployment change; the CLI end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import time_machine
from loop_testlib import frame, register_champion, write_loop

import mloop.store
from mloop.monitor import PredictionLog
from mloop.monitor._predformat import RequestRows

pytestmark = pytest.mark.slow  # controllers in subprocesses, pipelines, models

MLOOP = Path(sys.executable).with_name("mloop")
FAST = {"every: 10m": "every: 1ms", "hold: 5m": "hold: 1ms"}


def _wall_s() -> float:
    """The wall clock the controllers in subprocesses read. Under ``--fake-now`` time-machine
    moves only this process's clock, so the rows and leases are compared on the real one."""
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.time.time()
    return time.time()


class Replicas:
    """What serving replicas would write: drifted, labelled rows of v1 (the champion) and, once
    a canary runs, of v2, with the real clock (the controllers in subprocesses read it).

    One flush a second, as a replica's log writer would: each flush is a segment, and every
    segment is profiled by the monitor and read by the retrain's labelled window, so flushing
    ten times a second made the controllers' work grow with the test's own duration."""

    def __init__(self) -> None:
        self.log = PredictionLog(mloop.store.current().artifacts, clock=_wall_s)
        self.stop = threading.Event()
        self.seed = 1_000
        self.thread = threading.Thread(target=self._run, daemon=True)

    def batch(self, version: str, n: int) -> None:
        X, y = frame(n, shift=2.0, seed=self.seed)
        self.seed += 1
        for i in range(n):
            rid = f"{version}-{self.seed}-{i}"
            row = RequestRows(1, {"a": [float(X.a[i])], "b": [float(X.b[i])]})
            self.log.record(rid, None, "churn", version, row, [int(y[i])], 0.002)
            self.log.record_feedback(rid, int(y[i]))

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            self.batch("1", 25)
            self.batch("2", 25)
            assert self.log.flush(30)

    def __enter__(self) -> Replicas:
        self.batch("1", 200)
        assert self.log.flush(30)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        self.log.close(10)


def _env() -> dict[str, str]:
    settings = mloop.store.current().settings
    return {
        **os.environ,
        "MLOOP_TRACKING_URI": settings.tracking_uri,
        "MLOOP_ARTIFACTS": str(settings.artifacts),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def _controller(loop_file: Path, *, lease_ttl: str) -> subprocess.Popen[str]:
    """``mloop loop run`` ticking every 50 ms with a short lease, as a real process."""
    return subprocess.Popen(
        [str(MLOOP), "loop", "run", str(loop_file), "--interval", "0.05", "--lease-ttl", lease_ttl],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _loop_file(folder: Path) -> Path:
    path = write_loop(folder)
    text = path.read_text(encoding="utf-8")
    for old, new in FAST.items():
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def _use_database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "postgres":
        from mloop.store import _context

        request.getfixturevalue("pg_store")  # a migrated, emptied database
        monkeypatch.setenv("MLOOP_TRACKING_URI", request.getfixturevalue("pg_database"))
        monkeypatch.setenv("MLOOP_ARTIFACTS", str(tmp_path / "artifacts"))
        _context.set_default()
    register_champion()


def _states(name: str) -> list[str]:
    from mloop.errors import LoopNotFound

    try:
        return [t.to_state for t in mloop.store.current().store.list_loop_transitions(name)]
    except LoopNotFound:
        return []


def test_the_lease_lasts_as_long_as_the_option_says(mloop_home: Path, tmp_path: Path) -> None:
    register_champion()
    loop_file = write_loop(tmp_path)  # monitor every 10m: the controller idles and renews
    proc = _controller(loop_file, lease_ttl="2")
    store = mloop.store.current().store
    try:
        deadline = time.monotonic() + 120  # a bound on a hang, not a speed limit
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the controller never took the lease"
            try:
                record = store.get_loop("churn-loop")
            except LookupError:
                record = None
            if record is not None and record.lease_expires is not None:
                break
            time.sleep(0.02)
        left_ms = record.lease_expires - int(_wall_s() * 1000)
        assert left_ms <= 2000  # the option's 2 s, not the default 120 s
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


@pytest.mark.timeout(900)  # pipelines in subprocesses on a shared 2-core machine
@pytest.mark.parametrize(
    ("backend", "kill_in"),
    [
        ("sqlite", "RETRAINING"),
        ("sqlite", "GATING"),
        ("sqlite", "ROLLING_OUT"),
        # One state on PostgreSQL: the store's part is the same for every state.
        pytest.param("postgres", "RETRAINING", marks=pytest.mark.postgres),
    ],
)
def test_sigkill_in_any_state_resumes_with_no_duplicate(
    backend: str,
    kill_in: str,
    request: pytest.FixtureRequest,
    mloop_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use_database(backend, request, tmp_path, monkeypatch)
    loop_file = _loop_file(tmp_path)
    store = mloop.store.current().store
    with Replicas():
        proc = _controller(loop_file, lease_ttl="1")
        deadline = time.monotonic() + 800
        while kill_in not in _states("churn-loop"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"never reached {kill_in}: {_states('churn-loop')}"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        # it printed the transitions it made (the last one may be committed, not yet printed)
        assert "IDLE -> MONITORING" in out
        # A new controller resumes once the dead one's lease (1 s) ran out: until then it is
        # refused with a clear message.
        first = subprocess.run(
            [str(MLOOP), "loop", "run", str(loop_file), "--once", "--lease-ttl", "1"],
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert first.returncode == 0 or "another controller" in first.stderr, first.stderr
        proc = _controller(loop_file, lease_ttl="1")
        try:
            # Done once promoted and idle, and this controller took the lease (the --once run
            # above may have finished the work; until its first tick the controller may not
            # have its SIGTERM handler yet).
            while (
                "PROMOTED" not in _states("churn-loop")
                or _states("churn-loop")[-1] != "IDLE"
                or store.get_loop("churn-loop").lease_owner is None
            ):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, _states("churn-loop")
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err

    states = _states("churn-loop")
    assert states.count("PROMOTED") == 1
    assert states.count("GATING") == 1  # one retrain, one gate
    versions = store.list_model_versions("churn")
    assert [v.version for v in versions] == [2, 1]  # one registration
    assert store.get_model_version_by_alias("churn", "champion").version == 2
    audit = [e for e in store.get_audit_log("churn") if e.actor == "mloop-loop"]
    moves = [(e.action, (e.after or {}).get("alias")) for e in audit]
    assert moves.count(("set_alias", "challenger")) == 1
    assert moves.count(("set_alias", "champion")) == 1
    assert [e.action for e in audit].count("deployment.set") == 2  # 50%, then 100%
    assert [e.action for e in audit].count("deployment.clear") == 1
    assert store.get_deployment("churn").spec is None
    seqs = [t.seq for t in store.list_loop_transitions("churn-loop")]
    assert seqs == list(range(1, len(seqs) + 1))

    from typer.testing import CliRunner

    from mloop.cli import app

    status = CliRunner().invoke(app, ["loop", "status", "churn-loop", "--json"])
    assert status.exit_code == 0, status.output
    info = json.loads(status.stdout)
    assert info["state"] == "IDLE" and info["champion"] == 2
    history = CliRunner().invoke(app, ["loop", "history", "churn-loop"])
    assert "ROLLING_OUT -> PROMOTED" in history.stdout
