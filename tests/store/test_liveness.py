"""Runs whose process died (SIGKILL, a lost machine) do not stay RUNNING: heartbeats, and a
sweep that marks the silent ones KILLED, on every kind of store; and a real killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from mloop.errors import InvalidArgument, RunNotFound
from mloop.store import RunStatus, SqlStore, Store

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _run(store: Store) -> str:
    exp = store.create_experiment(f"e{len(store.list_experiments())}").experiment_id
    return store.create_run(exp).info.run_id


def test_a_silent_run_is_swept(store: Store) -> None:
    silent, alive, legacy, done = (_run(store) for _ in range(4))
    with time_machine.travel(T0, tick=False):
        store.heartbeat(silent)
        store.heartbeat(done)
        store.update_run(done, status="FINISHED")
    with time_machine.travel(T0.replace(minute=20), tick=False):
        store.heartbeat(alive)
        killed = store.sweep_dead_runs(10 * 60_000)
    assert killed == [silent]
    info = store.get_run(silent).info
    assert info.status is RunStatus.KILLED
    assert info.end_time == int(T0.timestamp() * 1000)  # its last sign of life
    assert store.get_run(alive).info.status is RunStatus.RUNNING
    assert store.get_run(legacy).info.status is RunStatus.RUNNING  # never sent one
    assert store.get_run(done).info.status is RunStatus.FINISHED
    with pytest.raises(RunNotFound):
        store.heartbeat("0" * 32)
    with pytest.raises(InvalidArgument):
        store.sweep_dead_runs(5)


@pytest.mark.slow
def test_a_process_killed_with_sigkill_is_swept(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/mloop.db"
    code = (
        "import mloop, time\n"
        "run = mloop.start_run()\n"
        "print(run.run_id, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "MLOOP_TRACKING_URI": db, "MLOOP_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    store = SqlStore(db, str(tmp_path / "artifacts"))
    try:
        deadline = time.monotonic() + 60  # bounds a hang: the first beat is sent at start
        while store.sweep_dead_runs(1000) == [] and time.monotonic() < deadline:
            if store.get_run(run_id).info.status is RunStatus.KILLED:
                break
            time.sleep(0.2)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        assert store.get_run(run_id).info.status is RunStatus.KILLED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        store.close()
