"""``mloop server``: a real process on a free port, answering /healthz."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mloop.cli._server import worker_app

MLOOP = Path(sys.executable).with_name("mloop")


class Server:
    def __init__(self, home: Path, port: int, *args: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [str(MLOOP), "server", "--port", str(port), "--log-level", "warning", *args],
            env={**os.environ, "MLOOP_HOME": str(home), "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        """Wait for the first 200 from /healthz; the timeout only bounds a hang (how fast the
        server starts is a benchmark: benchmarks/tracking.py, "server cold start")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"mloop server exited with {self.proc.returncode}:\n{out}\n{err}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        pytest.fail(f"mloop server did not answer /healthz within {timeout} s")

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()


@pytest.fixture
def start_server(mloop_home: Path, free_port: int) -> Any:
    servers: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(mloop_home, free_port, *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.slow
def test_server_starts_and_answers(start_server: Any, free_port: int) -> None:
    server = start_server()
    server.wait_healthy()

    created = httpx.post(f"{server.url}/api/v1/experiments", json={"name": "served"}, timeout=10)
    assert created.status_code == 201, created.text
    listed = httpx.get(f"{server.url}/api/v1/experiments", timeout=10).json()
    assert [e["name"] for e in listed] == ["served"]

    _, err = server.stop()
    assert server.proc.returncode is not None
    assert f"listening on http://127.0.0.1:{free_port}" in err
    assert f"http://127.0.0.1:{free_port}/docs" in err
    assert f"http://127.0.0.1:{free_port}/api/v1" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_server_with_workers(start_server: Any, tmp_path: Path) -> None:
    db = tmp_path / "workers.db"
    server = start_server("--workers", "2", "--backend-store-uri", f"sqlite:///{db}")
    server.wait_healthy()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for i in range(6):
            assert http.post("/api/v1/experiments", json={"name": f"e{i}"}).status_code == 201
        assert len(http.get("/api/v1/experiments").json()) == 6
    assert db.exists()
    server.stop()


def test_port_in_use(cli: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("server", "--port", str(port))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "--port" in result.stderr


def test_server_needs_a_database(cli: Any) -> None:
    result = cli("--tracking-uri", "http://127.0.0.1:9", "server", "--port", "0")
    assert result.exit_code == 1
    assert "--backend-store-uri" in result.stderr


def test_worker_app_serves_the_store_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mloop._core import Settings
    from mloop._core._config import settings_to_json
    from mloop.store import current

    db = f"sqlite:///{tmp_path / 'w.db'}"
    given = settings_to_json(Settings(tracking_uri=db, artifacts=str(tmp_path / "art")))
    # What a worker process finds around it must not point it elsewhere.
    monkeypatch.setenv("MLOOP_TRACKING_URI", f"sqlite:///{tmp_path / 'ignored.db'}")
    monkeypatch.setenv("MLOOP_ARTIFACTS", str(tmp_path / "ignored-art"))
    app = worker_app(given)
    try:
        assert app.state.store.uri == db
        assert app.state.settings.artifacts == str(tmp_path / "art")
        # the worker's library calls use the same store
        assert current().settings.tracking_uri == db
        # the app lives as long as the worker: full collections do not walk it
        assert not any(o is app.router for o in gc.get_objects())
    finally:
        gc.unfreeze()
        app.state.store.close()
    assert not (tmp_path / "ignored.db").exists()


def test_https_needs_both_files(cli: Any, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    for command in ("server", "serve"):
        extra = ["models:/m@champion"] if command == "serve" else []
        result = cli(command, *extra, "--port", "0", "--ssl-certfile", str(cert))
        assert result.exit_code != 0
        assert "needs both --ssl-certfile and --ssl-keyfile" in result.output


@pytest.mark.slow
def test_server_runs_loop_controllers_in_process(start_server: Any, tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.write_text("name: inside\nmodel: m\nmonitor: {every: 1m, window: 1h}\n")
    server = start_server("--loop", str(loop))
    server.wait_healthy()
    deadline = time.monotonic() + 120  # bounds a hang only
    while True:
        r = httpx.get(f"{server.url}/api/v1/loops/inside/status", timeout=10)
        if r.status_code == 200 and r.json()["transitions"] >= 2:
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)
    status = r.json()
    assert status["state"] == "IDLE"
    assert "not enough data" in status["last_monitor"]["result"]["reason"]
    assert status["lease"]["owner"]
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'mloop_loop_transitions_total{loop="inside",to_state="IDLE"} 1.0' in metrics
    server.stop()
    assert server.proc.returncode is not None


@pytest.mark.slow
def test_server_refuses_a_bad_loop_file(start_server: Any, tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.write_text("name: inside\nmodel: m\nmonitor: {every: soon, window: 1h}\n")
    server = start_server("--loop", str(loop))
    _, err = server.proc.communicate(timeout=120)
    assert server.proc.returncode == 1
    assert "line 3 column 11: monitor.every: expected a duration" in err
