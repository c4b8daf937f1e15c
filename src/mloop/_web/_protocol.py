"""The HTTP protocol both servers run: uvicorn's httptools protocol with read deadlines.

uvicorn times out idle keep-alive connections only: a client that opens a connection and sends
headers one byte at a time (or nothing) holds it forever, and a few thousand such clients
starve a server. Here each request's headers must arrive within ``header_timeout`` seconds of
its first byte (or of the connection, for the first), and its body may pause at most
``body_timeout`` seconds between chunks (not counted while the application itself is not
reading). A request past a deadline is answered 408 and the connection closed. Requests
beyond uvicorn's ``limit_concurrency`` are answered 503, like the 408, in the one JSON error shape
(uvicorn's own 503 is plain text), with ``Retry-After`` and the connection closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["DEFAULT_BODY_TIMEOUT", "DEFAULT_HEADER_TIMEOUT", "configure"]

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 60.0
_BODY = (
    b'{"error":{"code":"REQUEST_TIMEOUT","message":"the request was not sent in time",'
    b'"details":null}}'
)
_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)

_BUSY_BODY = (
    b'{"error":{"code":"SERVICE_UNAVAILABLE","message":"the server is at its connection limit'
    b' (--limit-concurrency); retry shortly","details":null}}'
)
_log = logging.getLogger("mloop.server")


async def _service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """What a request beyond the connection limit gets (in place of uvicorn's plain text)."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_BUSY_BODY)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BUSY_BODY, "more_body": False})


_Base: Any
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - httptools is in the server extra
    _Base = None


def configure(config: Any, *, header_timeout: float, body_timeout: float) -> None:
    """Make the uvicorn ``config`` serve with :class:`TimedProtocol` and these deadlines (kept
    on the config, which worker processes receive pickled)."""
    if _Base is None:  # pragma: no cover - uvicorn's own protocol, no deadlines
        return
    config.http = TimedProtocol
    config.mloop_header_timeout = header_timeout
    config.mloop_body_timeout = body_timeout


if _Base is not None:

    class TimedProtocol(_Base):  # type: ignore[misc]
        """uvicorn's httptools protocol with the read deadlines of the module's docstring."""

        _deadline: asyncio.TimerHandle | None = None
        app: Any
        limit_concurrency: int | None

        def _timeout(self, which: str) -> float:
            default = DEFAULT_HEADER_TIMEOUT if which == "header" else DEFAULT_BODY_TIMEOUT
            return float(getattr(self.config, f"mloop_{which}_timeout", default))

        def _arm(self, which: str) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(self._timeout(which), self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if self.flow.read_paused:  # the application is slow to read: not the client's fault
                self._arm("body")
                return
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(_408)
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm("header")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm("header")

        def _over_limit(self) -> bool:
            # uvicorn's own test, made before it picks the application for a request
            limit = self.limit_concurrency
            return limit is not None and (
                len(self.connections) >= limit or len(self.tasks) >= limit
            )

        def on_headers_complete(self) -> None:
            if not self._over_limit():
                super().on_headers_complete()
            else:
                # uvicorn would run its plain-text 503: run the JSON one as the application of
                # this one request (the swap is undone before any other request is parsed).
                app, limit = self.app, self.limit_concurrency
                self.app, self.limit_concurrency = _service_unavailable, None
                try:
                    super().on_headers_complete()
                finally:
                    self.app, self.limit_concurrency = app, limit
                _log.warning("connection limit (%s) reached: answered 503", limit)
            self._arm("body")

        def on_body(self, body: bytes) -> None:
            super().on_body(body)
            self._arm("body")

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._disarm()
