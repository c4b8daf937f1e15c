"""Run an ASGI app with uvicorn in a background thread, on an ephemeral 127.0.0.1 port.

Tests and ``mloop demo`` use it::

    with ServerThread(create_app(store)) as server:
        httpx.get(f"{server.url}/healthz")
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class _WakeableServer(uvicorn.Server):
    """uvicorn's server, whose idle loop can be woken from another thread: uvicorn checks
    ``should_exit`` every 0.1 s, so each stop waited for the next tick."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
                loop.call_soon_threadsafe(wake.set)


class ServerThread:
    """A uvicorn server in a daemon thread.

    Args:
        app: the ASGI application.
        host: the interface to listen on (default ``127.0.0.1``).
        port: the port (default 0: the OS picks a free one; read it from :attr:`url`).
        log_level: uvicorn's own log level.
        read_timeouts: ``(header, body)`` seconds: serve with the read deadlines of
            ``mloop server`` (:mod:`mloop._web._protocol`).
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        read_timeouts: tuple[float, float] | None = None,
        **uvicorn_options: Any,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        options: dict[str, Any] = {
            "log_level": log_level,
            "ws": "none",
            "lifespan": "on",
            "timeout_graceful_shutdown": 10,
            "access_log": False,
            # An in-process server leaves the host program's logging alone: uvicorn's default
            # configuration would bind new handlers to whatever sys.stderr is at start (a test
            # runner's or a CLI runner's temporary stream, closed later). Its loggers propagate.
            "log_config": None,
        }
        options.update(uvicorn_options)
        self._config = uvicorn.Config(app, host=host, port=port, **options)
        if read_timeouts is not None:
            from mloop._web._protocol import configure

            configure(self._config, header_timeout=read_timeouts[0], body_timeout=read_timeouts[1])
        self._server = _WakeableServer(self._config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` once started."""
        if self._socket is None:
            raise RuntimeError("the server is not started; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._server.started

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Start serving; returns once the server accepts connections.

        Raises:
            RuntimeError: the server did not start within ``timeout`` seconds, or failed.
        """
        if self._thread is not None:
            raise RuntimeError("the server was started already")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._run, name=f"mloop-server-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"the server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.005)
        self._wait_accepting(deadline)
        return self

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket] if self._socket else None)
        except BaseException as exc:  # reported by start(); a thread must not die silently
            self._error = exc

    def _wait_accepting(self, deadline: float) -> None:
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the server does not accept connections") from None
                time.sleep(0.01)

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down gracefully: stop accepting, let requests in flight finish, then return."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._server.should_exit = True
            self._server.wake()
            thread.join(timeout)
            if thread.is_alive():
                self._server.force_exit = True
                thread.join(5.0)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
