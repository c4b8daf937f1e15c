"""Object storage: artifact roots on S3 (and any S3-compatible store), GCS or Azure, opened with
the credentials of the settings, written so that readers see each object whole or not at all.

An object store has no rename: the local store's "write a temporary file, then move it" would
cost a second upload (a server-side copy, then a delete). It needs none, since an object store
publishes an object atomically when its upload completes: a single ``PUT`` below the multipart
threshold, ``CompleteMultipartUpload`` above it. :class:`ObjectArtifactStore` therefore writes
straight to the destination key, and when the source fails halfway it *discards* the upload (the
multipart upload is aborted, or the buffered ``PUT`` never sent), so no partial object is ever
visible. :meth:`ObjectArtifactStore.publish` adds a conditional put (``If-None-Match: *``): an
object that must be written once (a prediction-log segment) is never overwritten, and a write
retried after an ambiguous failure finds its own first copy instead of a duplicate.

Credentials come from :class:`~mloop._core.Settings` (``AWS_ACCESS_KEY_ID``, ...; read once at
the edge) through :func:`storage_options`; they are handed to the filesystem as arguments and
never appear in a ``repr``, a message or a log.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import InvalidArgument, MloopError, StoreError, StoreUnavailable
from mloop.store._artifacts import (
    CHUNK_SIZE,
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    _Kind,
)
from mloop.store._entities import ArtifactInfo
from mloop.store._localfs import writable_relpath

if TYPE_CHECKING:
    from mloop._core import Settings

__all__ = [
    "OBJECT_PROTOCOLS",
    "ObjectArtifactStore",
    "open_artifact_store",
    "storage_options",
]

OBJECT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
"""Protocols whose uploads publish atomically: written in place by :class:`ObjectArtifactStore`."""

_S3 = ("s3", "s3a")
_MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload
PARALLEL_FILES = 8
"""Files a folder upload sends to, or a folder download fetches from, an object store at once."""
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs"}
_PACKAGES |= {"abfs": "adlfs", "abfss": "adlfs"}
_CREDENTIAL_HINT = {
    "s3": "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or MLOOP_AWS_*), and that the "
    "key may read and write this bucket",
    "gs": "check GOOGLE_APPLICATION_CREDENTIALS or the token in MLOOP_STORAGE_OPTIONS",
    "az": "check the account name and key (or SAS token) in MLOOP_STORAGE_OPTIONS",
}


def storage_options(settings: Settings) -> dict[str, dict[str, Any]]:
    """The fsspec options of each protocol, from ``settings``: S3's endpoint, credentials,
    region and part size, then ``settings.storage_options`` on top.

    Example::

        options = storage_options(load_settings())["s3"]   # {"key": ..., "secret": ...}
    """
    # No listings cache: other processes (replicas, a training job) write the same root, and a
    # cached listing would hide their objects or serve a stale ETag.
    fresh = {"use_listings_cache": False}
    s3: dict[str, Any] = {**fresh, "default_block_size": settings.upload_part_size}
    if settings.s3_endpoint_url:
        s3["endpoint_url"] = settings.s3_endpoint_url
    if settings.aws_access_key_id:
        s3["key"] = settings.aws_access_key_id
    if settings.aws_secret_access_key is not None:
        s3["secret"] = settings.aws_secret_access_key.get_secret_value()
    if settings.aws_session_token is not None:
        s3["token"] = settings.aws_session_token.get_secret_value()
    if settings.aws_region:
        s3["client_kwargs"] = {"region_name": settings.aws_region}
    out: dict[str, dict[str, Any]] = {"s3": s3, "s3a": dict(s3)}
    out |= {p: dict(fresh) for p in ("gs", "gcs", "az", "abfs", "abfss")}
    for protocol, options in settings.storage_options.items():
        out[protocol] = {**out.get(protocol, {}), **options}
    return out


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _protocols(uri: str) -> list[str]:
    """The protocols of ``uri``, outermost first (``simplecache::s3://b`` -> cache, s3)."""
    from fsspec.core import split_protocol

    out = []
    for part in uri.split("::"):
        protocol, _ = split_protocol(part)
        out.append(protocol or "file")
    return out


def _family(protocol: str) -> str:
    return {"s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az"}.get(protocol, protocol)


def open_artifact_store(
    uri: str | os.PathLike[str],
    storage_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> ArtifactStore:
    """The artifact store for ``uri``.

    A local path or a ``file://`` URL gives a :class:`LocalArtifactStore`; ``s3://``, ``gs://``
    or ``az://`` an :class:`ObjectArtifactStore`; any other fsspec URL (``memory://``, chained
    ``simplecache::s3://``) an :class:`FsspecArtifactStore`.

    Args:
        uri: the root.
        storage_options: fsspec options per protocol (see :func:`storage_options`); without
            them, each filesystem finds its credentials itself (botocore's chain for S3).

    Raises:
        InvalidArgument: ``uri`` is empty, or names a protocol fsspec cannot open (the message
            names the package to install).

    Example::

        store = open_artifact_store("s3://bucket/mlruns", storage_options(settings))
    """
    text = os.fspath(uri)
    if not isinstance(text, str) or not text:
        raise InvalidArgument("an artifact store URI must be a non-empty string or path")
    if "://" not in text and "::" not in text:
        return LocalArtifactStore(text)
    protocols = _protocols(text)
    options = storage_options or {}
    if len(protocols) == 1:
        kwargs: dict[str, Any] = dict(options.get(protocols[0], {}))
    else:  # a chained URL takes each protocol's options under its name
        kwargs = {p: dict(options[p]) for p in protocols if p in options}
    # fsspec only for URLs: importing it costs a local run a quarter of a second.
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    try:
        fs, path = fsspec.core.url_to_fs(text, **kwargs)
    except ImportError as exc:
        package = next((_PACKAGES[p] for p in protocols if p in _PACKAGES), exc.name)
        raise InvalidArgument(
            f"cannot open the artifact store {text!r}: the package {package} is missing "
            f"(pip install {package}; for S3: pip install 'mloop[s3]')"
        ) from exc
    except ValueError as exc:
        raise InvalidArgument(f"cannot open the artifact store {text!r}: {exc}") from exc
    if isinstance(fs, LocalFileSystem):
        return LocalArtifactStore(path)
    if len(protocols) == 1 and protocols[0] in OBJECT_PROTOCOLS:
        return ObjectArtifactStore(text, fs=fs)
    return FsspecArtifactStore(text, fs=fs)


class ObjectArtifactStore(FsspecArtifactStore):
    """Artifacts under ``bucket/prefix`` of an object store (S3, GCS, Azure Blob).

    Writes go straight to their key and are published whole by the store itself (see the
    module's docstring); a failed write discards its upload. Folders are key prefixes: they
    exist while an object lies below them. A bucket that does not exist, or credentials the
    store refuses, raise :class:`~mloop.errors.StoreUnavailable` with what to check, rather
    than a misleading "no artifact".

    Args:
        root: ``s3://bucket/prefix`` (or ``gs://``, ``az://``).
        fs: the filesystem, already opened with its options (see :func:`open_artifact_store`).
    """

    def __init__(self, root: str, fs: Any = None, **options: Any) -> None:
        super().__init__(root, fs, **options)
        protocol = self.fs.protocol
        self.protocol: str = protocol if isinstance(protocol, str) else protocol[0]
        self.bucket: str = self._top.split("/", 1)[0]
        self._bucket_seen = False

    def __repr__(self) -> str:
        return f"ObjectArtifactStore({self.root!r})"

    # -- writes ------------------------------------------------------------------------------

    def _put_stream(self, chunks: Iterable[bytes], rel: str) -> None:
        self._check_bucket()
        f = self.fs.open(self._full(rel), "wb")
        try:
            for chunk in chunks:
                f.write(chunk)
        except BaseException:
            # Abort the multipart upload (or drop the buffered PUT): nothing is published.
            with suppress(Exception):
                f.discard()
            f.closed = True
            raise
        try:
            f.close()  # the commit: the PUT, or CompleteMultipartUpload
        except BaseException:
            with suppress(Exception):
                f.discard()  # a failed completion leaves no billed parts behind
            raise

    def put_file(self, local: Path, dest: str) -> ArtifactInfo:
        """Store the local file ``local`` as ``dest``: on S3, uploaded by s3fs with its parts in
        parallel (``max_concurrency``, 10 by default; set it under ``"s3"`` in
        ``MLOOP_STORAGE_OPTIONS``) and hashed meanwhile, the multipart upload aborted on
        failure. A file
        changed while it was uploaded is refused (its digest would not be the stored bytes').
        Elsewhere as :meth:`ArtifactStore.put_file`.

        Raises:
            InvalidArgument: ``local`` is not a file.
            UnsafeArtifactPath: ``dest`` is not a safe relative path.
            StoreUnavailable: the bucket is missing or the credentials were refused.
            StoreError: the store failed, or the file changed during the upload.
        """
        local = Path(local)
        rel = writable_relpath(dest)
        if self.protocol not in _S3 or not local.is_file():
            return super().put_file(local, rel)
        before = local.stat()
        part = max(int(self.fs.default_block_size), -(-before.st_size // _MAX_PARTS))
        with self._translate(rel, "write", not_found=False):
            self._check_bucket()
            # hash while the parts go up (hashlib releases the GIL): the digest costs no time
            with ThreadPoolExecutor(1) as pool:
                hashing = pool.submit(_sha256_of, local)
                self.fs.put_file(str(local), self._full(rel), chunksize=part)
                digest = hashing.result()
        after = local.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise StoreError(
                f"{str(local)!r} changed while it was uploaded to {rel!r}; upload it again",
                details={"path": rel},
            )
        return ArtifactInfo(path=rel, is_dir=False, size=before.st_size, sha256=digest)

    def put_files(self, plan: Iterable[tuple[str, str]]) -> list[ArtifactInfo]:
        """As :meth:`ArtifactStore.put_files`, with up to :data:`PARALLEL_FILES` files in
        flight at once: many small files cost round trips, not bandwidth."""
        pairs = list(plan)
        if len(pairs) < 2:
            return super().put_files(pairs)
        with ThreadPoolExecutor(min(PARALLEL_FILES, len(pairs))) as pool:
            return list(pool.map(lambda pair: self.put_file(Path(pair[1]), pair[0]), pairs))

    def _download_files(self, dst_real: str, rels: list[str]) -> None:
        """As :meth:`ArtifactStore.download`, with up to :data:`PARALLEL_FILES` files fetched at
        once (a model folder is many files, each a round trip or more). The first failure
        cancels the files not yet started and is raised once those in flight are done; every
        file written is whole (written to a temporary name, then renamed)."""
        if len(rels) < 2:
            super()._download_files(dst_real, rels)
            return
        pool = ThreadPoolExecutor(min(PARALLEL_FILES, len(rels)))
        try:
            futures = [pool.submit(self._download_one, dst_real, rel) for rel in rels]
            for future in futures:
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def publish(self, data: bytes, dest: str) -> bool:
        """Write ``data`` as ``dest`` unless an object is already there, in one conditional put
        (``If-None-Match: *`` on S3): readers see the whole object or none, and two writers, or
        a retry after an ambiguous failure, never overwrite what was published. On GCS and
        Azure, a check then a write (:meth:`ArtifactStore.publish`).

        Returns:
            True when this call created ``dest``, False when it already existed (untouched).

        Raises:
            UnsafeArtifactPath, InvalidArgument: ``dest`` is not a writable relative path.
            StoreUnavailable: the bucket is missing or the credentials were refused.
            StoreError: the store failed.
        """
        if self.protocol not in _S3:
            return super().publish(data, dest)
        rel = writable_relpath(dest)
        with self._translate(rel, "write", not_found=False):
            self._check_bucket()
            try:
                self.fs.pipe_file(self._full(rel), data, mode="create")
            except FileExistsError:
                return False
        return True

    # -- reads -------------------------------------------------------------------------------

    def _kind(self, rel: str) -> _Kind | None:
        kind = super()._kind(rel)
        if kind is None:
            self._check_bucket()
        return kind

    def _check_bucket(self) -> None:
        """Raise :class:`StoreUnavailable` when the bucket does not exist (asked once)."""
        if self._bucket_seen:
            return
        try:
            exists = self._bucket_exists()
        except PermissionError:
            # Refused credentials, or a key allowed into a prefix but not to ask about the
            # bucket: the operation itself will tell.
            return
        if not exists:
            raise StoreUnavailable(
                f"the bucket {self.bucket!r} does not exist ({self._where()}): create it, or "
                "point the artifact root (--artifacts, MLOOP_ARTIFACTS) at an existing one",
                details={"bucket": self.bucket},
            )
        self._bucket_seen = True

    def _bucket_exists(self) -> bool:
        if self.protocol in _S3:
            # HEAD on the bucket: s3fs's exists() would answer False for refused credentials
            try:
                self.fs.call_s3("head_bucket", Bucket=self.bucket)
            except FileNotFoundError:
                return False
            return True
        return bool(self.fs.exists(self.bucket))

    def _where(self) -> str:
        endpoint = getattr(self.fs, "endpoint_url", None)
        return f"{self.protocol}://{self.bucket}" + (f" at {endpoint}" if endpoint else "")

    @contextmanager
    def _translate(
        self,
        rel: str,
        action: str,
        *,
        not_found: bool = True,
        passthrough: Iterable[BaseException] = (),
    ) -> Iterator[None]:
        """The base translation, plus: refused credentials and errors of the cloud SDK
        (which are not ``OSError``: no credentials at all, an unreachable endpoint) become
        :class:`StoreUnavailable` naming what to check."""
        try:
            with super()._translate(rel, action, not_found=not_found, passthrough=passthrough):
                yield
        except StoreError as exc:
            if isinstance(exc.__cause__, PermissionError) and not isinstance(
                exc.__cause__, MloopError
            ):
                raise self._refused(rel, action, exc.__cause__) from exc.__cause__
            raise
        except MloopError:
            raise
        except Exception as exc:
            if any(exc is e for e in passthrough):
                raise
            module = type(exc).__module__.split(".", 1)[0]
            if module in ("botocore", "aiobotocore", "google", "azure", "aiohttp"):
                raise StoreUnavailable(
                    f"could not {action} artifact {rel!r}: the object store at {self._where()} "
                    f"failed: {type(exc).__name__}: {exc}",
                    details={"path": rel, "bucket": self.bucket},
                ) from exc
            raise

    def _refused(self, rel: str, action: str, exc: PermissionError) -> StoreUnavailable:
        hint = _CREDENTIAL_HINT.get(_family(self.protocol), "check the credentials")
        reason = str(exc).strip() or "access denied"
        return StoreUnavailable(
            f"could not {action} artifact {rel!r}: {self._where()} refused the credentials "
            f"({reason}); {hint}",
            details={"path": rel, "bucket": self.bucket},
        )
