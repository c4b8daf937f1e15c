"""Signed models: ed25519 signatures over ``mloop-model.yaml``, and loading only trusted ones.

``mloop-model.yaml`` holds the sha256 of every other file of the model, its flavor and the
loader's options, so a signature over its bytes covers the whole model: change one byte of any
file and either its digest no longer matches (the load refuses it) or the manifest changed (the
signature no longer verifies). Signatures live beside it in ``mloop-model.sig`` (YAML, one entry
per signing key), which the manifest does not list.

Keys are files: a private key is PEM (PKCS#8), a public key PEM (SubjectPublicKeyInfo) or the
OpenSSH one-line form; a trust file may hold several public keys. A key's id is the first 16 hex
digits of the sha256 of its raw 32 bytes.

Example::

    private, public = generate_keypair(Path("keys/release"))
    sign_folder(Path("model"), load_private_key(private))
    trust = TrustedKeys.from_files([public])
    trust.verify_folder(Path("model"))     # raises ModelIntegrityError when unsigned
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mloop.errors import InvalidArgument, ModelIntegrityError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "SIGNATURE_FILE",
    "TrustedKeys",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "sign_folder",
    "sign_manifest",
]

SIGNATURE_FILE = "mloop-model.sig"
_MANIFEST = "mloop-model.yaml"
_NEEDS = "model signing needs the cryptography package: pip install 'mloop[signing]'"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise InvalidArgument(_NEEDS) from None
    return serialization, ed25519


def _raw_public(key: Ed25519PublicKey) -> bytes:
    serialization, _ = _crypto()
    return bytes(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def key_id(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the sha256 of the key's raw bytes."""
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def generate_keypair(prefix: Path) -> tuple[Path, Path]:
    """Write ``<prefix>.key`` (private, mode 0600) and ``<prefix>.pub``; returns both paths."""
    serialization, ed25519 = _crypto()
    private = ed25519.Ed25519PrivateKey.generate()
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_path, pub_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An ed25519 private key from a PEM file.

    Raises:
        InvalidArgument: not a readable, unencrypted ed25519 private key.
    """
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidArgument(f"cannot read the private key {path.name!r}: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InvalidArgument(f"{path.name!r} is not an ed25519 private key")
    return key  # type: ignore[no-any-return]


def _public_keys(text: bytes, name: str) -> list[Ed25519PublicKey]:
    serialization, ed25519 = _crypto()
    keys: list[Any] = []
    pem_blocks = text.split(b"-----END PUBLIC KEY-----")
    for block in pem_blocks[:-1]:
        start = block.find(b"-----BEGIN PUBLIC KEY-----")
        if start >= 0:
            keys.append(
                serialization.load_pem_public_key(block[start:] + b"-----END PUBLIC KEY-----\n")
            )
    for line in text.splitlines():
        if line.startswith(b"ssh-ed25519 "):
            keys.append(serialization.load_ssh_public_key(line.strip()))
    for key in keys:
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise InvalidArgument(f"{name!r} holds a key that is not ed25519")
    if not keys:
        raise InvalidArgument(f"{name!r} holds no ed25519 public key (PEM or ssh-ed25519)")
    return keys


def sign_manifest(manifest: bytes, key: Ed25519PrivateKey, existing: bytes | None = None) -> bytes:
    """The bytes of ``mloop-model.sig`` with ``key``'s signature of ``manifest`` added (or
    replaced), keeping the other keys' signatures of the same manifest."""
    public = key.public_key()
    digest = hashlib.sha256(manifest).hexdigest()
    entries = [
        e
        for e in _read_signatures(existing)
        if e.get("key_id") != key_id(public) and e.get("manifest_sha256") == digest
    ]
    entries.append(
        {
            "key_id": key_id(public),
            "algorithm": "ed25519",
            "manifest_sha256": digest,
            "signature": base64.b64encode(key.sign(manifest)).decode(),
        }
    )
    return yaml.safe_dump({"signatures": entries}, sort_keys=False).encode()


def sign_folder(folder: Path, key: Ed25519PrivateKey) -> Path:
    """Sign the model folder ``folder`` in place; returns the signature file."""
    manifest = (folder / _MANIFEST).read_bytes()
    sig = folder / SIGNATURE_FILE
    existing = sig.read_bytes() if sig.is_file() else None
    sig.write_bytes(sign_manifest(manifest, key, existing))
    return sig


def _read_signatures(data: bytes | None) -> list[dict[str, Any]]:
    if not data:
        return []
    try:
        parsed = yaml.safe_load(data)
    except yaml.YAMLError:
        return []
    entries = parsed.get("signatures") if isinstance(parsed, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys a server trusts (``mloop serve --trust KEYS``)."""

    keys: tuple[Any, ...]

    @classmethod
    def from_files(cls, paths: Iterable[Path | str]) -> TrustedKeys:
        """Every public key in the files ``paths``.

        Raises:
            InvalidArgument: a file is missing or holds no ed25519 public key.
        """
        keys: list[Any] = []
        for path in map(Path, paths):
            try:
                text = path.read_bytes()
            except OSError as exc:
                raise InvalidArgument(
                    f"cannot read the trusted keys {path.name!r}: {exc}"
                ) from None
            keys += _public_keys(text, path.name)
        if not keys:
            raise InvalidArgument("--trust needs at least one public key file")
        return cls(tuple(keys))

    def ids(self) -> list[str]:
        return [key_id(k) for k in self.keys]

    def signer(self, manifest: bytes, signatures: bytes | None) -> str | None:
        """The id of a trusted key that signed ``manifest``, or None."""
        from cryptography.exceptions import InvalidSignature

        by_id = {key_id(k): k for k in self.keys}
        for entry in _read_signatures(signatures):
            key = by_id.get(str(entry.get("key_id")))
            if key is None:
                continue
            try:
                key.verify(base64.b64decode(str(entry.get("signature", ""))), manifest)
            except (InvalidSignature, ValueError):
                continue
            return str(entry["key_id"])
        return None

    def verify_folder(self, folder: Path) -> str:
        """The id of the trusted key that signed the model in ``folder``.

        Raises:
            ModelIntegrityError: unsigned, or signed by no trusted key (or the manifest changed
                after signing).
        """
        manifest = (folder / _MANIFEST).read_bytes()
        sig = folder / SIGNATURE_FILE
        found = self.signer(manifest, sig.read_bytes() if sig.is_file() else None)
        if found is None:
            raise ModelIntegrityError(
                "refusing to load an unsigned model: no signature by a trusted key "
                f"({', '.join(self.ids())}) matches its {_MANIFEST}; sign it with "
                "mloop models sign URI --key KEY",
                details={"trusted_keys": self.ids()},
            )
        return found
