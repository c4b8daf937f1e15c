"""The model folder: ``mloop-model.yaml``, its schema, and the sha256 of every file.

A model folder holds the serialized model, an optional input example and ``mloop-model.yaml``::

    format_version: 1
    flavor: {name: sklearn, options: {file: model.pkl}}
    signature:
      inputs:
      - {name: age, type: int64, nullable: false}
      outputs: {dtype: int64, shape: [-1]}
    input_example: input_example.parquet
    requirements: [scikit-learn==1.5.2, numpy==2.1.0, pandas==2.2.3, mloop==0.1.0]
    python_version: 3.11.7
    files: {model.pkl: 3f2a..., input_example.parquet: 9b1c...}
    run_id: null
    dataset_hashes: []
    created_time: 1718000000000
    mloop_version: 0.1.0
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mloop.errors import ModelError, ModelIntegrityError, ModelNotFound
from mloop.models._flavor import check_flavor_name
from mloop.models._signature import Signature

__all__ = [
    "FORMAT_VERSION",
    "MODEL_FILE",
    "FlavorSpec",
    "ModelMetadata",
    "hash_files",
    "read_metadata",
    "verify_files",
    "write_metadata",
]

MODEL_FILE = "mloop-model.yaml"
#: Signatures of ``mloop-model.yaml`` (see ``_signing``): beside it, not listed in it.
SIGNATURE_FILE = "mloop-model.sig"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


class FlavorSpec(BaseModel):
    """The flavor that saved the model and the options its loader needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class ModelMetadata(BaseModel):
    """The parsed ``mloop-model.yaml`` (see the module docstring for an example)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format_version: int
    flavor: FlavorSpec
    signature: Signature | None = None
    input_example: str | None = None
    requirements: list[str] = Field(default_factory=list)
    python_version: str
    files: dict[str, str]
    run_id: str | None = None
    dataset_hashes: list[str] = Field(default_factory=list)
    # A profile of the training data (mloop.data.Profile bytes): the reference for monitoring.
    reference_profile: str | None = None
    created_time: int
    mloop_version: str
    #: Loading runs code of the file's choosing (pickle): load it only from a trusted source,
    #: and sign it (``mloop models sign``) so ``mloop serve --trust`` accepts it.
    unsafe: bool = False

    @field_validator("files")
    @classmethod
    def _safe_paths(cls, files: dict[str, str]) -> dict[str, str]:
        for rel, digest in files.items():
            _check_relpath(rel)
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"the sha256 of {rel!r} is not 64 hex digits")
        return files

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# libyaml's safe loader when PyYAML was built with it: the pure-Python one was half of a warm
# model reload.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_relpath(rel: str) -> None:
    p = PurePosixPath(rel)
    if (
        not rel
        or p.is_absolute()
        or ".." in p.parts
        or "\\" in rel
        or rel in (MODEL_FILE, SIGNATURE_FILE)
    ):
        raise ValueError(f"{rel!r} is not a relative path inside the model folder")


def write_metadata(folder: Path, metadata: ModelMetadata) -> None:
    (folder / MODEL_FILE).write_text(metadata.to_yaml(), encoding="utf-8")


def read_metadata(folder: Path) -> ModelMetadata:
    """Read and validate ``mloop-model.yaml``.

    Raises:
        ModelNotFound: the folder or its ``mloop-model.yaml`` does not exist.
        ModelIntegrityError: the file is not valid YAML or misses a field.
        ModelError: the file was written in a newer format.
        UnknownFlavor: it names a flavor this mloop does not know.
    """
    path = folder / MODEL_FILE
    if not folder.is_dir():
        raise ModelNotFound(f"no model folder at {str(folder)!r}", details={"path": str(folder)})
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelNotFound(
            f"{str(folder)!r} has no {MODEL_FILE}, so it is not an mloop model "
            "(save one with mloop.models.save or mloop.models.log_model)",
            details={"path": str(folder)},
        ) from None
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise _invalid(folder, f"it is not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise _invalid(folder, "it does not hold a mapping")
    version = raw.get("format_version")
    if version is None:
        raise _invalid(folder, "the field 'format_version' is missing")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{MODEL_FILE} in {str(folder)!r} has format_version {version!r}; this mloop reads "
            f"format {FORMAT_VERSION}: upgrade mloop to load it",
            details={"path": str(folder), "format_version": version},
        )
    flavor = raw.get("flavor")
    if isinstance(flavor, dict) and isinstance(flavor.get("name"), str):
        check_flavor_name(flavor["name"])
    try:
        return ModelMetadata.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"'{'.'.join(map(str, e['loc']))}' is missing"
            if e["type"] == "missing"
            else f"'{'.'.join(map(str, e['loc']))}': {e['msg']}"
            for e in exc.errors()
        ]
        raise _invalid(folder, "; ".join(problems)) from None


def _invalid(folder: Path, why: str) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"{MODEL_FILE} in {str(folder)!r} is not valid: {why}",
        details={"path": str(folder), "file": MODEL_FILE, "problem": why},
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(folder: Path) -> list[str]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel not in (MODEL_FILE, SIGNATURE_FILE):
                found.append(rel)
    return found


def hash_files(folder: Path) -> dict[str, str]:
    """The sha256 of every file below ``folder`` except ``mloop-model.yaml``, by relative path."""
    return {rel: sha256_file(folder / rel) for rel in _walk(folder)}


def verify_files(folder: Path, files: dict[str, str]) -> list[str]:
    """Check every listed file against its sha256; returns the files present but not listed.

    Raises:
        ModelIntegrityError: a listed file is missing or its content changed (also truncated);
            the message names every such file.
    """
    problems: list[dict[str, str]] = []
    for rel, expected in files.items():
        path = folder / rel
        if not path.is_file():
            problems.append({"file": rel, "problem": "missing"})
        elif sha256_file(path) != expected:
            problems.append({"file": rel, "problem": "changed"})
    if problems:
        parts = [
            f"{p['file']!r} is missing"
            if p["problem"] == "missing"
            else f"{p['file']!r} does not match its sha256 (changed or truncated)"
            for p in problems
        ]
        raise ModelIntegrityError(
            f"the model in {str(folder)!r} is not as it was saved: {'; '.join(parts)}. "
            "Refusing to load it: save or download the model again",
            details={"path": str(folder), "files": problems},
        )
    return [rel for rel in _walk(folder) if rel not in files]
