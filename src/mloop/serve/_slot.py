"""What is served: a :class:`ServedModel` names a model URI; a :class:`ModelSlot` is one served
name, holding its loaded :class:`ServedVersion` objects and the :class:`Track` objects that point
at them (the served URI, and the canary and shadow URIs of a traffic policy). A track whose URI
is an alias (``models:/churn@champion``) or ``models:/churn`` (latest) is followed: when the
alias moves, the new version is loaded beside the old one and the track switches to it with one
reference assignment (see :mod:`mloop.serve._follow`)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from mloop.errors import InvalidArgument
from mloop.models import LoadedModel, Signature, TrustedKeys, load
from mloop.serve._batcher import Batcher
from mloop.serve._metrics import ServeMetrics, VersionMetrics
from mloop.serve._payload import Inputs, merge_inputs, output_slice

__all__ = ["ModelSlot", "ServedModel", "ServedVersion", "Track", "load_slot", "load_version"]

logger = logging.getLogger("mloop.serve")

#: The longest a replaced version waits for its requests in flight before its batcher stops.
RETIRE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ServedModel:
    """A model to serve.

    Args:
        uri: what :func:`mloop.models.load` accepts: ``models:/churn@champion``,
            ``models:/churn/3``, ``runs:/<run_id>/model``, a folder or an fsspec URL. An alias
            or ``models:/churn`` (latest) is followed while serving.
        name: the name clients use in ``/v1/models/{name}:predict`` (default: the registered
            model's name for a ``models:/`` URI, else the folder's name).
        batching: merge concurrent requests into one framework call (default True).
        optimize: serve a scikit-learn model through ONNX Runtime when its conversion passes
            the parity check, else the model as it is (see :mod:`mloop.serve._onnx`).
        trust: load only versions signed by one of these keys (``mloop serve --trust``),
            those the server moves to later included.
    """

    uri: str
    name: str | None = None
    batching: bool = True
    optimize: bool = False
    trust: TrustedKeys | None = None

    def resolved_name(self) -> str:
        if self.name:
            return self.name
        uri = self.uri
        if uri.startswith("models:/"):
            rest = uri[len("models:/") :]
            return rest.split("@", 1)[0].split("/", 1)[0]
        path = uri.split("://", 1)[-1].rstrip("/")
        return PurePosixPath(path).name or path


class ServedVersion:
    """One loaded version of a served model, with its batcher and metrics."""

    def __init__(
        self,
        name: str,
        version: str,
        uri: str,
        model: LoadedModel,
        metrics: VersionMetrics,
        *,
        batching: bool,
        max_batch_size: int,
        max_wait_s: float,
    ) -> None:
        self.name = name
        self.version = version
        self.uri = uri
        self.model = model
        self.signature: Signature | None = model.signature
        self.metrics = metrics
        self.batching = batching
        self.warmed = False
        self.warm_error: str | None = None
        #: Requests that picked this version and have not been answered yet.
        self.inflight = 0
        self.batcher = Batcher(
            self.predict_batch,
            max_batch_size=max_batch_size,
            max_wait_s=max_wait_s,
            metrics=metrics,
            name=name,
        )
        self.model_info = {"name": name, "version": version}
        spec = self.signature.inputs if self.signature is not None else None
        self._all_float = isinstance(spec, list) and all(c.type == "float64" for c in spec)

    async def predict(self, inputs: Inputs) -> Any:
        """The predictions for ``inputs`` (batched or not); raises what predict raised."""
        if self.batching:
            result = await self.batcher.submit(inputs)
        else:
            result = await self.batcher.run_direct(inputs)
        if isinstance(result, BaseException):
            raise result
        return result

    def predict_batch(self, items: list[Inputs]) -> list[Any]:
        """Run in the worker thread: one framework call for the batch; one result per item."""
        predict = self.model.predict
        if len(items) == 1:
            return [self._predict_one(items[0])]
        merged = merge_inputs(items, self._all_float)
        if merged is None:
            return [self._predict_one(item) for item in items]
        try:
            out = predict(merged)
        except Exception:
            # Some request is bad (or makes the model raise): predict each alone, so each gets
            # its own answer and one bad row never fails the other requests of its batch.
            return [self._predict_one(item) for item in items]
        total = sum(item.rows for item in items)
        if len(out) != total:
            return [self._row_count_error(len(out), total)] * len(items)
        results = []
        start = 0
        for item in items:
            results.append(output_slice(out, start, start + item.rows))
            start += item.rows
        return results

    def _predict_one(self, item: Inputs) -> Any:
        try:
            out = self.model.predict(item.to_model_input(self._all_float))
        except Exception as exc:
            return exc
        if len(out) != item.rows:
            return self._row_count_error(len(out), item.rows)
        return output_slice(out, 0, item.rows)

    def _row_count_error(self, got: int, expected: int) -> RuntimeError:
        return RuntimeError(f"model {self.name} v{self.version} returned {got} rows for {expected}")

    def warm(self) -> None:
        """Predict the saved input example once (loads lazy state, fills caches)."""
        example = self.model.input_example
        if example is not None:
            self.model.predict(example)
        self.warm_error = None  # before `warmed`: /readyz never shows ready with an old error
        self.warmed = True

    async def retire(self, timeout: float = RETIRE_TIMEOUT_S) -> None:
        """Stop the batcher once the requests that picked this version are answered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.inflight > 0 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self.inflight > 0:
            logger.warning(
                "%s v%s still had %d requests in flight after %.0f s; stopping it anyway",
                self.name,
                self.version,
                self.inflight,
                timeout,
            )
        await self.batcher.stop()


