"""Streaming bridges between the async request/response and the synchronous store.

Uploads: the store call runs in a worker thread and reads the request body through
:class:`RequestBodyReader`, a file-like object that pulls one chunk at a time from the event
loop; memory stays at one chunk whatever the size of the file.

Downloads: :class:`FileResponse` reads the store's file in a worker thread chunk by chunk and
always closes it, also when the client goes away.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from typing import IO, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mloop.errors import InvalidArgument

CHUNK = 1024 * 1024


class RequestBodyReader(io.RawIOBase):
    """A readable binary stream over an async byte iterator, for use from a worker thread
    started with :func:`anyio.to_thread.run_sync`."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._offset = 0
        self._eof = False
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def _fill(self) -> bool:
        while self._offset >= len(self._buffer):
            if self._eof:
                return False
            try:
                chunk = anyio.from_thread.run(self._next)
            except ClientDisconnect:
                raise InvalidArgument(
                    "the client closed the connection during the upload"
                ) from None
            if chunk is None:
                self._eof = True
                return False
            self._buffer, self._offset = chunk, 0
        return True

    def readinto(self, b: Any) -> int:
        if not self._fill():
            return 0
        view = memoryview(b).cast("B")
        n = min(len(view), len(self._buffer) - self._offset)
        view[:n] = self._buffer[self._offset : self._offset + n]
        self._offset += n
        self.bytes_read += n
        return n

    def read(self, size: int = -1) -> bytes:
        # Hand whole chunks over without copying them when the caller takes what comes.
        if size is None or size < 0:
            return self.readall()
        if not self._fill():
            return b""
        if self._offset == 0 and size >= len(self._buffer):
            chunk, self._buffer = self._buffer, b""
            self.bytes_read += len(chunk)
            return chunk
        end = min(len(self._buffer), self._offset + size)
        out = self._buffer[self._offset : end]
        self._offset = end
        self.bytes_read += len(out)
        return out

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(CHUNK):
            parts.append(chunk)
        return b"".join(parts)

    def drain(self, limit: int) -> None:
        """Read and drop what is left of the body, at most ``limit`` bytes, so the client gets
        the answer rather than a broken pipe when the store refused the upload early."""
        dropped = 0
        while dropped < limit and (chunk := self.read(CHUNK)):
            dropped += len(chunk)


async def run_with_body(
    chunks: AsyncIterator[bytes], func: Any, *args: Any, drain_limit: int = 256 * 1024 * 1024
) -> Any:
    """Call ``func(*args, reader)`` in a worker thread with ``reader`` reading ``chunks``."""
    reader = RequestBodyReader(chunks)

    def call() -> Any:
        try:
            return func(*args, reader)
        except Exception:
            try:
                reader.drain(drain_limit)
            except Exception:  # the original error is the one to report
                pass
            raise

    return await anyio.to_thread.run_sync(call)


def size_of(stream: IO[bytes]) -> int | None:
    """The size of an open file when it can be known cheaply."""
    size = getattr(stream, "size", None)  # fsspec files
    if isinstance(size, int):
        return size
    try:
        return os.fstat(stream.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        pass
    try:
        if stream.seekable():
            here = stream.tell()
            end = stream.seek(0, io.SEEK_END)
            stream.seek(here)
            return end - here
    except (OSError, ValueError):
        pass
    return None


class FileResponse(Response):
    """Stream an open binary file, read in a worker thread; the file is always closed."""

    media_type = "application/octet-stream"

    def __init__(
        self, stream: IO[bytes], status_code: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.stream = stream
        self.status_code = status_code
        self.background = None
        self.init_headers(headers)
        size = size_of(stream)
        if size is not None:
            self.headers["content-length"] = str(size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope.get("method") != "HEAD":
                read = self.stream.read
                while chunk := await anyio.to_thread.run_sync(read, CHUNK):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.stream.close)
