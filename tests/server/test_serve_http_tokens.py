"""``mloop serve --auth`` on a tracking URI that is an ``mloop server --auth``: the inference
server asks the tracking server about each token it has not seen lately (``whoami`` with that
token), caches answers both ways for a short while, and answers 503 with a clear message when
the tracking server cannot be reached."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mloop._web._bearer import NEGATIVE_CACHE_SECONDS, TokenCache
from mloop.errors import StoreUnavailable, Unauthorized
from mloop.server import ServerThread, create_app
from mloop.store import HttpStore, SqlStore

MLOOP = Path(sys.executable).with_name("mloop")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_http_token_cache_asks_the_server_and_caches_both_answers(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/t.db", str(tmp_path / "artifacts"))
    clock = Clock()
    thread = ServerThread(create_app(store, auth=True)).start()
    good = store.create_token("app", "reader", scopes={"inference": ["predict"]}).token
    unknown = good[:-4] + ("aaaa" if not good.endswith("aaaa") else "bbbb")
    http = HttpStore(thread.url)
    cache = TokenCache(http, negative_ttl=NEGATIVE_CACHE_SECONDS, clock=clock)
    try:
        found = cache.authenticate(good)
        assert (found.name, found.role.value, found.scopes.inference) == (
            "app",
            "reader",
            ["predict"],
        )
        with pytest.raises(Unauthorized):
            cache.authenticate(unknown)
        with pytest.raises(Unauthorized, match="malformed"):
            cache.authenticate("not-a-token")
    finally:
        thread.stop()
    # The server is gone: cached answers still hold, within their lifetimes.
    assert cache.authenticate(good).name == "app"
    with pytest.raises(Unauthorized):
        cache.authenticate(unknown)
    clock.now += NEGATIVE_CACHE_SECONDS + 0.1  # the refusal expired: the server is asked again
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        cache.authenticate(unknown)
    clock.now += 30  # and so did the success
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        cache.authenticate(good)
    http.close()
    store.close()


def test_a_server_without_auth_vouches_for_no_token(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/t.db", str(tmp_path / "artifacts"))
    token = store.create_token("app", "reader").token
    thread = ServerThread(create_app(store)).start()
    http = HttpStore(thread.url)
    try:
        with pytest.raises(StoreUnavailable, match="without --auth"):
            TokenCache(http).authenticate(token)
    finally:
        http.close()
        thread.stop()
        store.close()


# -- real processes ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(args: list[str], env: dict[str, str], url: str, ready: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(MLOOP), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 180  # bounds a hang only
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"{args} exited {proc.returncode}:\n{out}\n{err}")
        try:
            if httpx.get(url + ready, timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{args} did not answer {ready}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in reversed(started):
        _stop(proc)


@pytest.mark.slow
def test_serve_auth_checks_tokens_with_the_tracking_server(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    import mloop.models

    x = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    mloop.models.save(LinearRegression().fit(x, [2.0, 4.0, 6.0]), tmp_path / "m", input_example=x)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    env["NO_COLOR"] = "1"
    port, serve_port = _free_port(), _free_port()
    server_url, serve_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{serve_port}"
    home = tmp_path / "home"
    db = f"sqlite:///{tmp_path / 'server.db'}"
    server = _start(
        ["server", "--auth", "--port", str(port), "--backend-store-uri", db],
        {**env, "MLOOP_HOME": str(home)},
        server_url,
        "/healthz",
    )
    procs.append(server)
    admin = HttpStore(server_url, token=(home / "bootstrap-token").read_text().strip())
    app = admin.create_token("app", "reader", scopes={"inference": ["predict"]}).token
    late = admin.create_token("late", "reader", scopes={"inference": ["predict"]}).token
    plain = admin.create_token("plain", "reader").token
    revoked = admin.create_token("gone", "reader", scopes={"inference": ["predict"]})
    admin.revoke_token(revoked.info.token_id)
    admin.close()
    serve_env = {
        **env,
        "MLOOP_HOME": str(tmp_path / "serve-home"),
        "MLOOP_TRACKING_URI": server_url,
    }
    serve = _start(
        [
            "serve",
            str(tmp_path / "m"),
            "--port",
            str(serve_port),
            "--auth",
            "--log-sample-rate",
            "0",
        ],
        serve_env,
        serve_url,
        "/readyz",
    )
    procs.append(serve)

    def predict(token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(
            f"{serve_url}/v1/models/m:predict",
            json={"records": [{"a": 5.0}]},
            headers=headers,
            timeout=30,
        )

    ok = predict(app)
    assert ok.status_code == 200, ok.text
    assert ok.json()["predictions"] == [pytest.approx(10.0)]
    assert predict(None).status_code == 401
    assert predict(revoked.token).status_code == 401
    refused = predict(app[:-4] + ("aaaa" if not app.endswith("aaaa") else "bbbb"))
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert predict(plain).status_code == 403  # valid, without the predict scope

    _stop(server)  # the tracking server goes away
    down = predict(late)  # never seen: it cannot be checked
    assert down.status_code == 503, down.text
    assert "cannot be reached" in down.json()["error"]["message"]
    assert predict(app).status_code == 200  # checked a moment ago: cached
    assert httpx.get(f"{serve_url}/healthz", timeout=30).status_code == 200
