"""The attack of the security review, end to end with real processes and plain HTTP.

An attacker who reaches the server uploads a ``model.pkl`` whose unpickling runs code plus a
``mloop-model.yaml`` with the matching sha256, registers it as a new version, moves
``@champion`` to it naming someone else as the actor, and waits for ``mloop serve
models:/victim@champion`` to load it. With ``--auth`` every step is refused; without it, a
server started with ``--trust`` refuses to load the unsigned version (and never unpickles it).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytestmark = pytest.mark.slow

MLOOP = Path(sys.executable).with_name("mloop")
API = "/api/v1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], url: str) -> None:
        self.url = url
        self.proc = subprocess.Popen(
            [str(MLOOP), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait(self, path: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout  # bounds a hang only
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"{self.proc.args} exited {self.proc.returncode}:\n{out}\n{err}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"{self.proc.args} did not answer {path}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()[1]


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


class Payload:
    """Unpickling it creates ``marker``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.marker}",))


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    return {**env, "MLOOP_HOME": str(home), "NO_COLOR": "1", **extra}


def _victim(env: dict[str, str], key: Path | None) -> None:
    """``victim`` version 1 at @champion on the server ``env`` names: a real model, signed
    with ``key`` when given."""
    sign = f"mloop.models.sign('models:/victim/1', {str(key)!r})" if key else ""
    code = f"""
import pandas as pd
from sklearn.linear_model import LinearRegression
import mloop, mloop.models, mloop.registry
x = pd.DataFrame({{"a": [1.0, 2.0, 3.0, 4.0]}})
with mloop.start_run():
    mloop.models.log_model(LinearRegression().fit(x, [2.0, 4.0, 6.0, 8.0]), "model",
                           input_example=x.head(2), registered_model_name="victim")
{sign}
mloop.registry.set_alias("victim", "champion", 1)
"""
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _forge(client: httpx.Client, marker: Path, headers: dict[str, str]) -> list[int]:
    """Every step of the attack; returns the status of each."""
    statuses = []
    r = client.post(f"{API}/experiments", json={"name": "innocent"}, headers=headers)
    statuses.append(r.status_code)
    exp_id = r.json().get("experiment_id", "1") if r.status_code == 201 else "1"
    r = client.post(f"{API}/runs", json={"experiment_id": exp_id}, headers=headers)
    statuses.append(r.status_code)
    run_id = r.json()["info"]["run_id"] if r.status_code == 201 else "0" * 32
    evil = pickle.dumps(Payload(marker))
    manifest = {
        "format_version": 1,
        "flavor": {"name": "sklearn", "options": {"file": "model.pkl", "serialization": "pickle"}},
        "python_version": "3.11.7",
        "files": {"model.pkl": hashlib.sha256(evil).hexdigest()},
        "created_time": 1,
        "mloop_version": "0.1.0",
    }
    for path, content in (
        ("model/model.pkl", evil),
        ("model/mloop-model.yaml", yaml.safe_dump(manifest).encode()),
    ):
        r = client.put(f"{API}/runs/{run_id}/artifacts/{path}", content=content, headers=headers)
        statuses.append(r.status_code)
    body = {"source": f"runs:/{run_id}/model", "actor": "alice"}
    r = client.post(f"{API}/registered-models/victim/versions", json=body, headers=headers)
    statuses.append(r.status_code)
    version = r.json().get("version", 2) if r.status_code == 201 else 2
    body = {"version": version, "actor": "alice", "reason": "routine"}
    r = client.put(f"{API}/registered-models/victim/aliases/champion", json=body, headers=headers)
    statuses.append(r.status_code)
    return statuses


