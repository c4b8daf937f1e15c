"""A tracking server that is down when a script starts: the script runs to the end with one
warning line, its run gets a local id and waits in the spool, and ``mloop sync`` creates it on
a server started afterwards, with everything logged to it, once (a second replay adds nothing).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mloop.store import HttpStore, RunStatus

pytestmark = pytest.mark.slow  # child processes and a `mloop server`

MLOOP = Path(sys.executable).with_name("mloop")

SCRIPT = """\
import pathlib, sys
import numpy as np
from sklearn.linear_model import LinearRegression
import mloop

mloop.set_experiment("churn")
with mloop.start_run(run_name="offline") as run:
    mloop.log_params({"lr": 0.1, "depth": 4})
    for step in range(3):
        mloop.log_metric("loss", 1.0 / (step + 1))
    mloop.set_tag("team", "risk")
    model = pathlib.Path(sys.argv[1])
    model.write_text("weights")
    mloop.log_artifact(model)
    mloop.autolog(frameworks=["sklearn"])
    LinearRegression().fit(np.arange(8.0).reshape(4, 2), np.arange(4.0))  # autologged
    with mloop.start_run(run_name="fold-0", nested=True) as child:
        mloop.log_metric("auc", 0.9)
print(run.run_id, child.run_id)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path, uri: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLOOP_HOME": str(home),
        "MLOOP_TRACKING_URI": uri,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def _mloop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLOOP), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


class _Server:
    """``mloop server`` in its own process, over its own SQLite store."""

    def __init__(self, home: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "MLOOP_HOME": str(home), "NO_COLOR": "1"}
        env.pop("MLOOP_TRACKING_URI", None)
        self.proc = subprocess.Popen(
            [str(MLOOP), "server", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_healthy(self) -> None:
        # Bounds a hang only; how fast the server starts is a benchmark's business.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mloop server exited: {self.proc.communicate()[1]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail("mloop server did not answer /healthz")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def test_a_script_runs_offline_and_sync_creates_its_runs_once(tmp_path: Path) -> None:
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    home = tmp_path / "client"
    env = _env(home, uri)

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "model.txt")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr  # one warning when it starts, one notice at exit
    assert lines[0].startswith(f"mloop: cannot reach the mloop server at {uri}")
    assert "logging offline to the spool" in lines[0] and "`mloop sync`" in lines[0]
    assert "wait in the local spool" in lines[1] and "`mloop sync`" in lines[1]
    run_id, child_id = done.stdout.split()
    assert len(run_id) == 32 and int(run_id, 16) >= 0  # the server's id format

    # A command against the server while it is still down: one line, a non-zero exit.
    down = _mloop(env, "runs", "list")
    assert down.returncode != 0
    assert "Traceback" not in down.stderr + down.stdout
    assert len((down.stderr + down.stdout).strip().splitlines()) == 1, down.stderr

    spool_before_sync = tmp_path / "spool-copy"
    shutil.copytree(home / "spool", spool_before_sync)

    server = _Server(tmp_path / "server", port)
    try:
        server.wait_healthy()
        synced = _mloop(env, "sync", "--timeout", "60")
        assert synced.returncode == 0, synced.stderr + synced.stdout
        assert "spool empty" in synced.stdout
        _check_server(uri, run_id, child_id)

        again = _mloop(env, "sync", "--timeout", "60")
        assert again.returncode == 0 and "spool empty" in again.stdout

        # The same records replayed a second time (a sync that stopped before it could mark
        # them sent) change nothing: same runs, same points, same artifact.
        shutil.rmtree(home / "spool")
        shutil.copytree(spool_before_sync, home / "spool")
        replayed = _mloop(env, "sync", "--timeout", "60")
        assert replayed.returncode == 0, replayed.stderr + replayed.stdout
        _check_server(uri, run_id, child_id)
    finally:
        server.stop()


def _check_server(uri: str, run_id: str, child_id: str) -> None:
    store = HttpStore(uri)
    try:
        run = store.get_run(run_id)
        assert run.info.run_name == "offline"
        assert run.info.status is RunStatus.FINISHED
        assert store.get_experiment(run.info.experiment_id).name == "churn"
        assert run.data.params["lr"] == "0.1" and run.data.params["depth"] == "4"
        assert run.data.params["fit_intercept"] == "True"  # autologged offline
        assert run.data.metrics["training_r2_score"].value == 1.0
        assert run.data.tags["team"] == "risk"
        history = store.get_metric_history(run_id, "loss")
        assert list(history.steps) == [0, 1, 2]
        assert list(history.values) == [1.0, 0.5, 1.0 / 3]
        assert {a.path for a in store.list_artifacts(run_id)} == {"model", "model.txt"}
        model_files = {a.path.rsplit("/", 1)[-1] for a in store.list_artifacts(run_id, "model")}
        assert "mloop-model.yaml" in model_files
        child = store.get_run(child_id)
        assert child.info.parent_run_id == run_id
        assert list(store.get_metric_history(child_id, "auc").values) == [0.9]
        page = store.search_runs([run.info.experiment_id])
        assert sorted(r.info.run_id for r in page.runs) == sorted([run_id, child_id])
    finally:
        store.close()


def test_runs_started_offline_wait_in_the_spool_in_order(
    mloop_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    import mloop

    mloop.set_tracking_uri(f"http://127.0.0.1:{_free_port()}")  # nobody listens there
    by_name = mloop.set_experiment("churn")
    assert by_name.experiment_id == "offline:churn"
    with mloop.start_run(run_name="a") as first:
        mloop.log_param("lr", 0.1)
    mloop.set_experiment(experiment_id="7")
    with mloop.start_run(run_name="b") as second:
        mloop.log_metric("loss", 0.5)
    status = mloop.flush()
    assert status.spooled == 6  # two creations, a param batch, a metric batch, two run ends
    offline_lines = [r for r in caplog.records if "logging offline" in r.getMessage()]
    assert len(offline_lines) == 1  # said once, however many calls found the server down

    lines = [x for f in status.spool_files for x in Path(f).read_bytes().split(b"\n") if x]
    records = [json.loads(line) for line in lines]
    kinds = [
        next(k for k in ("create_run", "update", "params", "metrics") if r.get(k)) for r in records
    ]
    assert kinds == ["create_run", "params", "update", "create_run", "metrics", "update"]
    assert records[0]["create_run"]["run_id"] == first.run_id
    assert records[0]["create_run"]["experiment_name"] == "churn"
    assert records[3]["create_run"]["run_id"] == second.run_id
    assert records[3]["create_run"]["experiment_id"] == "7"
    assert first.run_id != second.run_id and all(
        len(r) == 32 and r == r.lower() for r in (first.run_id, second.run_id)
    )
