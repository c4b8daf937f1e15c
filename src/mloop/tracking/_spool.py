"""The local spool: batches that could not reach the store wait here, durable on disk, and are
replayed in order when the store answers again.

One append-only JSON-lines file per writer, held under an exclusive ``flock`` while its writer
lives. A second file beside it records how many lines were replayed, so a restarted replay skips
them. When a process dies with a non-empty spool, the next writer that starts with the same spool
folder adopts the orphaned file and replays it first.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from mloop.store._entities import decode_float, encode_float

log = logging.getLogger("mloop.tracking")


class _SpoolFile:
    def __init__(self, path: Path, fh: IO[bytes], lines: int, done: int) -> None:
        self.path = path
        self.fh = fh
        self.lines = lines  # records in the file
        self.done = done  # records replayed

    @property
    def offset_path(self) -> Path:
        return self.path.with_suffix(".done")

    def mark_done(self, done: int) -> None:
        self.done = done
        tmp = self.offset_path.with_suffix(".done.tmp")
        tmp.write_text(str(done))
        os.replace(tmp, self.offset_path)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        for p in (self.path, self.offset_path):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


class Spool:
    """Durable FIFO of batch records (dicts) for one writer."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._files: list[_SpoolFile] = []  # adopted orphans first, then our own
        self._own: _SpoolFile | None = None

    @property
    def pending(self) -> int:
        """Records not yet replayed into the store."""
        return sum(f.lines - f.done for f in self._files)

    def files(self) -> list[str]:
        return [str(f.path) for f in self._files]

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (fsync) at the end of this writer's file."""
        if self._own is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"spool-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
            fh: IO[bytes] = open(path, "ab+")  # noqa: SIM115 - held open for the writer's life
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._own = _SpoolFile(path, fh, 0, 0)
            self._files.append(self._own)
        elif self._own not in self._files:
            self._files.append(self._own)
        fh = self._own.fh
        fh.seek(0, os.SEEK_END)
        fh.write(orjson.dumps(_encode(record)) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
        self._own.lines += 1

    def adopt_orphans(self) -> None:
        """Take over spool files left by processes that died (their lock is free)."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("spool-*.jsonl")):
            if self._own is not None and path == self._own.path:
                continue
            fh: IO[bytes] = open(path, "rb+")  # noqa: SIM115
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()  # a live writer owns it
                continue
            lines = sum(1 for line in fh if line.strip())
            done_path = path.with_suffix(".done")
            done = int(done_path.read_text() or 0) if done_path.exists() else 0
            f = _SpoolFile(path, fh, lines, min(done, lines))
            if f.done >= f.lines:
                f.remove()
                continue
            log.warning(
                "mloop: replaying %d spooled records left by an earlier process (%s)",
                lines - done,
                path,
            )
            self._files.insert(len(self._files) - (1 if self._own in self._files else 0), f)

    def replay(self, send: Callable[[dict[str, Any]], None]) -> None:
        """Send every pending record in order; stops at the first exception (re-raised)."""
        while self._files:
            f = self._files[0]
            f.fh.seek(0)
            for i, line in enumerate(x for x in f.fh if x.strip()):
                if i < f.done:
                    continue
                send(_decode(orjson.loads(line)))
                f.mark_done(i + 1)
            if f is self._own:
                # Start a fresh file next time rather than growing this one forever.
                f.remove()
                self._own = None
            else:
                f.remove()
            self._files.pop(0)

    def close(self) -> None:
        for f in self._files:
            with contextlib.suppress(OSError):
                f.fh.close()
        if self._own is not None and self._own.lines == self._own.done:
            self._own.remove()


def _encode(record: dict[str, Any]) -> dict[str, Any]:
    metrics = record.get("metrics")
    if metrics:
        record = dict(record)
        record["metrics"] = [[k, encode_float(v), s, t] for k, v, s, t in metrics]
    return record


def _decode(record: dict[str, Any]) -> dict[str, Any]:
    metrics = record.get("metrics")
    if metrics:
        record["metrics"] = [[k, decode_float(v), s, t] for k, v, s, t in metrics]
    return record
