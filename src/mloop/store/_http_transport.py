"""What the parts of ``HttpStore`` share to talk to a server: URL segments, the errors its
answers stand for, and streamed downloads."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import quote

import httpx
import orjson

from mloop import errors
from mloop.errors import (
    Conflict,
    Forbidden,
    InvalidArgument,
    MloopError,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthorized,
)

__all__ = [
    "CHUNK",
    "ERROR_BY_CODE",
    "ERROR_BY_STATUS",
    "error_from_response",
    "open_stream",
    "path_of",
    "seg",
]

#: Bytes sent or read at a time: bodies are streamed, never held whole.
CHUNK = 1024 * 1024


def seg(value: str) -> str:
    """One URL path segment; a dot segment is percent-encoded so that no one resolves it."""
    out = quote(value, safe="")
    return out.replace(".", "%2E") if value in (".", "..") else out


def _error_classes() -> dict[str, type[MloopError]]:
    table: dict[str, type[MloopError]] = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, MloopError):
            table[cls.code] = cls
    return table


#: The reverse of the server's table: the ``code`` of an error body -> the class that has it.
ERROR_BY_CODE: dict[str, type[MloopError]] = _error_classes()

#: When the code is unknown (another server version, a proxy): the generic class of the status.
ERROR_BY_STATUS: dict[int, type[MloopError]] = {
    400: InvalidArgument,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidArgument,
    502: StoreUnavailable,
    503: StoreUnavailable,
    504: StoreUnavailable,
}


def error_from_response(status: int, body: bytes) -> MloopError:
    """The exception an error response stands for."""
    code, message, details = None, None, None
    try:
        data = orjson.loads(body)
        err = data["error"]
        code, message, details = err.get("code"), err.get("message"), err.get("details")
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        pass
    cls = ERROR_BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        cls = ERROR_BY_STATUS.get(status, MloopError)
    if not isinstance(message, str):
        text = body[:300].decode("utf-8", "replace").strip()
        message = f"the server answered HTTP {status}" + (f": {text}" if text else "")
    return cls(message, details=details)


def path_of(value: str) -> str:
    """A path of segments (tag keys, artifact paths), each encoded with :func:`seg`."""
    return "/".join(seg(part) for part in value.split("/"))


def unreachable(uri: str, exc: httpx.TransportError) -> StoreUnavailable:
    return StoreUnavailable(
        f"cannot reach the mloop server at {uri}: {type(exc).__name__}: {exc}",
        details={"uri": uri},
    )


def open_stream(client: httpx.Client, uri: str, url: str) -> IO[bytes]:
    """A buffered binary stream of ``GET url`` (``uri``: the server, for messages); close it
    when done.

    Raises:
        StoreUnavailable: the server cannot be reached, or the download breaks off.
        MloopError: the error the server answered with (``ArtifactNotFound``, ...).
    """
    try:
        response = client.send(client.build_request("GET", url), stream=True)
    except httpx.TransportError as exc:
        raise unreachable(uri, exc) from exc
    if response.is_error:
        try:
            body = response.read()
        finally:
            response.close()
        raise error_from_response(response.status_code, body)
    return io.BufferedReader(_ResponseStream(response), buffer_size=CHUNK)


class _ResponseStream(io.RawIOBase):
    """A readable binary stream over a streamed ``httpx.Response``; closing it closes the
    response."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_bytes(CHUNK)
        self._buffer = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._offset >= len(self._buffer):
            try:
                self._buffer, self._offset = next(self._chunks), 0
            except StopIteration:
                return 0
            except httpx.TransportError as exc:
                raise StoreUnavailable(f"the download broke off: {exc}") from exc
        view = memoryview(b).cast("B")
        n = min(len(view), len(self._buffer) - self._offset)
        view[:n] = self._buffer[self._offset : self._offset + n]
        self._offset += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()