class Track:
    """A URI of a served name and the version it points at now.

    ``followed`` tracks (an alias, or ``models:/name`` for the latest version) are re-resolved
    by the poller; ``current`` is swapped with one reference assignment.
    """

    __slots__ = ("current", "followed", "load_error", "uri")

    def __init__(self, uri: str, current: ServedVersion) -> None:
        self.uri = uri
        self.current = current
        self.followed = is_followed(uri)
        #: The last failure to load the version the alias points at (cleared on success).
        self.load_error: str | None = None


def is_followed(uri: str) -> bool:
    """Whether ``uri`` names a version that can move: ``models:/name@alias`` or ``models:/name``."""
    if not uri.startswith("models:/"):
        return False
    rest = uri[len("models:/") :].rstrip("/")
    return "@" in rest or "/" not in rest


class ModelSlot:
    """One served name: the track clients get by default (``main``), the tracks a traffic policy
    adds, and every loaded version, keyed by version.

    ``current`` is the version the main track points at: the hot path reads it once per request
    (with no policy). ``router`` is set when a traffic policy applies to this name.
    """

    def __init__(self, name: str, main: Track, *, served: ServedModel) -> None:
        self.name = name
        self.main = main
        self.current = main.current
        self.served = served
        self.tracks: dict[str, Track] = {main.uri: main}
        self.loaded: dict[str, ServedVersion] = {main.current.version: main.current}
        #: The traffic policy's router (``mloop.serve._policy.Router``), or None.
        self.router: Any = None
        #: Why the last poll of the registry failed (None once it answers again).
        self.registry_error: str | None = None
        #: Versions swapped in by following an alias.
        self.swaps = 0
        #: The deployment record generation the router follows (None: none applied).
        self.deployment_generation: int | None = None
        #: Only a followed URI (an alias, or latest) follows the record; a pinned version
        #: (models:/churn/3) or a name a ``--policy`` file covers does not.
        self.follows_deployment = main.followed
        #: Why the last deployment record could not be applied (None when it was), and why it
        #: could not be read (None once the store answers).
        self.deployment_error: str | None = None
        self.deployment_read_error: str | None = None

    @property
    def registered_name(self) -> str | None:
        """The registry name behind ``models:/`` URIs, or None for a folder or a run."""
        uri = self.served.uri
        if not uri.startswith("models:/"):
            return None
        return uri[len("models:/") :].split("@", 1)[0].split("/", 1)[0]

    @property
    def versions(self) -> list[ServedVersion]:
        return list(self.loaded.values())

    @property
    def ready(self) -> bool:
        return all(t.current.warmed for t in self.tracks.values())

    def switch(self, track: Track, new: ServedVersion) -> list[ServedVersion]:
        """Point ``track`` at ``new`` (already loaded, warmed and started); returns the versions
        no track points at any more (to retire)."""
        self.loaded[new.version] = new
        track.current = new  # one reference assignment: the next request sees the new version
        if track is self.main:
            self.current = new
        used = {id(t.current) for t in self.tracks.values()}
        gone = [v for v in self.loaded.values() if id(v) not in used]
        for v in gone:
            del self.loaded[v.version]
        return gone