def test_with_auth_every_step_is_refused(tmp_path: Path, procs: list[Proc]) -> None:
    home = tmp_path / "home"
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'server.db'}"
    server = Proc(
        ["server", "--auth", "--port", str(port), "--backend-store-uri", db],
        _env(home),
        f"http://127.0.0.1:{port}",
    )
    procs.append(server)
    server.wait("/healthz")
    admin = (home / "bootstrap-token").read_text().strip()
    env = _env(home, MLOOP_TRACKING_URI=server.url, MLOOP_TOKEN=admin)
    made = subprocess.run(
        [str(MLOOP), "token", "create", "eve", "--role", "reader", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    reader = json.loads(made.stdout)["token"]
    editor_made = subprocess.run(
        [str(MLOOP), "token", "create", "ci", "--role", "editor", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    editor = json.loads(editor_made.stdout)["token"]
    _victim(env, None)

    marker = tmp_path / "pwned"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert set(_forge(client, marker, {})) == {401}
        assert set(_forge(client, marker, {"Authorization": f"Bearer {reader}"})) == {403}
        # a stolen editor token writes runs and versions, but cannot move what is served
        statuses = _forge(client, marker, {"Authorization": f"Bearer {editor}"})
        assert statuses[:-1] == [201, 201, 201, 201, 201] and statuses[-1] == 403
        audit = client.get(
            f"{API}/registered-models/victim/audit", headers={"Authorization": f"Bearer {admin}"}
        ).json()
    forged = [e for e in audit if e["version"] != 1 and e["action"] != "create_model"]
    assert [(e["action"], e["actor"]) for e in forged] == [("create_version", "ci")]
    assert {e["actor"] for e in audit} == {"bootstrap-admin", "ci"}  # never "alice"
    assert [e["version"] for e in audit if e["action"] == "set_alias"] == [1]
    assert not marker.exists()
    assert "bootstrap-token" in server.stop()


def test_without_auth_trust_refuses_the_unsigned_version(tmp_path: Path, procs: list[Proc]) -> None:
    from mloop.models import generate_keypair

    home = tmp_path / "home"
    port, serve_port = _free_port(), _free_port()
    db = f"sqlite:///{tmp_path / 'server.db'}"
    server = Proc(
        ["server", "--port", str(port), "--backend-store-uri", db],
        _env(home),
        f"http://127.0.0.1:{port}",
    )
    procs.append(server)
    server.wait("/healthz")
    private, public = generate_keypair(tmp_path / "keys" / "release")
    _victim(_env(tmp_path / "client", MLOOP_TRACKING_URI=server.url), private)

    serve_env = _env(tmp_path / "serve-home", MLOOP_TRACKING_URI=server.url)
    serve = Proc(
        [
            "serve",
            "models:/victim@champion",
            "--port",
            str(serve_port),
            "--trust",
            str(public),
            "--poll-interval",
            "0.2",
            "--log-sample-rate",
            "0",
        ],
        serve_env,
        f"http://127.0.0.1:{serve_port}",
    )
    procs.append(serve)
    serve.wait("/readyz")
    rows = {"records": [{"a": 5.0}]}
    assert httpx.post(f"{serve.url}/v1/models/victim:predict", json=rows).json()["predictions"] == [
        pytest.approx(10.0)
    ]

    marker = tmp_path / "pwned"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert _forge(client, marker, {}) == [201, 201, 201, 201, 201, 200]  # no auth: accepted
        audit = client.get(f"{API}/registered-models/victim/audit").json()
    assert audit[-1]["actor"] == "unverified:alice"  # not presented as alice

    # The serving process sees the alias move and refuses the unsigned version.
    deadline = time.monotonic() + 120  # bounds a hang only
    described: dict[str, Any] = {}
    while time.monotonic() < deadline:
        described = httpx.get(f"{serve.url}/v1/models").json()["models"][0]
        if described.get("load_errors"):
            break
        time.sleep(0.1)
    assert "unsigned model" in str(described["load_errors"])
    assert httpx.post(f"{serve.url}/v1/models/victim:predict", json=rows).json()["predictions"] == [
        pytest.approx(10.0)
    ]
    assert not marker.exists()

    # A new server refuses to start on it, and says why.
    fresh = subprocess.run(
        [str(MLOOP), "serve", "models:/victim@champion", "--port", "0", "--trust", str(public)],
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fresh.returncode != 0
    assert "unsigned model" in fresh.stderr
    assert not marker.exists()
