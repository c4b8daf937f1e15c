"""The model an export packages: resolved once, copied, every file's sha256 checked.

Nothing is unpickled here: the model folder is read as files (``mloop-model.yaml`` names every
file with its sha256), so exporting a model needs neither its framework nor trust in its bytes
beyond their hashes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from mloop.errors import InvalidArgument, ModelIntegrityError, ModelNotFound
from mloop.models import ModelMetadata

if TYPE_CHECKING:
    from mloop.store import Store

__all__ = ["MODEL_FILE", "ExportedModel", "fetch_model", "k8s_name"]

MODEL_FILE = "mloop-model.yaml"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportedModel:
    """A model copied for an export.

    Attributes:
        uri: the URI asked for (``models:/churn@champion``).
        pinned_uri: the exact version (``models:/churn/3``), or ``uri`` outside the registry.
        name: the served name (the registered name, else the folder's).
        version: the registered version, or None.
        metadata: its ``mloop-model.yaml``.
        folder: where its files are now.
        manifest_sha256: the sha256 of ``mloop-model.yaml`` (which lists every file's).
    """

    uri: str
    pinned_uri: str
    name: str
    version: int | None
    metadata: ModelMetadata
    folder: Path
    manifest_sha256: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def k8s_name(name: str) -> str:
    """``name`` as a Kubernetes object name (DNS-1123 label: a-z, 0-9, '-', at most 63)."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    if not text:
        raise InvalidArgument(f"cannot make a Kubernetes name from {name!r}; pass --name")
    return text


def _download(uri: str, store: Store, into: Path) -> Path:
    from mloop._core import parse_runs_uri

    if uri.startswith("runs:/"):
        parsed = parse_runs_uri(uri)
        return store.download_artifacts(parsed.run_id, parsed.path, into)
    local = Path(uri.removeprefix("file://")).expanduser()
    if "://" in uri and not uri.startswith("file://"):
        raise InvalidArgument(
            f"exports read models from the registry, runs:/ URIs and local folders; got {uri!r}"
        )
    if not local.is_dir():
        raise ModelNotFound(f"no model folder at {str(local)!r}")
    return local


def fetch_model(uri: str, dest: Path, *, store: Store | None = None) -> ExportedModel:
    """Copy the model ``uri`` names into the folder ``dest``, checking every file's sha256.

    Args:
        uri: ``models:/name@alias``, ``models:/name/3``, ``runs:/<id>/model`` or a folder.
        dest: the folder to create (it must not exist yet, or be empty).
        store: for registry and run URIs; default the store the settings name.

    Raises:
        ModelNotFound: nothing at ``uri``, or no ``mloop-model.yaml`` there.
        ModelIntegrityError: a file is missing or does not match its recorded sha256.
        RegistryError: a ``models:/`` URI names no version.
    """
    from mloop.store import current

    name: str | None = None
    version: int | None = None
    pinned = uri
    source = uri
    if store is None:
        store = current().store
    if uri.startswith("models:/"):
        from mloop.registry import Registry

        mv = Registry(store).resolve(uri)
        name, version, pinned, source = mv.name, mv.version, mv.uri, mv.source
    with tempfile.TemporaryDirectory(prefix="mloop-export-") as tmp:
        folder = _download(source, store, Path(tmp))
        return _copy_verified(uri, pinned, name, version, folder, dest)


def _copy_verified(
    uri: str, pinned: str, name: str | None, version: int | None, folder: Path, dest: Path
) -> ExportedModel:
    manifest = folder / MODEL_FILE
    if not manifest.is_file():
        raise ModelNotFound(f"{uri!r} is not an mloop model: it has no {MODEL_FILE}")
    try:
        metadata = ModelMetadata.model_validate(yaml.safe_load(manifest.read_text("utf-8")))
    except (ValueError, yaml.YAMLError) as exc:
        raise ModelIntegrityError(f"{uri!r}: {MODEL_FILE} is not valid: {exc}") from exc
    if dest.exists() and any(dest.iterdir()):
        raise InvalidArgument(f"{str(dest)!r} is not empty; export into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    for rel, expected in sorted(metadata.files.items()):
        src = folder / rel
        if not src.is_file():
            raise ModelIntegrityError(
                f"{uri!r}: the file {rel!r} listed in {MODEL_FILE} is missing"
            )
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        actual = _sha256(target)
        if actual != expected:
            raise ModelIntegrityError(
                f"{uri!r}: {rel!r} has sha256 {actual}, not {expected} as {MODEL_FILE} records; "
                "it was changed after the model was saved, so it is not exported"
            )
    shutil.copyfile(manifest, dest / MODEL_FILE)
    served = name if name is not None else folder.name
    return ExportedModel(
        uri=uri,
        pinned_uri=pinned,
        name=served,
        version=version,
        metadata=metadata,
        folder=dest,
        manifest_sha256=_sha256(dest / MODEL_FILE),
    )
