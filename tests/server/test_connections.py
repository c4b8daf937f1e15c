"""Slow and idle clients cannot exhaust a server: read deadlines (408) and a connection limit
(503), on a real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mloop.server import ServerThread, create_app
from mloop.store import SqlStore


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[ServerThread]:
    store = SqlStore(f"sqlite:///{tmp_path}/c.db", str(tmp_path / "a"))
    thread = ServerThread(create_app(store), read_timeouts=(5.0, 5.0), limit_concurrency=3).start()
    yield thread
    thread.stop()
    store.close()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(30)  # bounds a hang only: the server closes much sooner
    return sock


def _read_response(sock: socket.socket) -> bytes:
    """One response with a ``content-length`` (the connection stays open)."""
    out = b""
    while b"\r\n\r\n" not in out:
        out += sock.recv(4096)
    head, _, body = out.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(4096):
        out += chunk
    return out


def test_partial_headers_get_408_and_the_connection_closes(limited: ServerThread) -> None:
    sock = _connect(limited.url)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    answer = _read_all(sock)  # returns when the server closes
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"REQUEST_TIMEOUT"' in answer


def test_a_silent_connection_is_closed(limited: ServerThread) -> None:
    with _connect(limited.url) as sock:
        assert _read_all(sock).startswith(b"HTTP/1.1 408 ")  # then closed by the server


def test_a_stalled_body_gets_408(limited: ServerThread) -> None:
    sock = _connect(limited.url)
    sock.sendall(
        b"POST /api/v1/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"name":'
    )
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ")


def _excess_connections_get_503_and_health_recovers(server: ServerThread) -> None:
    # the limit is 3: two held connections and the client's make three
    idle = [_connect(server.url) for _ in range(2)]
    for sock in idle:
        # one whole request first: once it is answered the server holds the connection
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_response(sock)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    # raw sockets: nothing slow (an HTTP client's setup) between holding and asking
    with _connect(server.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = _read_all(sock).partition(b"\r\n\r\n")  # closed after the 503
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert status_line == "HTTP/1.1 503 Service Unavailable"
    # the one error shape, not uvicorn's plain "Service Unavailable"
    assert headers["content-type"] == "application/json"
    assert headers["retry-after"] == "1"
    error = httpx.Response(503, content=body).json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "--limit-concurrency" in error["message"]
    for sock in idle:  # the deadline frees them
        _read_all(sock)
        sock.close()
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_excess_connections_get_503_and_health_recovers(limited: ServerThread) -> None:
    _excess_connections_get_503_and_health_recovers(limited)


@pytest.mark.slow
def test_inference_server_excess_connections_get_json_503(tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    import mloop.models
    from mloop.serve import create_serve_app

    x = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    mloop.models.save(LinearRegression().fit(x, [1.0, 2.0, 3.0]), tmp_path / "m", input_example=x)
    app = create_serve_app([str(tmp_path / "m")], poll_interval_s=None)
    with ServerThread(app, read_timeouts=(5.0, 5.0), limit_concurrency=3) as server:
        _excess_connections_get_503_and_health_recovers(server)
