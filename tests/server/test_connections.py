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
    thread = ServerThread(create_app(store), read_timeouts=(0.5, 0.5), limit_concurrency=3).start()
    yield thread
    thread.stop()
    store.close()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(30)  # bounds a hang only: the server closes much sooner
    return sock


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


def test_excess_connections_get_503_and_health_recovers(limited: ServerThread) -> None:
    idle = [_connect(limited.url) for _ in range(3)]
    for sock in idle:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    with httpx.Client(base_url=limited.url) as client:
        busy = client.get("/healthz")
        assert busy.status_code == 503
        for sock in idle:  # the deadline frees them
            _read_all(sock)
            sock.close()
        assert client.get("/healthz").status_code == 200
