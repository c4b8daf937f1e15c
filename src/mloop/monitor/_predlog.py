"""The prediction log: every (sampled) prediction as rows of Parquet segments in the artifact
store, written by a background thread (the rows' format: :mod:`._predformat`; reading them
back with the labels joined: :mod:`._predread`).

The request path pays for one :meth:`PredictionLog.record` call: a sampling decision and a tuple
appended to a bounded deque, about a microsecond, never blocking and never raising. A daemon
thread turns queued records into Arrow record batches, one open segment per (model, version, UTC
day), and publishes a segment once it holds ``max_rows_per_segment`` rows or is
``max_segment_age_s`` old, with :meth:`~mloop.store.ArtifactStore.publish`: atomic, and written
once (a conditional put on S3), so a retry after an ambiguous failure never duplicates it::

    <prefix>/<model>/date=YYYY-MM-DD/<HH>-<uuid7>.parquet     HH: the hour of its earliest row
    <prefix>/_feedback/date=YYYY-MM-DD/<HH>-<uuid7>.parquet   labels (see :mod:`._feedback`)

Failure policy: a failed write is retried with exponential backoff while the segment is younger
than ``max_retry_s`` and all segments waiting hold less than ``max_pending_bytes``; past that the
oldest are given up and their rows counted in ``rows_lost``. Nothing the store does reaches the
request path or stops the thread.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from mloop.errors import InvalidArgument, StoreUnavailable
from mloop.monitor._feedback import FEEDBACK_DIR, Feedback, feedback_batch, validate_feedback
from mloop.monitor._predformat import (
    DAY_S,
    US,
    Record,
    RequestFailure,
    RequestRows,
    conform,
    date_folder,
    input_kind,
    model_dir,
    prediction_batch,
    runs,
    unify,
    uuid7,
)

if TYPE_CHECKING:
    from mloop.store._artifacts import ArtifactStore

__all__ = ["PredictionLog"]


class ServedVersionLike(Protocol):
    """What :meth:`PredictionLog.on_prediction` reads of the version that answered (the
    inference server's ``ServedVersion``)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


logger = logging.getLogger("mloop.monitor.predlog")

_WAKE_EVERY = 2_048  # records queued before the writer is woken early
_CHUNK = 8_192  # records converted to Arrow at a time
_LOG_EVERY_S = 60.0


@dataclass
class _Segment:
    key: tuple[str, ...]
    folder: str
    opened: float  # clock() when the first batch came
    schema: pa.Schema | None = None
    batches: list[pa.RecordBatch] = field(default_factory=list)
    rows: int = 0


@dataclass
class _Failed:
    path: str
    data: bytes
    rows: int
    since: float  # monotonic: the first failure
    attempts: int = 1
    next_try: float = 0.0


@dataclass
class _Marker:
    roll: bool
    done: threading.Event = field(default_factory=threading.Event)


class PredictionLog:
    """A sampled, asynchronous log of predictions (and their late labels) in an artifact store.

    Args:
        artifacts: where segments go (``open_artifact_store(settings.artifacts)``).
        prefix: the folder under the artifact root.
        sample_rate: the share of requests logged, 0 to 1, decided by the request id (see
            :func:`sample_bucket`) so replicas and shadow copies agree.
        max_rows_per_segment: a segment is written once it holds this many rows...
        max_segment_age_s: ...or once it has been open this long (by ``clock``).
        max_queue: records waiting for the writer; past this, new ones are dropped and counted.
        clock: seconds since the epoch; the rows' default time and the segments' age.
        max_retry_s: how long a segment that fails to write is retried before it is given up.
        max_pending_bytes: the most Parquet bytes kept for retries; the oldest go first.
        retry_base_s: the first retry's delay; it doubles up to 60 s.

    Counters (plain ints, for ``/metrics``): ``recorded``, ``sampled_out``, ``dropped`` (queue
    full, log closed, or not convertible), ``segments_written``, ``rows_written``,
    ``write_errors`` (failed attempts), ``rows_lost`` (given up after retries),
    ``feedback_recorded``.

    Example::

        log = PredictionLog(open_artifact_store(settings.artifacts), sample_rate=0.1)
        log.start()
        log.record(request_id, time.time(), "churn", "3", inputs, predictions, 0.004)
        ...
        log.close(timeout=10)
        frame = read_predictions(log.artifacts, "churn", start=datetime(2026, 11, 28))
    """

    def __init__(
        self,
        artifacts: ArtifactStore,
        *,
        prefix: str = "predictions",
        sample_rate: float = 1.0,
        max_rows_per_segment: int = 50_000,
        max_segment_age_s: float = 60.0,
        max_queue: int = 100_000,
        clock: Callable[[], float] = time.time,
        max_retry_s: float = 900.0,
        max_pending_bytes: int = 256 * 1024 * 1024,
        retry_base_s: float = 0.5,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0 or math.isnan(sample_rate):
            raise InvalidArgument(f"sample_rate must be between 0 and 1, got {sample_rate}")
        if max_rows_per_segment < 1:
            raise InvalidArgument(
                f"max_rows_per_segment must be at least 1, got {max_rows_per_segment}"
            )
        if max_segment_age_s <= 0:
            raise InvalidArgument(f"max_segment_age_s must be positive, got {max_segment_age_s}")
        if max_queue < 1:
            raise InvalidArgument(f"max_queue must be at least 1, got {max_queue}")
        self.artifacts = artifacts
        self.prefix = prefix.strip("/")
        self.sample_rate = sample_rate
        self.max_rows_per_segment = max_rows_per_segment
        self.max_segment_age_s = max_segment_age_s
        self.max_queue = max_queue
        self.clock = clock
        self.max_retry_s = max_retry_s
        self.max_pending_bytes = max_pending_bytes
        self.retry_base_s = retry_base_s

        self.recorded = 0
        self.sampled_out = 0
        self.dropped = 0
        self.segments_written = 0
        self.rows_written = 0
        self.write_errors = 0
        self.rows_lost = 0
        self.feedback_recorded = 0

        self._queue: deque[Record] = deque()
        self._feedback: deque[Feedback] = deque()
        self._markers: deque[_Marker] = deque()
        self._wake = threading.Event()
        self._work_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._segments: dict[tuple[str, ...], _Segment] = {}
        self._failed: deque[_Failed] = deque()
        self._last_log: dict[str, float] = {}
        self._tick = min(1.0, max(0.01, max_segment_age_s / 10))

    # -- the request path ------------------------------------------------------------------------

    def record(
        self,
        request_id: str,
        time: float | None,
        model_name: str,
        model_version: str,
        inputs: RequestRows,
        outputs: Any,
        latency_s: float,
        shadow: bool = False,
    ) -> bool:
        """Queue one request's rows for the log. O(1): the rows are converted later, in the
        writer thread, so ``inputs`` and ``outputs`` must not be changed afterwards.

        Args:
            request_id: the request's id (also the sampling key and the feedback join key).
            time: when it was answered, in seconds since the epoch (None: ``clock()``).
            model_name, model_version: the version that answered.
            inputs: the request's rows.
            outputs: its predictions, one per row (as :func:`output_slice` gives them).
            latency_s: the time it took.
            shadow: a mirrored copy whose answer was not sent.

        Returns:
            Whether it was queued (False: sampled out, dropped, or the log is closed). Never
            raises.
        """
        try:
            if type(request_id) is not str:
                self._drop(1, f"a request id must be a string, got {type(request_id).__name__}")
                return False
            rate = self.sample_rate
            if rate < 1.0 and (
                rate <= 0.0
                or zlib.crc32(request_id.encode("utf-8", "surrogatepass")) >= rate * 4_294_967_296.0
            ):
                self.sampled_out += 1
                return False
            queue = self._queue
            if len(queue) >= self.max_queue or self._closed:
                self._drop(1, "closed" if self._closed else "full")
                return False
            if time is None:
                time = self.clock()
            queue.append(
                (request_id, time, model_name, model_version, inputs, outputs, latency_s, shadow)
            )
            self.recorded += 1
            if len(queue) >= _WAKE_EVERY and not self._wake.is_set():
                self._wake.set()
            return True
        except Exception as exc:  # never into the request path
            self._drop(1, f"error: {type(exc).__name__}: {exc}")
            return False

    def on_prediction(
        self,
        request_id: str,
        version: ServedVersionLike,
        inputs: RequestRows,
        predictions: Any,
        latency_s: float,
        shadow: bool,
    ) -> None:
        """The serving app's hook, called after each successful prediction: :meth:`record`
        with the served version's name and version, at ``clock()``."""
        self.record(
            request_id,
            None,
            version.name,
            version.version,
            inputs,
            predictions,
            latency_s,
            shadow,
        )

    def on_failure(
        self,
        request_id: str,
        version: ServedVersionLike,
        inputs: RequestRows | None,
        status: int,
        error: str,
        latency_s: float,
    ) -> None:
        """The serving app's hook, called after a request failed once a version was picked:
        its rows (the parsed inputs, if any; else one row without inputs) are logged with
        ``status`` and ``error`` and no output, sampled like the answered ones."""
        if not isinstance(inputs, RequestRows):
            inputs = RequestRows(1, {})
        self.record(
            request_id,
            None,
            version.name,
            version.version,
            inputs,
            RequestFailure(int(status), str(error)),
            latency_s,
            False,
        )

    def record_feedback(
        self, request_id: str, labels: Any, time: float | datetime | None = None
    ) -> int:
        """Queue the late label(s) of a request; they are joined to its rows when read.

        Args:
            request_id: the id of the request (the ``request_id`` of its answer).
            labels: one label for every row of the request; or a list, one label per row (None
                for a row without one); a label is a JSON scalar (str, int, float, bool) or an
                object of named scalars (``{"churned": true, "revenue": 12.5}``).
            time: when the label became known (default ``clock()``); of several labels for
                one row, the latest wins.

        Returns:
            How many labels were queued (1, or the non-null items of a list).

        Raises:
            InvalidArgument: a bad request id or label (the message says which and why).
            StoreUnavailable: the feedback queue is full (the store is not keeping up); retry.
        """
        items = validate_feedback(request_id, labels, time, self.clock)
        self.enqueue_feedback(items)
        return len(items)

    def enqueue_feedback(self, items: Sequence[Feedback]) -> None:
        """Queue labels already checked by :func:`validate_feedback` (all or none).

        Raises:
            StoreUnavailable: the log is closed, or the feedback queue has no room for them.
        """
        if self._closed:
            raise StoreUnavailable("the prediction log is closed; the server is shutting down")
        if len(self._feedback) + len(items) > self.max_queue:
            self._log_limited(
                "feedback-full", "the feedback queue is full; refusing labels until it drains"
            )
            raise StoreUnavailable(
                f"the feedback queue is full ({self.max_queue} labels wait to be written); "
                "retry in a few seconds",
                details={"max_queue": self.max_queue},
            )
        self._feedback.extend(items)
        self.feedback_recorded += len(items)
        if len(self._feedback) >= _WAKE_EVERY:
            self._wake.set()

    def _drop(self, n: int, why: str) -> None:
        self.dropped += n
        self._log_limited(
            "drop",
            "prediction log: dropping records (%s); %d dropped so far",
            why,
            self.dropped,
        )

    def _log_limited(
        self, kind: str, message: str, *args: Any, level: int = logging.WARNING
    ) -> None:
        now = time.monotonic()
        last = self._last_log.get(kind)
        if last is None or now - last >= _LOG_EVERY_S:
            self._last_log[kind] = now
            logger.log(level, message, *args)

    # -- lifecycle -------------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """The counters, for ``/metrics`` (``mloop_prediction_log_<name>_total``), plus the
        gauges ``queued`` and ``pending_segments``."""
        return {
            "recorded": self.recorded,
            "sampled_out": self.sampled_out,
            "dropped": self.dropped,
            "segments_written": self.segments_written,
            "rows_written": self.rows_written,
            "write_errors": self.write_errors,
            "rows_lost": self.rows_lost,
            "feedback_recorded": self.feedback_recorded,
            "queued": self.queued,
            "pending_segments": self.pending_segments,
        }

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: later records are dropped."""
        return self._closed

    @property
    def queued(self) -> int:
        """Records and labels waiting for the writer thread."""
        return len(self._queue) + len(self._feedback)

    @property
    def pending_segments(self) -> int:
        """Segments that failed to write and wait for a retry."""
        return len(self._failed)

    def start(self) -> PredictionLog:
        """Start the writer thread (once; later calls do nothing)."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._run, name="mloop-prediction-log", daemon=True
            )
            self._thread.start()
        return self

    def flush(self, timeout: float | None = None, *, roll: bool = True) -> bool:
        """Wait until everything queued before this call is processed.

        Args:
            timeout: the longest to wait, in seconds (None: as long as it takes).
            roll: also write the open segments now (False: only queue -> segments, writing
                those due by size or age).

        Returns:
            True when it was all processed, none of it was given up, and no segment waits
            for a retry.
        """
        lost = self.rows_lost
        marker = _Marker(roll)
        self._markers.append(marker)
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._cycle()
        else:
            self._wake.set()
            marker.done.wait(timeout)
        return marker.done.is_set() and not self._failed and self.rows_lost == lost

    def close(self, timeout: float = 10.0) -> bool:
        """Refuse new records, write everything queued and open, retry failed segments once
        more, and stop the thread. Returns True when nothing was left unwritten."""
        self._closed = True
        self._stopping = True
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._wake.set()
            thread.join(timeout)
            if thread.is_alive():
                logger.error(
                    "prediction log: the writer did not finish within %.1f s; %d records and "
                    "%d segments are lost",
                    timeout,
                    self.queued,
                    len(self._segments) + len(self._failed),
                )
                return False
        else:
            self._final()
        return not self._queue and not self._feedback and not self._segments and not self._failed

    # -- the writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            wait = self._tick
            failed = self._failed
            if failed:  # wake for the next retry that is due
                wait = min(wait, max(0.005, min(f.next_try for f in failed) - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            self._cycle()
        self._final()

    def _final(self) -> None:
        self._markers.append(_Marker(True))
        self._cycle(retry_all=True)

    def _cycle(self, retry_all: bool = False) -> None:
        with self._work_lock:
            markers = []
            while self._markers:
                markers.append(self._markers.popleft())
            roll = any(m.roll for m in markers)
            try:
                self._drain()
                self._roll(force=roll)
                self._retry(force=retry_all or roll)
            except Exception as exc:  # the thread must survive anything
                logger.exception("prediction log: the writer failed: %s", exc)
            finally:
                for marker in markers:
                    marker.done.set()

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            chunk: list[Record] = []
            pop = queue.popleft
            with contextlib.suppress(IndexError):
                for _ in range(_CHUNK):
                    chunk.append(pop())
            self._convert(chunk)
        fb = self._feedback
        if fb:
            items: list[Feedback] = []
            with contextlib.suppress(IndexError):
                while True:
                    items.append(fb.popleft())
            self._convert_feedback(items)

    def _convert(self, chunk: list[Record]) -> None:
        groups: dict[tuple[str, str, int], list[Record]] = {}
        for rec in chunk:
            try:
                key = (str(rec[2]), str(rec[3]), int(rec[1] // DAY_S))
                input_kind(rec[4])
            except Exception as exc:
                self._drop(1, f"a record that cannot be logged: {type(exc).__name__}: {exc}")
                continue
            group = groups.get(key)
            if group is None:
                groups[key] = [rec]
            else:
                group.append(rec)
        for (model, version, day), records in groups.items():
            folder = f"{model_dir(self.prefix, model)}/date={date_folder(day)}"
            for run in runs(records):
                for batch, count in self._batches(run):
                    try:
                        self._append(("p", model, version, str(day)), folder, batch)
                    except Exception as exc:
                        self._drop(count, f"cannot add to a segment: {type(exc).__name__}: {exc}")

    def _batches(self, run: list[Record]) -> list[tuple[pa.RecordBatch, int]]:
        """The run as one batch; or, when a record spoils it, one batch per good record."""
        try:
            return [(prediction_batch(run), len(run))]
        except Exception:
            return self._batches_each(run)

    def _batches_each(self, run: list[Record]) -> list[tuple[pa.RecordBatch, int]]:
        out = []
        for rec in run:
            try:
                out.append((prediction_batch([rec]), 1))
            except Exception as exc:
                self._drop(1, f"cannot convert to Arrow: {type(exc).__name__}: {exc}")
        return out

    def _convert_feedback(self, items: list[Feedback]) -> None:
        groups: dict[int, list[Feedback]] = {}
        for item in items:
            groups.setdefault(int(item.ts_us // (DAY_S * US)), []).append(item)
        for day, group in groups.items():
            folder = f"{self.prefix}/{FEEDBACK_DIR}/date={date_folder(day)}"
            self._append(("f", str(day)), folder, feedback_batch(group))

    def _append(self, key: tuple[str, ...], folder: str, batch: pa.RecordBatch) -> None:
        segment = self._segments.get(key)
        if segment is not None and segment.schema is not None:
            unified = unify(segment.schema, batch.schema)
            if unified is None:  # another schema: this segment ends here
                self._write_segment(segment)
                segment = None
            elif unified != segment.schema:
                segment.batches = [conform(b, unified) for b in segment.batches]
                segment.schema = unified
        if segment is None:
            segment = self._segments[key] = _Segment(key, folder, self.clock())
            segment.schema = batch.schema
        if batch.schema != segment.schema:
            batch = conform(batch, segment.schema)
        limit = self.max_rows_per_segment
        while batch.num_rows:
            room = limit - segment.rows
            part = batch if batch.num_rows <= room else batch.slice(0, room)
            segment.batches.append(part)
            segment.rows += part.num_rows
            batch = batch.slice(part.num_rows)
            if segment.rows >= limit:
                self._write_segment(segment)
                if batch.num_rows:
                    segment = self._segments[key] = _Segment(key, folder, self.clock())
                    segment.schema = batch.schema

    def _roll(self, force: bool) -> None:
        now = self.clock()
        for segment in list(self._segments.values()):
            if force or now - segment.opened >= self.max_segment_age_s:
                self._write_segment(segment)

    def _write_segment(self, segment: _Segment) -> None:
        if self._segments.get(segment.key) is segment:
            del self._segments[segment.key]
        if not segment.rows:
            return
        try:
            table = pa.Table.from_batches(segment.batches, schema=segment.schema)
            ts = table.column("ts")
            first = ts.combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False).min()
            hour = int(first // US % DAY_S // 3600)
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="zstd", row_group_size=65_536)
        except Exception as exc:
            self._drop(segment.rows, f"cannot encode a segment: {type(exc).__name__}: {exc}")
            return
        path = f"{segment.folder}/{hour:02d}-{uuid7()}.parquet"
        self._put(_Failed(path, sink.getvalue(), segment.rows, time.monotonic(), attempts=0))

    def _put(self, item: _Failed) -> bool:
        try:
            # once: a retry after an ambiguous failure finds its first copy (conditional put)
            self.artifacts.publish(item.data, item.path)
        except Exception as exc:
            self.write_errors += 1
            now = time.monotonic()
            if item.attempts == 0:
                item.since = now
            item.attempts += 1
            item.next_try = now + min(60.0, self.retry_base_s * 2 ** (item.attempts - 1))
            self._log_limited(
                "write",
                "prediction log: writing %s failed (attempt %d, %d segments waiting): %s",
                item.path,
                item.attempts,
                len(self._failed) + 1,
                exc,
            )
            self._failed.append(item)
            self._bound_failed(now)
            return False
        self.segments_written += 1
        self.rows_written += item.rows
        return True

    def _bound_failed(self, now: float) -> None:
        failed = self._failed
        total = sum(len(f.data) for f in failed)
        while failed and (
            total > self.max_pending_bytes or now - failed[0].since > self.max_retry_s
        ):
            lost = failed.popleft()
            total -= len(lost.data)
            self.rows_lost += lost.rows
            self._log_limited(
                "lost",
                "prediction log: gave up %s after %d attempts; %d rows lost so far",
                lost.path,
                lost.attempts,
                self.rows_lost,
                level=logging.ERROR,
            )

    def _retry(self, force: bool) -> None:
        if not self._failed:
            return
        now = time.monotonic()
        self._bound_failed(now)
        for _ in range(len(self._failed)):
            item = self._failed.popleft()
            if force or item.next_try <= now:
                self._put(item)  # appends it again when it fails
            else:
                self._failed.append(item)
