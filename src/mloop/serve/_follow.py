"""Alias following: a background task re-resolves every followed URI (``models:/churn@champion``,
``models:/churn`` for the latest) and hot-swaps the served version when it moved.

A swap never fails or delays a request: the new version is loaded and warmed in a thread beside
the old one, its batcher started, then the track switches with one reference assignment; the old
version's batcher stops once the requests that picked it are answered. When the registry cannot
be reached, or the new version does not load or warm, the server keeps serving what it has,
logs once (per outage, per version that fails) and tries again at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from mloop._web._heap import freeze_heap
from mloop.serve._deployfollow import DeploymentFollower
from mloop.serve._metrics import ServeMetrics
from mloop.serve._slot import ModelSlot, ServedVersion, Track, load_version

__all__ = ["Follower"]

logger = logging.getLogger("mloop.serve")


def _default_resolve(uri: str) -> Any:
    from mloop.registry import resolve

    return resolve(uri)


class Follower:
    """Polls the registry every ``interval_s`` seconds for the followed tracks of ``slots``."""

    def __init__(
        self,
        slots: Mapping[str, ModelSlot],
        metrics: ServeMetrics,
        *,
        interval_s: float,
        max_batch_size: int,
        max_wait_s: float,
        resolve: Callable[[str], Any] = _default_resolve,
        deployments: DeploymentFollower | None = None,
    ) -> None:
        self.slots = slots
        self.metrics = metrics
        self.interval_s = interval_s
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._resolve = resolve
        #: Follows the deployment record of each served registered model (None: ignored).
        self.deployments = deployments
        self._task: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        #: Polls done (for tests and /v1/models), and swaps made.
        self.polls = 0
        self.swaps = 0

    @property
    def active(self) -> bool:
        if self.deployments is not None and any(
            self.deployments.follows(s) for s in self.slots.values()
        ):
            return True
        return any(t.followed for s in self.slots.values() for t in s.tracks.values())

    def start(self) -> None:
        if self.active and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mloop-follow")

    async def stop(self) -> None:
        """Stop polling; wait for replaced versions to be retired."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=30)
        if self.deployments is not None:
            await self.deployments.stop()

    async def _run(self) -> None:
        if self.deployments is not None:
            # At start: a replica that starts mid-rollout takes the current split at once.
            for slot in self.slots.values():
                await self.deployments.poll(slot)
                await self.deployments.finish(slot)
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not end following for good
                logger.error("polling the registry failed: %s", exc, exc_info=exc)

    async def poll(self) -> None:
        """Apply changed deployment records; resolve every followed track once and swap those
        whose alias moved."""
        for slot in self.slots.values():
            if self.deployments is not None:
                await self.deployments.poll(slot)
            for track in list(slot.tracks.values()):
                if track.followed:
                    await self._poll_track(slot, track)
            if self.deployments is not None:
                # A cleared record takes effect after the served alias was resolved again:
                # a promotion moves @champion before it clears the record, so the served URI
                # already names the new version when the split goes.
                await self.deployments.finish(slot)
        self.polls += 1

    async def _poll_track(self, slot: ModelSlot, track: Track) -> None:
        try:
            mv = await asyncio.to_thread(self._resolve, track.uri)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if slot.registry_error is None:
                logger.warning(
                    "cannot resolve %s for %s (%s); still serving v%s, retrying every %g s",
                    track.uri,
                    slot.name,
                    problem,
                    track.current.version,
                    self.interval_s,
                )
            slot.registry_error = problem
            return
        if slot.registry_error is not None:
            logger.info("the registry answers again for %s (%s)", slot.name, track.uri)
            slot.registry_error = None
        version = str(mv.version)
        if version == track.current.version:
            track.load_error = None
            return
        new = slot.loaded.get(version)
        if new is None:
            try:
                new = await asyncio.to_thread(self._load, slot, track, mv.name, mv.version)
            except Exception as exc:
                problem = f"v{version}: {type(exc).__name__}: {exc}"
                if track.load_error != problem:
                    logger.error(
                        "%s moved to v%s but it failed to load or warm; still serving v%s, "
                        "retrying at the next poll: %s",
                        track.uri,
                        version,
                        track.current.version,
                        exc,
                        exc_info=exc,
                    )
                track.load_error = problem
                return
            new.batcher.start()
        track.load_error = None
        old = track.current
        for gone in slot.switch(track, new):
            task = asyncio.get_running_loop().create_task(gone.retire())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        self.swaps += 1
        slot.swaps += 1
        # The new version lives until the next swap: keep its objects out of full collections.
        freeze_heap()
        logger.info(
            "%s: %s now serves v%s (was v%s)", slot.name, track.uri, new.version, old.version
        )

    def _load(self, slot: ModelSlot, track: Track, name: str, version: int) -> ServedVersion:
        """In a worker thread: load the version and predict its input example once."""
        sv = load_version(
            slot.name,
            track.uri,
            self.metrics,
            batching=slot.served.batching,
            max_batch_size=self.max_batch_size,
            max_wait_s=self.max_wait_s,
            resolved=(name, version),
            optimize=slot.served.optimize,
            trust=slot.served.trust,
        )
        sv.warm()
        return sv
