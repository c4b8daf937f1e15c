"""The local cache of models fetched from a run or an fsspec URL.

Entries are named by the sha256 of the model's ``mloop-model.yaml``, which holds the sha256 of
every other file: an entry is immutable, a changed model gets a new entry, and concurrent
fetches need no lock (the first rename into place wins). Loading a cached model verifies its
files like any other.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from mloop.errors import ArtifactNotFound, ModelIntegrityError, ModelNotFound
from mloop.models._format import MODEL_FILE

__all__ = ["Fetcher", "RunFetcher", "UrlFetcher", "fetch"]


class Fetcher(ABC):
    """Downloads one model: its ``mloop-model.yaml`` alone, or the whole folder."""

    uri: str

    @abstractmethod
    def metadata_bytes(self, tmp: Path) -> bytes:
        """The bytes of the model's ``mloop-model.yaml``.

        Raises:
            ModelNotFound: there is no model at the URI.
        """

    @abstractmethod
    def download(self, tmp: Path) -> Path:
        """Download the model folder under ``tmp``; returns the local folder."""


class RunFetcher(Fetcher):
    """A model logged as an artifact folder of a run (``runs:/<run_id>/<path>``)."""

    def __init__(self, client: Any, run_id: str, path: str, uri: str) -> None:
        self.client, self.run_id, self.path, self.uri = client, run_id, path, uri

    def metadata_bytes(self, tmp: Path) -> bytes:
        rel = f"{self.path}/{MODEL_FILE}" if self.path else MODEL_FILE
        try:
            local = self.client.download_artifacts(self.run_id, rel, tmp)
        except ArtifactNotFound:
            raise _no_model(self.uri) from None
        return Path(local).read_bytes()

    def download(self, tmp: Path) -> Path:
        return Path(self.client.download_artifacts(self.run_id, self.path, tmp))


class UrlFetcher(Fetcher):
    """A model folder at an fsspec URL (``s3://bucket/models/churn``, ``memory://m``, ...)."""

    def __init__(self, uri: str, options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        import fsspec

        self.uri = uri
        protocol, _ = fsspec.core.split_protocol(uri)
        # the settings' credentials for this protocol (``mloop.store.storage_options``)
        kwargs = dict((options or {}).get(protocol or "", {})) if "::" not in uri else {}
        self.fs, root = fsspec.core.url_to_fs(uri, **kwargs)
        self.root = root.rstrip("/")

    def metadata_bytes(self, tmp: Path) -> bytes:
        try:
            return bytes(self.fs.cat_file(f"{self.root}/{MODEL_FILE}"))
        except FileNotFoundError:
            raise _no_model(self.uri) from None

    def download(self, tmp: Path) -> Path:
        folder = tmp / "model"
        for remote in sorted(self.fs.find(self.root)):
            rel = remote[len(self.root) :].lstrip("/")
            parts = PurePosixPath(rel).parts
            if not parts or ".." in parts:
                raise ModelIntegrityError(
                    f"{self.uri!r} holds a file with an unsafe name: {rel!r}", details={"file": rel}
                )
            local = folder.joinpath(*parts)
            local.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(remote, str(local))
        return folder


def _no_model(uri: str) -> ModelNotFound:
    return ModelNotFound(
        f"no model at {uri!r}: it has no {MODEL_FILE} (log one with mloop.models.log_model or "
        "save one with mloop.models.save)",
        details={"uri": uri},
    )


def fetch(fetcher: Fetcher, root: Path, *, refresh: bool = False) -> Path:
    """The local folder of the model ``fetcher`` downloads, from the cache when it is there.

    Args:
        fetcher: where the model comes from.
        root: the cache folder (``$MLOOP_HOME/cache/models``).
        refresh: download again even when the cache has the model (a damaged entry).
    """
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        key = hashlib.sha256(fetcher.metadata_bytes(tmp / "meta")).hexdigest()[:32]
        entry = root / key
        if (entry / MODEL_FILE).is_file() and not refresh:
            return entry
        folder = fetcher.download(tmp / "files")
        # the model may have changed between the two downloads: name the entry by what came
        key = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()[:32]
        entry = root / key
        if refresh and entry.exists():
            trash = root / f".trash-{uuid.uuid4().hex}"
            with contextlib.suppress(OSError):
                os.rename(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.rename(folder, entry)
        except OSError:
            if not (entry / MODEL_FILE).is_file():  # not another process's entry: a real error
                raise
        return entry
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
