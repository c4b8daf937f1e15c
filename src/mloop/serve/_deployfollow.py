"""Deployment following: the traffic split of a served model comes from its deployment record in
the metadata store (``Registry.set_deployment``), polled with the aliases.

One query per served model returns ``(generation, spec)``; nothing happens while the generation
is unchanged. When it changes, every version the new spec names that is not loaded yet is loaded
and warmed in a thread beside the running ones, then the router is replaced with one reference
assignment; versions no longer named retire once their in-flight requests are answered, so no
request fails during a change. A spec that does not load keeps the previous router, is logged
once and is retried at the next poll. A cleared record (or none) leaves the served URI alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from mloop.registry import validate_model_policy
from mloop.serve._metrics import ServeMetrics
from mloop.serve._policy import Router, Shadow, version_uri
from mloop.serve._slot import ModelSlot, ServedVersion, Track, load_version

__all__ = ["DeploymentFollower"]

logger = logging.getLogger("mloop.serve")


def _default_get_deployment(name: str) -> Any:
    from mloop.store import current

    return current().store.get_deployment(name)


class DeploymentFollower:
    """Applies the deployment record of each slot that follows one (called by the poller)."""

    def __init__(
        self,
        metrics: ServeMetrics,
        *,
        max_batch_size: int,
        max_wait_s: float,
        get_deployment: Callable[[str], Any] = _default_get_deployment,
    ) -> None:
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._get = get_deployment
        self._retiring: set[asyncio.Task[None]] = set()
        self._pending_clear: dict[str, int] = {}
        #: Deployment records applied (for tests and /v1/models).
        self.applied = 0

    @staticmethod
    def follows(slot: ModelSlot) -> bool:
        return slot.follows_deployment and slot.registered_name is not None

    async def poll(self, slot: ModelSlot) -> None:
        registered = slot.registered_name
        if not slot.follows_deployment or registered is None:
            return
        try:
            record = await asyncio.to_thread(self._get, registered)
        except Exception as exc:
            # The alias poll that follows reports the outage (registry_error, its log line);
            # here it is logged once per outage, apart from it.
            problem = f"{type(exc).__name__}: {exc}"
            if slot.deployment_read_error is None:
                logger.warning(
                    "cannot read the deployment record of %s (%s); keeping the current split",
                    registered,
                    problem,
                )
            slot.deployment_read_error = problem
            return
        slot.deployment_read_error = None
        generation = int(record.generation)
        if generation == (slot.deployment_generation or 0):
            return
        if record.spec is None:
            self._pending_clear[slot.name] = generation  # applied by finish(), after aliases
            return
        await self._apply_generation(slot, registered, generation, record.spec)

    async def finish(self, slot: ModelSlot) -> None:
        """Apply a cleared record read by :meth:`poll` (once the aliases were resolved)."""
        generation = self._pending_clear.pop(slot.name, None)
        registered = slot.registered_name
        if generation is not None and registered is not None:
            await self._apply_generation(slot, registered, generation, None)

    async def _apply_generation(
        self, slot: ModelSlot, registered: str, generation: int, spec: dict[str, Any] | None
    ) -> None:
        try:
            await self._apply(slot, registered, spec)
        except Exception as exc:
            problem = f"generation {generation}: {type(exc).__name__}: {exc}"
            if slot.deployment_error != problem:
                logger.error(
                    "the deployment record of %s (generation %d) cannot be applied; keeping "
                    "the current split, retrying at the next poll: %s",
                    registered,
                    generation,
                    exc,
                    exc_info=exc,
                )
            slot.deployment_error = problem
            return
        slot.deployment_error = None
        slot.deployment_generation = generation
        self.applied += 1
        logger.info("%s: deployment record generation %d applied", slot.name, generation)

    async def _apply(self, slot: ModelSlot, registered: str, spec: dict[str, Any] | None) -> None:
        old_router = slot.router
        if spec is None:
            slot.router = None  # the served URI alone answers again
        else:
            policy = validate_model_policy(spec, source=f"deployment of {registered!r}")
            where = f"deployment of {registered!r}"
            tracks: list[Track] = []
            weights: list[float] = []
            entries = policy.canary or []
            if not entries:
                tracks, weights = [slot.main], [1.0]
            for i, entry in enumerate(entries):
                target = entry.uri if entry.uri is not None else entry.version
                assert target is not None
                uri = version_uri(target, registered, f"{where}: canary[{i}]")
                tracks.append(await self._track(slot, uri))
                weights.append(entry.weight)
            shadow = None
            if policy.shadow is not None:
                uri = version_uri(policy.shadow, registered, f"{where}: shadow")
                shadow = Shadow(slot.name, await self._track(slot, uri), policy.shadow_max_pending)
            # One reference assignment: the next request is routed by the new split.
            slot.router = Router(slot.name, tracks, weights, policy.sticky_key, shadow)
        if old_router is not None and old_router.shadow is not None:
            self._later(old_router.shadow.drain(timeout=5.0))
        self._prune(slot)

    async def _track(self, slot: ModelSlot, uri: str) -> Track:
        found = slot.tracks.get(uri)
        if found is not None:
            return found
        sv = await asyncio.to_thread(self._load, slot, uri)
        if sv.version not in slot.loaded:
            sv.batcher.start()
            slot.loaded[sv.version] = sv
        track = Track(uri, slot.loaded[sv.version])
        slot.tracks[uri] = track
        return track

    def _load(self, slot: ModelSlot, uri: str) -> ServedVersion:
        """In a worker thread: load the version (reusing a loaded one) and warm it."""
        sv = load_version(
            slot.name,
            uri,
            self.metrics,
            batching=slot.served.batching,
            max_batch_size=self.max_batch_size,
            max_wait_s=self.max_wait_s,
            loaded=slot.loaded,
        )
        if not sv.warmed:
            sv.warm()
        return sv

    def _prune(self, slot: ModelSlot) -> None:
        """Drop tracks the router no longer names; retire versions no track points at."""
        router = slot.router
        keep = {id(slot.main)}
        if router is not None:
            keep |= {id(t) for t in router.tracks}
            if router.shadow is not None:
                keep.add(id(router.shadow.track))
        for uri, track in list(slot.tracks.items()):
            if id(track) not in keep:
                del slot.tracks[uri]
        used = {id(t.current) for t in slot.tracks.values()}
        for version, sv in list(slot.loaded.items()):
            if id(sv) not in used:
                del slot.loaded[version]
                self._later(sv.retire())

    def _later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def stop(self) -> None:
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=30)
