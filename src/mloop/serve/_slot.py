"""What is served: a :class:`ServedModel` names a model URI; a :class:`ModelSlot` is one served
name, holding the loaded :class:`ServedVersion` (the seam where aliases that move and traffic
policies over several versions will plug in)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from mloop.errors import SignatureMismatch
from mloop.models import LoadedModel, Signature, load
from mloop.serve._batcher import Batcher
from mloop.serve._metrics import ServeMetrics, VersionMetrics
from mloop.serve._payload import Inputs, merge_inputs, output_slice

__all__ = ["ModelSlot", "ServedModel", "ServedVersion"]

logger = logging.getLogger("mloop.serve")


@dataclass(frozen=True)
class ServedModel:
    """A model to serve.

    Args:
        uri: what :func:`mloop.models.load` accepts: ``models:/churn@champion``,
            ``models:/churn/3``, ``runs:/<run_id>/model``, a folder or an fsspec URL.
        name: the name clients use in ``/v1/models/{name}:predict`` (default: the registered
            model's name for a ``models:/`` URI, else the folder's name).
        batching: merge concurrent requests into one framework call (default True).
    """

    uri: str
    name: str | None = None
    batching: bool = True

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
        except SignatureMismatch:
            # Some request is bad: predict each alone, so each gets its own answer.
            return [self._predict_one(item) for item in items]
        except Exception as exc:
            return [exc] * len(items)
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
        self.warmed = True


class ModelSlot:
    """One served name. Holds the version that answers; later, several (aliases, canaries)."""

    def __init__(self, name: str, current: ServedVersion) -> None:
        self.name = name
        self.current = current

    @property
    def versions(self) -> list[ServedVersion]:
        return [self.current]

    @property
    def ready(self) -> bool:
        return self.current.warmed


def load_slot(
    served: ServedModel,
    metrics: ServeMetrics,
    *,
    max_batch_size: int,
    max_wait_s: float,
) -> ModelSlot:
    """Load ``served`` (resolving a ``models:/`` URI to one version first)."""
    uri = os.fspath(served.uri)
    name = served.resolved_name()
    version = "1"
    if uri.startswith("models:/"):
        from mloop.registry import resolve

        mv = resolve(uri)
        version = str(mv.version)
        # Load the version resolved, not the alias again (it may have moved in between).
        uri = f"models:/{mv.name}/{mv.version}"
    model = load(uri)
    sv = ServedVersion(
        name,
        version,
        served.uri,
        model,
        metrics.for_version(name, version),
        batching=served.batching,
        max_batch_size=max_batch_size,
        max_wait_s=max_wait_s,
    )
    return ModelSlot(name, sv)
