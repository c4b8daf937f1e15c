"""The cache key of a step call: code, params, input content hashes, package versions."""

from __future__ import annotations

import hashlib
import pickle
import reprlib
from typing import Any

from mloop.pipeline import _codehash
from mloop.pipeline._cache import KeyParts
from mloop.pipeline._model import Node, Step, StepRef, walk_refs

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = 6


def _canon(value: Any, h: Any, refs: dict[int, str] | None) -> None:
    """Feed a stable encoding of ``value`` to ``h``; step outputs enter by content hash."""
    if isinstance(value, StepRef):
        if refs is None or value.index not in refs:
            raise KeyError(value.index)
        h.update(b"ref:" + refs[value.index].encode() + repr(value.path).encode())
    elif value is None or isinstance(value, bool | int | float | complex | str | bytes):
        h.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, list | tuple):
        h.update(f"{type(value).__name__}[".encode())
        for v in value:
            _canon(v, h, refs)
        h.update(b"]")
    elif isinstance(value, set | frozenset):
        parts = []
        for v in value:
            sub = hashlib.sha256()
            _canon(v, sub, refs)
            parts.append(sub.hexdigest())
        h.update(("set{" + ",".join(sorted(parts)) + "}").encode())
    elif isinstance(value, dict):
        h.update(b"dict{")
        items = []
        for k, v in value.items():
            sub = hashlib.sha256()
            _canon(k, sub, refs)
            _canon(v, sub, refs)
            items.append(sub.hexdigest())
        h.update(",".join(sorted(items)).encode() + b"}")
    elif type(value).__name__ == "Dataset" and hasattr(value, "digest"):
        h.update(f"dataset:{value.digest};".encode())
    else:
        import cloudpickle  # type: ignore[import-untyped]

        try:
            h.update(b"pickle:" + cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:  # not picklable: its repr is the best stable description left
            h.update(f"repr:{type(value).__qualname__}:{value!r}".encode())


def value_hash(value: Any, refs: dict[int, str] | None = None) -> str:
    h = hashlib.sha256()
    _canon(value, h, refs)
    return h.hexdigest()


def short_repr(value: Any) -> str:
    return _repr.repr(value)


class KeyMaker:
    """Computes key components, remembering code hashes and package versions for one run."""

    def __init__(self) -> None:
        self._code: dict[int, dict[str, str]] = {}
        self._versions: dict[str, str | None] = {}

    def code(self, step: Step) -> dict[str, str]:
        found = self._code.get(id(step))
        if found is None:
            found = self._code[id(step)] = _codehash.code_hashes(step.fn)
        return found

    def packages(self, step: Step) -> dict[str, str | None]:
        out = {}
        for name in step.options.packages:
            if name not in self._versions:
                self._versions[name] = _codehash.package_version(name)
            out[name] = self._versions[name]
        return out

    def parts(self, node: Node, outputs: dict[int, str] | None, id_of: dict[int, str]) -> KeyParts:
        """The key components of ``node``. ``outputs`` maps node index -> output sha256;
        an input whose upstream output is unknown gets the hash ``"?"``."""
        params: dict[str, dict[str, str]] = {}
        inputs: dict[str, dict[str, Any]] = {}
        for name, value in node.arguments.items():
            refs = list(walk_refs(value))
            if not refs:
                params[name] = {"sha256": value_hash(value), "repr": short_repr(value)}
                continue
            try:
                digest = value_hash(value, outputs)
            except KeyError:
                digest = "?"
            inputs[name] = {"sha256": digest, "from": sorted({id_of[r.index] for r in refs})}
        return KeyParts(
            code=dict(self.code(node.step)),
            params=params,
            inputs=inputs,
            packages=self.packages(node.step),
        )