def load_version(
    name: str,
    uri: str,
    metrics: ServeMetrics,
    *,
    batching: bool,
    max_batch_size: int,
    max_wait_s: float,
    loaded: dict[str, ServedVersion] | None = None,
    resolved: tuple[str, int] | None = None,
    optimize: bool = False,
    trust: TrustedKeys | None = None,
) -> ServedVersion:
    """Load the version ``uri`` names now (a ``models:/`` URI is resolved to one version first,
    unless ``resolved`` gives its registered name and version); a version already in ``loaded``
    is reused. Blocking: call it from a thread while serving."""
    uri = os.fspath(uri)
    version = "1"
    source = uri
    if uri.startswith("models:/"):
        if resolved is None:
            from mloop.registry import resolve

            mv = resolve(uri)
            resolved = (mv.name, mv.version)
        version = str(resolved[1])
        if loaded is not None and version in loaded:
            return loaded[version]
        # Load the version resolved, not the alias again (it may have moved in between).
        source = f"models:/{resolved[0]}/{resolved[1]}"
    model = load(source, trust=trust)
    if optimize:
        from mloop.serve._onnx import optimize as compile_model

        model = compile_model(model, name=f"{name} v{version}").model
    return ServedVersion(
        name,
        version,
        uri,
        model,
        metrics.for_version(name, version),
        batching=batching,
        max_batch_size=max_batch_size,
        max_wait_s=max_wait_s,
    )


def load_slot(
    served: ServedModel,
    metrics: ServeMetrics,
    *,
    max_batch_size: int,
    max_wait_s: float,
) -> ModelSlot:
    """Load ``served`` (resolving a ``models:/`` URI to one version first)."""
    name = served.resolved_name()
    sv = load_version(
        name,
        served.uri,
        metrics,
        batching=served.batching,
        max_batch_size=max_batch_size,
        max_wait_s=max_wait_s,
        optimize=served.optimize,
        trust=served.trust,
    )
    return ModelSlot(name, Track(os.fspath(served.uri), sv), served=served)


def add_track(
    slot: ModelSlot,
    uri: str,
    metrics: ServeMetrics,
    *,
    max_batch_size: int,
    max_wait_s: float,
) -> Track:
    """The slot's track for ``uri`` (a policy's canary or shadow URI), loading its version if no
    other track holds it yet."""
    found = slot.tracks.get(uri)
    if found is not None:
        return found
    if not uri.startswith("models:/"):
        raise InvalidArgument(f"expected a models:/ URI, got {uri!r}")
    sv = load_version(
        slot.name,
        uri,
        metrics,
        batching=slot.served.batching,
        max_batch_size=max_batch_size,
        max_wait_s=max_wait_s,
        loaded=slot.loaded,
        optimize=slot.served.optimize,
        trust=slot.served.trust,
    )
    slot.loaded.setdefault(sv.version, sv)
    track = slot.tracks[uri] = Track(uri, slot.loaded[sv.version])
    return track
