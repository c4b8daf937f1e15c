"""Importable helpers of the serving tests: a generic Python model (pickled by reference) and
the live-server handle."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from fastapi import FastAPI

import mloop.models
from mloop.models import PythonModel


class Doubler(PythonModel):
    """``y = 2 * x``; raises inside predict when any ``x`` is 666 (a model bug)."""

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        if (data["x"] == 666).any():
            raise RuntimeError("the model cannot handle 666")
        return pd.DataFrame({"y": data["x"].to_numpy() * 2.0})


@dataclass
class Served:
    url: str
    client: httpx.Client
    app: FastAPI


StartServe = Callable[..., Served]


@dataclass
class RegistryServer:
    """A real mloop REST server over a SQLite store, named by ``MLOOP_TRACKING_URI``."""

    url: str
    registry: Any  # mloop.registry.Registry on the server's own store
    thread: Any  # mloop.server.ServerThread: stop() it for a registry outage


def wait_ready(client: httpx.Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.02)


class Scaler(PythonModel):
    """``y = factor * x``; sleeps ``delay`` seconds per call; raises on 666 like :class:`Doubler`.
    With ``record`` set, appends one line per call (the row count) to that file; with
    ``fail_while`` set, raises on every call while that file exists (a version that cannot
    warm until it is fixed); with ``hold`` set, a call with any x >= 10 creates
    ``<hold>.entered``, then waits until the file ``hold`` exists (at most 60 s): a version
    whose answers the test releases when it chooses."""

    def __init__(
        self,
        factor: float,
        *,
        delay: float = 0.0,
        record: str | None = None,
        fail_while: str | None = None,
        hold: str | None = None,
    ) -> None:
        self.factor = factor
        self.delay = delay
        self.record = record
        self.fail_while = fail_while
        self.hold = hold

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        if self.fail_while is not None and os.path.exists(self.fail_while):
            raise RuntimeError(f"broken while {self.fail_while} exists")
        if self.delay:
            time.sleep(self.delay)
        if self.hold is not None and (data["x"] >= 10).any():
            Path(f"{self.hold}.entered").touch()
            deadline = time.monotonic() + 60
            while not os.path.exists(self.hold) and time.monotonic() < deadline:
                time.sleep(0.01)
        if self.record is not None:
            with open(self.record, "a", encoding="utf-8") as f:
                f.write(f"{len(data)}\n")
        if (data["x"] == 666).any():
            raise RuntimeError("the model cannot handle 666")
        return pd.DataFrame({"y": data["x"].to_numpy() * self.factor})


X_EXAMPLE = pd.DataFrame({"x": [1.0, 2.0]})


def save_scaler(path: Path, factor: float, **kwargs: Any) -> str:
    """Save a :class:`Scaler` to ``path``; returns the path as a string (a registry source)."""
    mloop.models.save(Scaler(factor, **kwargs), path, input_example=X_EXAMPLE)
    return str(path)


def predict_x(client: httpx.Client, name: str, x: float, **kwargs: Any) -> httpx.Response:
    return client.post(f"/v1/models/{name}:predict", json={"records": [{"x": x}]}, **kwargs)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)


MLOOP = Path(sys.executable).with_name("mloop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mloop_serve(
    *args: str, env: dict[str, str] | None = None, ready_s: float = 60.0
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``mloop serve ARGS`` as a real process on a free port, once ``/readyz`` answers 200:
    yields the process and its URL. The caller may end it (SIGTERM) and read its output; one
    still running at the end is killed."""
    port = free_port()
    proc = subprocess.Popen(
        [str(MLOOP), "serve", *args, "--port", str(port)],
        env={
            **os.environ,
            "NO_COLOR": "1",
            "COLUMNS": "200",
            # the test models' classes (this folder) unpickle in the server process too
            "PYTHONPATH": str(Path(__file__).parent),
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"mloop serve was not ready within {ready_s} s"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # closes the pipes (a no-op once the caller read them)


def terminate(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """SIGTERM, wait for the drain; returns what the process wrote on stderr."""
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err
