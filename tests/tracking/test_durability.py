"""Faults: a server that goes away, eight writers at once, a process killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mloop._core import load_settings
from mloop.server import ServerThread, create_app
from mloop.store import SqlStore
from mloop.tracking import Client

pytestmark = pytest.mark.slow


def _python(code: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[str]:
    full_env = {**os.environ, **env}
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_a_server_outage_spools_and_replays_in_order(tmp_path: Path) -> None:
    backend = SqlStore(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "art"))
    server = ServerThread(create_app(backend)).start()
    port = server.port
    settings = load_settings(
        home=tmp_path / "client-home",
        tracking_uri=server.url,
        spool_retry_s=0.2,
        log_batch_wait_ms=20,
    )
    client = Client(settings=settings)
    exp = client.create_experiment("outage")
    run_id = client.create_run(exp.experiment_id).info.run_id
    for i in range(100):
        client.log_metric(run_id, "loss", float(i))
    assert client.flush().complete

    server.stop()
    for i in range(100, 300):
        client.log_metric(run_id, "loss", float(i))
    client.log_param(run_id, "phase", "outage")
    status = client.flush()  # returns: the points are safe in the spool, not lost
    assert not status.complete
    assert status.spooled > 0
    assert status.spool_files and Path(status.spool_files[0]).exists()
    assert client.flush(timeout=0.3).pending > 0  # still down: says what is pending

    revived = ServerThread(create_app(backend), port=port).start()
    try:
        status = client.flush(timeout=20)
        assert status.complete, status
        hist = backend.get_metric_history(run_id, "loss")
        assert hist.values.tolist() == [float(i) for i in range(300)]
        assert hist.steps.tolist() == list(range(300))
        assert backend.get_run(run_id).data.params == {"phase": "outage"}
        assert not list((tmp_path / "client-home" / "spool").glob("*.jsonl"))
    finally:
        client._writer.close()
        client.store.close()
        revived.stop()
        backend.close()


def test_an_orphaned_spool_is_replayed_by_the_next_process(tmp_path: Path) -> None:
    backend = SqlStore(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "art"))
    server = ServerThread(create_app(backend)).start()
    port = server.port
    exp = backend.create_experiment("orphan")
    run_id = backend.create_run(exp.experiment_id).info.run_id
    server.stop()  # the training process will find the server down the whole time

    home = tmp_path / "home"
    env = {
        "MLOOP_HOME": str(home),
        "MLOOP_TRACKING_URI": f"http://127.0.0.1:{port}",
        "MLOOP_SPOOL_RETRY_S": "0.2",
    }
    proc = _python(
        f"""
        import mloop
        c = mloop.Client()
        for i in range(50):
            c.log_metric({run_id!r}, "acc", i / 50)
        s = c.flush()
        print("spooled", s.spooled)
        """,
        env,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "spooled" in out and "spooled 0" not in out
    assert list((home / "spool").glob("spool-*.jsonl"))

    revived = ServerThread(create_app(backend), port=port).start()
    try:
        proc = _python(
            """
            import mloop
            s = mloop.Client().flush(timeout=20)
            print("complete", s.complete)
            """,
            env,
        )
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "complete True" in out
        assert len(backend.get_metric_history(run_id, "acc")) == 50
        assert not list((home / "spool").glob("spool-*.jsonl"))
    finally:
        revived.stop()
        backend.close()


_WRITER = """
import os, sys, mloop
run_id = sys.argv[1]
c = mloop.Client()
n = int(os.environ["POINTS"])
who = os.environ["WHO"]
for i in range(n):
    c.log_metric(run_id, f"m{who}", float(i))
    if i % 500 == 0:
        c.set_tag(run_id, f"t{who}", str(i))
c.log_param(run_id, f"p{who}", who)
c.flush()
print("ok")
"""


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_eight_processes_log_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        uri = request.getfixturevalue("pg_database")
    store = SqlStore(uri, str(tmp_path / "art"))
    exp = store.create_experiment(f"concurrent-{backend}")
    run_id = store.create_run(exp.experiment_id).info.run_id
    points = 3000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, run_id],
            env={
                **os.environ,
                "MLOOP_TRACKING_URI": uri,
                "MLOOP_ARTIFACTS": str(tmp_path / "art"),
                "MLOOP_HOME": str(tmp_path / f"home{i}"),
                # Small, frequent batches: the most contention for the write lock.
                "MLOOP_LOG_BATCH_SIZE": "50",
                "MLOOP_LOG_BATCH_WAIT_MS": "1",
                "POINTS": str(points),
                "WHO": str(i),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert "locked" not in err.lower()
        assert out.strip() == "ok"
    run = store.get_run(run_id)
    assert run.data.params == {f"p{i}": str(i) for i in range(8)}
    for i in range(8):
        hist = store.get_metric_history(run_id, f"m{i}")
        assert hist.values.tolist() == [float(j) for j in range(points)]
    store.close()


def test_sigkill_right_after_flush_loses_nothing(tmp_path: Path) -> None:
    env = {"MLOOP_HOME": str(tmp_path / "home")}
    proc = _python(
        """
        import sys, time, mloop
        with mloop.start_run() as run:
            for i in range(50_000):
                mloop.log_metric("loss", float(i))
            mloop.log_param("lr", 0.1)
            mloop.flush()
            print(run.run_id, flush=True)
            # Keep logging: these may be lost, the ones before flush() may not.
            for i in range(10_000_000):
                mloop.log_metric("after", float(i))
        """,
        env,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(run_id) == 32

    store = SqlStore(f"sqlite:///{tmp_path / 'home' / 'mloop.db'}", str(tmp_path / "art"))
    hist = store.get_metric_history(run_id, "loss")
    assert len(hist) == 50_000
    assert hist.values[-1] == 49_999.0
    assert store.get_run(run_id).data.params == {"lr": "0.1"}
    store.close()


def test_back_pressure_bounds_the_queue(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, log_queue_size=1_000, log_batch_size=100)
    client = Client(settings=settings)
    exp = client.create_experiment("bp")
    run_id = client.create_run(exp.experiment_id).info.run_id
    peak = 0
    start = time.monotonic()
    for i in range(20_000):
        client.log_metric(run_id, "m", float(i))
        peak = max(peak, len(client._writer._ops))
    assert peak <= 1_000 + 1
    assert client.flush().complete
    assert len(client.get_metric_history(run_id, "m")) == 20_000
    assert time.monotonic() - start < 60
    client._writer.close()
    client.store.close()


def test_a_spool_replayed_twice_writes_each_batch_once(tmp_path: Path) -> None:
    """A crash between sending a spooled batch and recording that it was sent makes the next
    process send it again; the batch id keeps it from being written twice."""
    from mloop.tracking._spool import Spool

    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "art"))
    run_id = store.create_run(store.create_experiment("replay").experiment_id).info.run_id
    spool = Spool(tmp_path / "spool")
    for b in range(3):
        spool.append(
            {
                "run_id": run_id,
                "batch_id": f"{b:032d}",
                "params": {},
                "tags": {},
                "metrics": [["m", float(b * 10 + i), b * 10 + i, 0] for i in range(10)],
            }
        )
    records = []
    spool.replay(records.append)  # read the records as a replay would, then "crash"
    for record in records[:2]:
        store.log_batch(record["run_id"], metrics=record["metrics"], batch_id=record["batch_id"])
    for record in records:  # the next process replays all three
        store.log_batch(record["run_id"], metrics=record["metrics"], batch_id=record["batch_id"])
    assert store.get_metric_history(run_id, "m").values.tolist() == [float(i) for i in range(30)]
    store.close()
