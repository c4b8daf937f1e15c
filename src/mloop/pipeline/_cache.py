"""The step cache in the artifact store: keys, entries, results and the index explain reads.

Layout under the artifact root (``MLOOP_ARTIFACTS``)::

    pipeline-cache/<key>/result.pkl | result.parquet    the step's output
    pipeline-cache/<key>/meta.json                      the key's components, the result's sha256
    pipeline-cache/_index/<pipeline>/<step-id>.json     the last key of that step

A key is the sha256 of its components: the code hashes of the step and of the project
functions it reaches, the hashes of its params, the content hashes of its inputs and the
versions of its declared packages. ``meta.json`` is written after the result, so an entry
whose meta exists is complete. Writes are atomic (a temporary file renamed into place); on a
local disk they are not fsynced one by one, so a crash can at worst lose an entry, and a result
whose bytes do not match the sha256 in its meta is treated as missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.errors import ArtifactNotFound
from mloop.store._localfs import safe_relpath

if TYPE_CHECKING:
    from mloop.store._artifacts import ArtifactStore

CACHE_DIR = "pipeline-cache"
KEY_VERSION = 1
_TMP_PREFIX = ".mloop-tmp-"


@dataclass
class KeyParts:
    """The components of a cache key, kept in the entry's meta for ``explain``."""

    code: dict[str, str] = field(default_factory=dict)
    params: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> sha256, repr
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> sha256, from
    packages: dict[str, str | None] = field(default_factory=dict)

    def key(self) -> str:
        doc = {
            "v": KEY_VERSION,
            "code": self.code,
            "params": {k: v["sha256"] for k, v in self.params.items()},
            "inputs": {k: v["sha256"] for k, v in self.inputs.items()},
            "packages": self.packages,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "params": self.params,
            "inputs": self.inputs,
            "packages": self.packages,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyParts:
        return cls(
            code=dict(d.get("code", {})),
            params=dict(d.get("params", {})),
            inputs=dict(d.get("inputs", {})),
            packages=dict(d.get("packages", {})),
        )


@dataclass(frozen=True)
class StoredResult:
    """Where a step's output lies in the artifact store, and what it is."""

    path: str
    sha256: str
    size: int
    format: str
    type_name: str


def entry_dir(key: str) -> str:
    return f"{CACHE_DIR}/{key}"


def index_path(pipeline: str, step_id: str) -> str:
    return f"{CACHE_DIR}/_index/{_safe_name(pipeline)}/{_safe_name(step_id)}.json"


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name) or "_"


class CacheStore:
    """Byte-level access to the artifact store, with a fast path for local folders."""

    def __init__(self, artifacts: str) -> None:
        self.url = artifacts
        self._store: ArtifactStore | None = None
        # A local folder (what open_artifact_store makes a LocalArtifactStore) is read and
        # written here directly: a fully cached run then imports no artifact store at all.
        self._local_root = (
            os.path.realpath(os.path.abspath(artifacts))
            if artifacts and "://" not in artifacts and "::" not in artifacts
            else None
        )
        if self._local_root is None:
            from mloop.store._artifacts import LocalArtifactStore

            self._store = self._open()
            if isinstance(self._store, LocalArtifactStore):  # a file:// URL
                self._local_root = os.path.realpath(self._store.root)

    def _open(self) -> ArtifactStore:
        from mloop.store import current, storage_options
        from mloop.store._objectstore import open_artifact_store

        # the current settings' credentials (a worker process reads its own, inherited)
        options = storage_options(current().settings) if "://" in self.url else None
        return open_artifact_store(self.url, options)

    @property
    def store(self) -> ArtifactStore:
        """The artifact store itself (opened on first use for a local folder)."""
        if self._store is None:
            self._store = self._open()
        return self._store

    def read(self, rel: str) -> bytes | None:
        rel = safe_relpath(rel)  # paths come from meta.json too: never outside the root
        if self._local_root is not None:
            try:
                with open(os.path.join(self._local_root, *rel.split("/")), "rb") as f:
                    return f.read()
            except (FileNotFoundError, NotADirectoryError):
                return None
        try:
            with self.store.open(rel) as f:
                return f.read()
        except ArtifactNotFound:
            return None

    def exists(self, rel: str) -> bool:
        rel = safe_relpath(rel)
        if self._local_root is not None:
            return os.path.exists(os.path.join(self._local_root, *rel.split("/")))
        return self.store.exists(rel)

    def write(self, rel: str, data: bytes) -> None:
        rel = safe_relpath(rel)
        if self._local_root is None:
            self.store.put_stream(io.BytesIO(data), rel)
            return
        # Atomic (rename) but not fsynced: see the module docstring.
        dest = os.path.join(self._local_root, *rel.split("/"))
        parent = os.path.dirname(dest)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, _TMP_PREFIX + secrets.token_hex(8))
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise

    def read_json(self, rel: str) -> dict[str, Any] | None:
        data = self.read(rel)
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except ValueError:
            return None  # a torn write: treated as missing
        return doc if isinstance(doc, dict) else None

    def write_json(self, rel: str, doc: dict[str, Any]) -> None:
        self.write(rel, json.dumps(doc, sort_keys=True, default=str).encode())

    # -- entries -------------------------------------------------------------------------------

    def meta(self, key: str) -> dict[str, Any] | None:
        return self.read_json(f"{entry_dir(key)}/meta.json")

    def entry(self, key: str) -> dict[str, Any] | None:
        """The meta of a complete entry under ``key`` (its result file present), else None:
        what a run may reuse and what explain calls cached."""
        meta = self.meta(key)
        if meta is None or not meta.get("run_id"):
            return None
        result = meta.get("result")
        if not isinstance(result, dict) or "path" not in result or "sha256" not in result:
            return None
        return meta if self.exists(str(result["path"])) else None

    def write_meta(self, key: str, meta: dict[str, Any]) -> None:
        self.write_json(f"{entry_dir(key)}/meta.json", meta)

    def last_key(self, pipeline: str, step_id: str) -> dict[str, Any] | None:
        return self.read_json(index_path(pipeline, step_id))

    def set_last_key(self, pipeline: str, step_id: str, doc: dict[str, Any]) -> None:
        self.write_json(index_path(pipeline, step_id), doc)


_stores: dict[str, CacheStore] = {}


def cache_store(artifacts: str) -> CacheStore:
    """One :class:`CacheStore` per artifact URL in a process."""
    found = _stores.get(artifacts)
    if found is None:
        found = _stores[artifacts] = CacheStore(artifacts)
    return found
