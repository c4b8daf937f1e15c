"""``mloop.models.sign``: add a signature to a model where it lives (a folder, a run, the
registry)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from mloop.errors import InvalidArgument, ModelNotFound
from mloop.models._format import MODEL_FILE
from mloop.models._signing import (
    SIGNATURE_FILE,
    key_id,
    load_private_key,
    sign_folder,
    sign_manifest,
)

__all__ = ["sign"]


def sign(uri: str | os.PathLike[str], key: str | os.PathLike[str]) -> str:
    """Sign the model at ``uri`` with the ed25519 private key in the file ``key``; returns the
    key's id. The signature covers ``mloop-model.yaml`` (so every file's sha256, the flavor and
    its options) and is written beside it as ``mloop-model.sig``.

    Accepted URIs: a model folder, ``runs:/<run_id>/<path>``, ``models:/<name>/<version>`` or
    ``models:/<name>@<alias>`` (the version's source is signed).

    Example::

        mloop.models.sign("models:/churn/3", "keys/release.key")
    """
    private = load_private_key(Path(key))
    text = os.fspath(uri)
    if text.startswith("models:/"):
        from mloop.registry import resolve

        text = resolve(text).source
    if text.startswith("runs:/"):
        _sign_run_model(text, private)
    elif "://" in text and not text.startswith("file://"):
        raise InvalidArgument(
            f"cannot sign {text!r} in place: sign the model folder before uploading it"
        )
    else:
        folder = Path(text.removeprefix("file://")).expanduser()
        if not (folder / MODEL_FILE).is_file():
            raise ModelNotFound(f"no mloop model at {text!r}", details={"uri": text})
        sign_folder(folder, private)
    return key_id(private.public_key())


def _sign_run_model(uri: str, private: object) -> None:
    from mloop._core import parse_runs_uri
    from mloop.errors import ArtifactNotFound
    from mloop.store import current

    parsed = parse_runs_uri(uri)
    store = current().store
    base = f"{parsed.path}/" if parsed.path else ""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            manifest = Path(store.download_artifacts(parsed.run_id, base + MODEL_FILE, tmp))
        except ArtifactNotFound:
            raise ModelNotFound(f"no mloop model at {uri!r}", details={"uri": uri}) from None
        existing = None
        try:
            sig = Path(store.download_artifacts(parsed.run_id, base + SIGNATURE_FILE, tmp + "/s"))
            existing = sig.read_bytes()
        except ArtifactNotFound:
            pass
        signed = sign_manifest(manifest.read_bytes(), private, existing)  # type: ignore[arg-type]
    store.put_artifact(parsed.run_id, base + SIGNATURE_FILE, io.BytesIO(signed))
