"""Asynchronous, batched logging: a log call appends to a bounded queue and returns; one background
thread per store writes batches bounded by size and age.

Guarantees:
- Order: every operation of a run is written in the order it was made; a run's status change is
  written after everything logged before it.
- Back-pressure: a log call blocks while the queue is full, so memory stays bounded.
- Nothing is dropped silently: a failed write is raised at the next log call or at ``flush()``.
- ``flush()`` returns once everything logged before it is durable in the store, or, when the
  store cannot be reached, durable in the local spool (see :mod:`._spool`), which is replayed in
  order as soon as the store answers again.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Imported before _flush_at_exit is registered: the store context's exit handler, which closes
# the stores, is then registered first and runs last, once the writers have flushed.
import mloop.store._context  # noqa: F401
from mloop.errors import (
    ExperimentAlreadyExists,
    ExperimentNotFound,
    LoggingFailed,
    MloopError,
    StoreUnavailable,
)
from mloop.store import Metric, Store
from mloop.tracking._spool import Spool

log = logging.getLogger("mloop.tracking")

# Operation kinds in the queue (tuples, not objects: the hot path appends millions of them).
# A SPAN carries one finished span of a trace (a mapping, see ``Store.log_spans``). A RECORD
# carries a spool record written as is (a run created offline, an artifact uploaded later) and
# whether to try the store first.
METRIC, PARAM, TAG, UPDATE, MARK, SPAN, RECORD = 0, 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class FlushStatus:
    """What ``flush()`` found.

    Attributes:
        pending: operations not yet in the store (0 when everything is there).
        spooled: of those, how many are safe in the local spool, waiting for the store.
        spool_files: the spool files that hold them.
    """

    pending: int = 0
    spooled: int = 0
    spool_files: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when everything logged is in the store."""
        return self.pending == 0

    def __bool__(self) -> bool:
        return self.complete


class _Marker:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Batch:
    """Operations of one run, accumulated in order until written."""

    __slots__ = ("batch_id", "metrics", "params", "run_id", "tags")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        # An idempotency key: a retried or replayed batch is not written twice.
        self.batch_id = uuid.uuid4().hex
        self.metrics: list[Metric] = []
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}

    def size(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)

    def to_record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "batch_id": self.batch_id,
            "metrics": [list(m) for m in self.metrics],
            "params": self.params,
            "tags": self.tags,
        }


