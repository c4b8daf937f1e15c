"""Adaptive micro-batching: concurrent requests for one model version share one framework call.

One task per version takes what is queued, up to ``max_batch_size`` rows, and runs one predict
in a worker thread while the event loop keeps reading requests. When nothing else is queued the
batch goes at once, so an idle server adds no wait; it waits (at most ``max_wait`` after the
batch's first request) only while other requests for the model are still being read. Nothing is
ever refused: a full batch simply leaves the rest queued for the next one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mloop.serve._metrics import VersionMetrics
from mloop.serve._payload import Inputs

__all__ = ["Batcher"]

#: Runs a batch in the worker thread; one result per item (predictions or an exception).
PredictBatch = Callable[[list[Inputs]], list[Any]]


class _Pending:
    __slots__ = ("future", "inputs", "rows", "since")

    def __init__(self, inputs: Inputs, future: asyncio.Future[Any], since: float) -> None:
        self.inputs = inputs
        self.rows = inputs.rows
        self.future = future
        self.since = since


class Batcher:
    """The queue and the batching task of one served version."""

    def __init__(
        self,
        predict_batch: PredictBatch,
        *,
        max_batch_size: int,
        max_wait_s: float,
        metrics: VersionMetrics,
        name: str,
    ) -> None:
        self._predict_batch = predict_batch
        self._max_rows = max(1, max_batch_size)
        self._max_wait = max(0.0, max_wait_s)
        self._metrics = metrics
        self._queue: collections.deque[_Pending] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        # One thread per version: one batch in flight, the next one forms meanwhile.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"mloop-serve-{name}")
        #: Requests for this version being read or parsed (not yet queued).
        self.arriving = 0

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for pending in self._queue:
            if not pending.future.done():
                pending.future.cancel()
        self._queue.clear()
        self._executor.shutdown(wait=False)

    async def submit(self, inputs: Inputs) -> Any:
        """Queue ``inputs``; returns its predictions, or raises what predict raised for it."""
        loop = asyncio.get_running_loop()
        if self._task is None:
            raise RuntimeError("the batcher is not started")
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Pending(inputs, future, loop.time()))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def run_direct(self, inputs: Inputs) -> Any:
        """Predict without batching (still in the worker thread)."""
        loop = asyncio.get_running_loop()
        self._metrics.batch_size.observe(inputs.rows)
        (result,) = await loop.run_in_executor(self._executor, self._predict_batch, [inputs])
        return result

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        wakeup = self._wakeup
        assert wakeup is not None
        while True:
            if not queue:
                wakeup.clear()
                await wakeup.wait()
                continue
            batch = await self._collect(loop, queue, wakeup)
            self._metrics.queue_depth.set(len(queue))
            self._metrics.batch_size.observe(sum(p.rows for p in batch))
            try:
                results = await loop.run_in_executor(
                    self._executor, self._predict_batch, [p.inputs for p in batch]
                )
            except Exception as exc:  # predict_batch catches per item; this is a last guard
                results = [exc] * len(batch)
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)

    async def _collect(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: collections.deque[_Pending],
        wakeup: asyncio.Event,
    ) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        deadline = queue[0].since + self._max_wait
        while True:
            while queue:
                nxt = queue[0]
                if batch and rows + nxt.rows > self._max_rows:
                    return batch
                queue.popleft()
                if nxt.future.done():  # the client went away while it waited
                    continue
                batch.append(nxt)
                rows += nxt.rows
                if rows >= self._max_rows:
                    return batch
            # The queue is empty: wait only for requests already on their way, and not past
            # the deadline; with none arriving the batch goes now (adaptive, no idle wait).
            remaining = deadline - loop.time()
            if self.arriving <= 0 or remaining <= 0:
                if batch:
                    return batch
                wakeup.clear()
                await wakeup.wait()
                deadline = (queue[0].since if queue else loop.time()) + self._max_wait
                continue
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), remaining)
            except TimeoutError:
                if batch:
                    return batch