class AsyncWriter:
    """The background writer for one store. Thread-safe; one per store per process.

    Args:
        store: where operations are written.
        batch_size: a batch is written once it holds this many operations...
        batch_wait_s: ...or once its oldest operation is this old.
        queue_size: log calls block while this many operations wait.
        spool_dir: where batches go while the store is unreachable (None: keep retrying in
            memory, which blocks log calls once the queue is full).
        retry_s: how often an unreachable store is retried.
    """

    def __init__(
        self,
        store: Store,
        *,
        batch_size: int = 20_000,
        batch_wait_s: float = 0.2,
        queue_size: int = 500_000,
        spool_dir: Path | None = None,
        retry_s: float = 2.0,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.queue_size = queue_size
        self.retry_s = retry_s
        self._ops: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._spool = Spool(spool_dir) if spool_dir is not None else None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._next_retry = 0.0
        _live_writers.add(self)
        if self._spool is not None:
            # Batches left by a process that died with the store unreachable go first.
            self._spool.adopt_orphans()
            if self._spool.pending:
                self._start()

    @property
    def spool_directory(self) -> Path | None:
        """Where this writer spools (None: it does not)."""
        return self._spool.directory if self._spool is not None else None

    # -- producer side (the caller's thread) ---------------------------------------------------

    def put(self, op: tuple[Any, ...]) -> None:
        """Enqueue one operation; blocks while the queue is full. Raises a pending error."""
        if self._error is not None:
            self._raise_error()
        ops = self._ops
        if len(ops) >= self.queue_size:
            self._wait_for_room()
        ops.append(op)
        if self._thread is None:
            self._start()
        if len(ops) == self.batch_size:
            self._wake.set()

    def put_many(self, ops: list[tuple[Any, ...]]) -> None:
        if self._error is not None:
            self._raise_error()
        for i in range(0, len(ops), self.batch_size):
            if len(self._ops) >= self.queue_size:
                self._wait_for_room()
            self._ops.extend(ops[i : i + self.batch_size])
            self._wake.set()
        if self._thread is None:
            self._start()

    def _wait_for_room(self) -> None:
        self._wake.set()
        with self._room:
            while len(self._ops) >= self.queue_size and self._error is None:
                self._wake.set()
                self._room.wait(0.05)
        if self._error is not None:
            self._raise_error()

    def flush(self, timeout: float | None = None) -> FlushStatus:
        """Wait until everything enqueued before this call is durable.

        Without a timeout, returns once every operation is in the store or, if the store cannot
        be reached, in the local spool. With a timeout, also waits up to that many seconds for
        the spool to drain into the store.

        Raises:
            LoggingFailed: a write failed for a reason that retrying cannot fix.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._thread is not None or self._ops:
            marker = _Marker()
            self._ops.append((MARK, marker))
            if self._thread is None:
                self._start()
            self._wake.set()
            while not marker.done.wait(0.05):
                if self._thread is None or not self._thread.is_alive():
                    break
                if deadline is not None and time.monotonic() > deadline:
                    break
        if self._spool is not None and self._spool.pending and deadline is not None:
            while self._spool.pending and time.monotonic() < deadline:
                self._next_retry = 0.0
                self._wake.set()
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        if self._error is not None:
            self._raise_error()
        spooled = self._spool.pending if self._spool is not None else 0
        return FlushStatus(
            pending=len(self._ops) + spooled,
            spooled=spooled,
            spool_files=self._spool.files() if self._spool is not None else [],
        )

    def close(self, timeout: float | None = 10.0) -> FlushStatus:
        """Flush, then stop the background thread."""
        try:
            status = self.flush(timeout=timeout)
        finally:
            self._closed = True
            self._wake.set()
            if self._thread is not None:
                self._thread.join(timeout=5)
            if self._spool is not None:
                self._spool.close()
        return status

    def _raise_error(self) -> None:
        with self._error_lock:
            err, self._error = self._error, None
        if err is not None:
            raise err

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mloop-writer", daemon=True)
                self._thread.start()

    # -- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.batch_wait_s)
            self._wake.clear()
            try:
                self._drain()
            except BaseException as exc:  # never let the thread die silently
                log.exception("mloop writer failed")
                self._set_error(LoggingFailed(f"the background writer failed: {exc!r}"), exc)
            with self._room:
                self._room.notify_all()
            if self._closed and not self._ops:
                return

    def _drain(self) -> None:
        self._replay_spool()
        ops = self._ops
        while ops:
            batches: dict[str, _Batch] = {}
            order: list[_Batch] = []
            spans: list[dict[str, Any]] = []
            n = 0
            limit = self.batch_size
            while ops and n < limit:
                op = ops.popleft()
                kind = op[0]
                if kind == SPAN:
                    spans.append(op[1])
                    n += 1
                    continue
                if kind == MARK:
                    self._write_batches(order)
                    self._write_spans(spans)
                    batches, order, spans, n = {}, [], [], 0
                    op[1].done.set()
                    continue
                if kind == UPDATE:
                    self._write_batches(order)
                    batches, order, n = {}, [], 0
                    self._apply_update(op[1], op[2])
                    continue
                if kind == RECORD:
                    self._write_batches(order)
                    batches, order, n = {}, [], 0
                    self._write_record(op[1], try_first=op[2])
                    continue
                run_id = op[1]
                b = batches.get(run_id)
                if b is None:
                    b = batches[run_id] = _Batch(run_id)
                    order.append(b)
                if kind == METRIC:
                    # A plain (key, value, step, timestamp) slice: stores read points by
                    # position, and a namedtuple per point would cost more than the insert.
                    b.metrics.append(op[2:])  # type: ignore[arg-type]
                elif kind == PARAM:
                    b.params[op[2]] = op[3]
                else:
                    b.tags[op[2]] = op[3]
                n += 1
            self._write_batches(order)
            self._write_spans(spans)
            with self._room:
                self._room.notify_all()

    def _write_spans(self, spans: list[dict[str, Any]]) -> None:
        if spans:
            # Spans are built by mloop's tracer, so the store's validation pass is skipped.
            self._send(lambda: {"spans": spans}, lambda: self.store._log_spans(spans), None)

    def _write_batches(self, order: list[_Batch]) -> None:
        for b in order:
            if b.size():
                # Every operation was validated when it was enqueued (Client checks keys,
                # values and steps), so the store's own validation pass is skipped here.
                self._send(b.to_record, _trusted_write(self.store, b), b)

    def _apply_update(self, run_id: str, fields: dict[str, Any]) -> None:
        self._send(
            lambda: {"run_id": run_id, "update": fields},
            lambda: self.store.update_run(run_id, **fields),
            None,
        )

    def _write_record(self, record: dict[str, Any], *, try_first: bool) -> None:
        if not try_first and self._spool is not None:
            # The caller saw the store down a moment ago: spool without another attempt.
            self._spool.append(record)
            self._next_retry = time.monotonic() + self.retry_s
            return
        self._send(lambda: record, lambda: self._apply_record(record), None)

    def _apply_record(self, record: dict[str, Any]) -> None:
        """Write one record that is not a batch: a run created offline, or an artifact."""
        if "create_run" in record:
            self._create_run(record["create_run"])
        elif "artifact" in record:
            art = record["artifact"]
            local = Path(art["local"])
            if local.exists():  # gone: uploaded by an earlier replay that stopped right after
                self.store.log_artifact(art["run_id"], local, art["artifact_path"])
                shutil.rmtree(local.parent, ignore_errors=True)
        else:
            raise LoggingFailed(f"unknown spool record with keys {sorted(record)}")

    def _create_run(self, spec: dict[str, Any]) -> None:
        experiment_id = spec.get("experiment_id")
        if experiment_id is None:  # the experiment too was chosen offline, by name
            name = spec["experiment_name"]
            try:
                experiment_id = self.store.get_experiment_by_name(name).experiment_id
            except ExperimentNotFound:
                try:
                    experiment_id = self.store.create_experiment(name).experiment_id
                except ExperimentAlreadyExists:
                    experiment_id = self.store.get_experiment_by_name(name).experiment_id
        self.store.create_run(
            experiment_id,
            run_id=spec["run_id"],
            run_name=spec["run_name"],
            parent_run_id=spec.get("parent_run_id"),
            start_time=spec["start_time"],
            tags=spec.get("tags") or {},
            user=spec.get("user", ""),
        )

    def _send(
        self,
        to_record: Callable[[], dict[str, Any]],
        write: Callable[[], Any],
        batch: _Batch | None,
    ) -> None:
        if self._spool is not None and self._spool.pending:
            self._spool.append(to_record())  # keep order behind what is already spooled
            return
        try:
            write()
        except StoreUnavailable as exc:
            if self._spool is None:
                self._set_error(LoggingFailed(f"the store is unreachable: {exc}"), exc)
                return
            log.warning(
                "mloop: the store is unreachable (%s); spooling to %s", exc, self._spool.directory
            )
            self._spool.append(to_record())
            self._next_retry = time.monotonic() + self.retry_s
        except MloopError as exc:
            if batch is not None and sum(map(bool, (batch.metrics, batch.params, batch.tags))) > 1:
                self._send_parts(batch)
            else:
                self._set_error(LoggingFailed(f"logging to run failed: {exc}"), exc)

    def _send_parts(self, b: _Batch) -> None:
        """A combined batch failed: write its parts alone so one bad param does not cost the
        metrics; each failing part is reported."""
        for suffix, part in (
            ("m", {"metrics": b.metrics}),
            ("p", {"params": b.params}),
            ("t", {"tags": b.tags}),
        ):
            if not next(iter(part.values())):
                continue
            try:
                self.store.log_batch(
                    b.run_id,
                    batch_id=f"{b.batch_id}-{suffix}",
                    **part,  # type: ignore[arg-type]
                )
            except MloopError as exc:
                self._set_error(LoggingFailed(f"logging to run {b.run_id} failed: {exc}"), exc)

    def _set_error(self, err: LoggingFailed, cause: BaseException) -> None:
        err.__cause__ = cause
        err.details = getattr(cause, "details", None)
        with self._error_lock:
            if self._error is None:
                self._error = err
            else:
                log.error("mloop: a further logging error: %s", err)

    def _replay_spool(self) -> None:
        spool = self._spool
        if spool is None or not spool.pending or time.monotonic() < self._next_retry:
            return
        try:
            spool.replay(self._replay_one)
        except StoreUnavailable:
            self._next_retry = time.monotonic() + self.retry_s
            return
        log.info("mloop: the store answers again; the spool is replayed")

    def _replay_one(self, record: dict[str, Any]) -> None:
        try:
            if "spans" in record:
                self.store.log_spans(record["spans"])
            elif "update" in record:
                self.store.update_run(record["run_id"], **record["update"])
            elif "run_id" not in record:
                self._apply_record(record)
            else:
                self.store.log_batch(
                    record["run_id"],
                    metrics=record["metrics"],
                    params=record["params"],
                    tags=record["tags"],
                    batch_id=record.get("batch_id"),
                )
        except StoreUnavailable:
            raise
        except MloopError as exc:
            self._set_error(LoggingFailed(f"replaying the spool failed: {exc}"), exc)


def _trusted_write(store: Store, b: _Batch) -> Callable[[], None]:
    def write() -> None:
        store._log_batch(b.run_id, b.metrics, b.params, b.tags, b.batch_id)

    return write


_live_writers: weakref.WeakSet[AsyncWriter] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for w in list(_live_writers):
        if w._closed:  # closed, and reported, by its owner (`mloop sync`, a test)
            continue
        # Records already in the spool: the store did not answer the last attempt (a server
        # down since the script started), so one more second of retries, not five.
        waiting = w._spool is not None and w._spool.pending > 0
        try:
            status = w.close(timeout=1.0 if waiting else 5.0)
        except MloopError as exc:
            log.error("mloop: logging failed at exit: %s", exc)
            continue
        if status.spooled:
            # The last thing a script prints: the data is safe, and how to send it.
            log.warning(spool_notice(status.spooled, w.store.uri, status.spool_files))


def spool_notice(spooled: int, uri: str, files: list[str]) -> str:
    """One line: how many records (batches of params, metrics and tags, runs created offline,
    artifacts, run ends) wait in the spool, where, and how to send them."""
    where = str(Path(files[0]).parent) if files else "the spool"
    records = f"{spooled} record{'s' if spooled != 1 else ''} of logging calls"
    return (
        f"mloop: {records} wait in the local spool ({where}): {uri} did not answer. The next "
        "mloop process that logs to it sends them, or run `mloop sync` once it is back."
    )
