"""Artifact stores: the files of a run under one root, on a local disk or any fsspec filesystem.

Every public method of :class:`ArtifactStore` checks its path with :func:`safe_relpath`, calls a
private hook that a store implements, and translates what the filesystem raised: a missing path
becomes :class:`~mloop.errors.ArtifactNotFound`, any other ``OSError`` a
:class:`~mloop.errors.StoreError` (chained with ``from exc``).

Writes are atomic: bytes go to a temporary file next to the destination (named
``.mloop-tmp-<random>``), which replaces the destination only once every byte is written. Names
starting with ``.mloop-tmp-`` are therefore reserved: stores refuse to write them and leave them
out of listings. Empty folders are not stored; a folder exists while a file lies below it.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import posixpath
import secrets
import shutil
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Literal, cast

from mloop.errors import (
    ArtifactNotFound,
    InvalidArgument,
    MloopError,
    StoreError,
)
from mloop.store._entities import ArtifactInfo
from mloop.store._localfs import (
    MAX_ARTIFACT_PATH,
    TMP_PREFIX,
    escapes,
    is_inside,
    join,
    make_dirs_inside,
    safe_relpath,
    upload_plan,
    walk_real_tree,
    writable_relpath,
    write_local_atomic,
)

__all__ = [
    "CHUNK_SIZE",
    "MAX_ARTIFACT_PATH",
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "safe_relpath",
]

CHUNK_SIZE = 1024 * 1024
"""Bytes read and written at a time: streams are copied in chunks, never held whole in memory."""

_Kind = Literal["file", "dir"]


def _read_chunks(stream: IO[bytes], on_error: Callable[[BaseException], None]) -> Iterator[bytes]:
    while True:
        try:
            chunk = stream.read(CHUNK_SIZE)
        except BaseException as exc:
            on_error(exc)
            raise
        if chunk is None:  # a non-blocking raw stream with nothing ready yet
            continue
        if not isinstance(chunk, bytes | bytearray | memoryview):
            error = InvalidArgument(
                f"expected a binary stream (bytes), got {type(chunk).__name__} chunks; open the "
                "file with mode 'rb'"
            )
            on_error(error)
            raise error
        if not chunk:
            return
        yield bytes(chunk) if isinstance(chunk, memoryview) else chunk


# -- the interface -----------------------------------------------------------------------------


class ArtifactStore(ABC):
    """Files under one root: a local folder, or an fsspec URL such as ``s3://bucket/prefix``.

    Paths are relative to the root, with forward slashes (see :func:`safe_relpath`); ``""`` is
    the root itself. A public method validates its path and translates errors, then calls a
    private hook that each store implements.

    Example::

        store = open_artifact_store("/data/mlruns/0/abc123/artifacts")
        info = store.put_file(Path("model.pkl"), "model/model.pkl")
        assert store.sha256("model/model.pkl") == info.sha256
        with store.open("model/model.pkl") as f:
            head = f.read(16)
    """

    root: str

    # -- writes ------------------------------------------------------------------------------

    def put_stream(self, stream: IO[bytes], dest: str) -> ArtifactInfo:
        """Store the bytes read from ``stream`` as the file ``dest``.

        The stream is read in chunks of :data:`CHUNK_SIZE` bytes and hashed while it is copied;
        it is never held whole in memory. The write is atomic: if ``stream`` fails halfway,
        ``dest`` keeps its previous content (or stays absent), and the stream's own exception
        propagates unchanged.

        Args:
            stream: a binary stream, read to its end (not closed).
            dest: the file to write, relative to the root.

        Returns:
            The stored file, with its size and sha256 (hex).

        Raises:
            UnsafeArtifactPath: ``dest`` is not a safe relative path.
            InvalidArgument: ``dest`` is the root or a reserved name, a folder exists at
                ``dest``, or a file exists where a parent folder should be.
            StoreError: the filesystem failed.
        """
        rel = writable_relpath(dest)
        digest = hashlib.sha256()
        size = 0
        source_errors: list[BaseException] = []

        def chunks() -> Iterator[bytes]:
            nonlocal size
            for chunk in _read_chunks(stream, source_errors.append):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        with self._translate(rel, "write", not_found=False, passthrough=source_errors):
            self._put_stream(chunks(), rel)
        return ArtifactInfo(path=rel, is_dir=False, size=size, sha256=digest.hexdigest())

    def put_file(self, local: Path, dest: str) -> ArtifactInfo:
        """Store the local file ``local`` as ``dest`` (streamed, atomic, see
        :meth:`put_stream`).

        Raises:
            InvalidArgument: ``local`` is not a file.
            UnsafeArtifactPath: ``dest`` is not a safe relative path.
            StoreError: the filesystem failed.
        """
        local = Path(local)
        rel = writable_relpath(dest)
        if not local.is_file():
            raise InvalidArgument(f"not a file: {str(local)!r}")
        with local.open("rb") as f:
            return self.put_stream(f, rel)

    def put_dir(self, local: Path, dest: str) -> builtins.list[ArtifactInfo]:
        """Store every file below the local folder ``local`` under ``dest``, recursively.

        Symbolic links inside ``local`` are followed (their target is copied) when they point
        inside ``local``. Every path is checked before the first byte is written, so a refused
        folder stores nothing. Empty folders are not stored.

        Args:
            local: the folder to copy.
            dest: the folder to copy it to, relative to the root (``""`` for the root).

        Returns:
            The stored files, sorted by path.

        Raises:
            InvalidArgument: ``local`` is not a folder, or holds a file that is not a regular
                file, or a link loop.
            UnsafeArtifactPath: ``dest`` or a name below ``local`` is not a safe path, or a link
                inside ``local`` points outside it.
            StoreError: the filesystem failed.
        """
        local = Path(local)
        safe_relpath(dest)  # an unsafe destination is refused first
        if not local.is_dir():
            raise InvalidArgument(f"not a folder: {str(local)!r}")
        return self.put_files(upload_plan(local, dest))

    def put_files(self, plan: Iterable[tuple[str, str]]) -> builtins.list[ArtifactInfo]:
        """Store each local file ``real`` of ``plan`` as ``dest`` (pairs ``(dest, real)``, as
        :func:`upload_plan` makes them), each as :meth:`put_file` does; an object store sends
        several at once. Returns the stored files in the order of ``plan``.

        Raises:
            as :meth:`put_file`; the files before a failure may be stored.
        """
        return [self.put_file(Path(real), dest) for dest, real in plan]

    def publish(self, data: bytes, dest: str) -> bool:
        """Write ``data`` as the file ``dest`` once: unless something is already there.

        For what must be written exactly once (a prediction-log segment): a retry after an
        ambiguous failure finds the first copy instead of writing a second. The write itself is
        atomic (see :meth:`put_stream`). Here the check and the write are two steps, so two
        writers racing for one name may both write; an object store does both in one
        conditional put (:meth:`ObjectArtifactStore.publish
        <mloop.store.ObjectArtifactStore.publish>`).

        Returns:
            True when this call wrote ``dest``, False when it existed already (untouched).

        Raises:
            UnsafeArtifactPath: ``dest`` is not a safe relative path.
            InvalidArgument: ``dest`` is the root or a reserved name.
            StoreError: the filesystem failed.
        """
        rel = writable_relpath(dest)
        if self.exists(rel):
            return False
        self.put_stream(io.BytesIO(data), rel)
        return True

    # -- deletes -----------------------------------------------------------------------------

    def delete(self, path: str) -> bool:
        """Remove the file or the folder ``path``, with everything below it.

        For retention: the prediction log's expired days, the monitor's partials of segments
        that are gone. Artifacts of runs and models are never deleted by mloop.

        Returns:
            True when something was there (and is removed), False when nothing was.

        Raises:
            UnsafeArtifactPath: ``path`` is not safe, or leads outside the root through a link.
            InvalidArgument: ``path`` is the root.
            StoreError: the filesystem failed (part of a folder may be removed).
        """
        rel = safe_relpath(path)
        if not rel:
            raise InvalidArgument("the artifact root itself cannot be deleted: name a path in it")
        with self._translate(rel, "delete", not_found=False):
            kind = self._kind(rel)
            if kind is None:
                return False
            self._delete(rel, kind)
        return True

    # -- reads -------------------------------------------------------------------------------

    def list(self, path: str = "") -> builtins.list[ArtifactInfo]:
        """The files and folders directly under the folder ``path``, sorted by path.

        Paths are relative to the root. Files carry their size; the sha256 is left out (``None``),
        since it would mean reading every file: ask :meth:`sha256` for one. The root lists as
        empty before anything is stored; a file lists as empty.

        Raises:
            UnsafeArtifactPath: ``path`` is not safe, or leads outside the root through a link.
            ArtifactNotFound: ``path`` does not exist.
            StoreError: the filesystem failed.
        """
        rel = safe_relpath(path)
        with self._translate(rel, "list"):
            kind = self._kind(rel)
            if kind is None:
                if rel == "":
                    return []
                raise self._not_found(rel)
            if kind == "file":
                return []
            return sorted(self._list(rel), key=lambda info: info.path)

    def walk_files(self, path: str = "") -> builtins.list[ArtifactInfo]:
        """Every file below ``path``, recursively, sorted by path (``path`` itself when it is a
        file). Sizes are set, sha256 is not (see :meth:`list`).

        Raises:
            UnsafeArtifactPath: ``path`` is not safe, or a link on the way leads outside the root.
            ArtifactNotFound: ``path`` does not exist.
            StoreError: the filesystem failed.
        """
        rel = safe_relpath(path)
        with self._translate(rel, "list"):
            kind = self._kind(rel)
            if kind is None:
                if rel == "":
                    return []
                raise self._not_found(rel)
            if kind == "file":
                return [self._file_info(rel)]
            return sorted(self._walk_files(rel), key=lambda info: info.path)

    def open(self, path: str) -> IO[bytes]:
        """A binary stream of the file ``path``; close it when done.

        Raises:
            UnsafeArtifactPath: ``path`` is not safe, or leads outside the root through a link.
            ArtifactNotFound: ``path`` does not exist or is a folder.
            StoreError: the filesystem failed.
        """
        rel = safe_relpath(path)
        with self._translate(rel, "read"):
            if self._kind(rel) != "file":
                raise self._not_found(rel, "no artifact file")
            return self._open(rel)

    def exists(self, path: str) -> bool:
        """Whether a file or a folder exists at ``path``.

        Raises:
            UnsafeArtifactPath: ``path`` is not safe, or leads outside the root through a link.
            StoreError: the filesystem failed.
        """
        rel = safe_relpath(path)
        with self._translate(rel, "check"):
            return self._kind(rel) is not None

    def sha256(self, path: str) -> str:
        """The sha256 (hex) of the stored file ``path``, computed by streaming it.

        Raises:
            UnsafeArtifactPath: ``path`` is not safe, or leads outside the root through a link.
            ArtifactNotFound: ``path`` does not exist or is a folder.
            StoreError: the filesystem failed.
        """
        rel = safe_relpath(path)
        digest = hashlib.sha256()
        with self.open(rel) as f, self._translate(rel, "read"):
            for chunk in _read_chunks(f, lambda _: None):
                digest.update(chunk)
        return digest.hexdigest()

    def download(self, path: str, dst_dir: Path) -> Path:
        """Copy the file or folder ``path`` (recursively) into the local folder ``dst_dir``.

        The relative path is kept, as MLflow does: ``download("model/w.bin", d)`` writes
        ``d/model/w.bin``, and ``download("", d)`` copies the whole root into ``d``. Every file
        is written atomically, and nothing is written outside ``dst_dir``: a name that is not a
        safe path, or a link inside ``dst_dir`` that leads out of it, is refused. Existing files
        are replaced.

        Returns:
            The local path of what was copied.

        Raises:
            UnsafeArtifactPath: ``path`` is not safe, leads outside the root through a link, or
                a link in ``dst_dir`` would take a write outside it.
            ArtifactNotFound: ``path`` does not exist.
            StoreError: the filesystem failed.
        """
        rel = safe_relpath(path)
        with self._translate(rel, "download"):
            kind = self._kind(rel)
            if kind is None and rel != "":
                raise self._not_found(rel)
            files = [] if kind is None else self.walk_files(rel)
            os.makedirs(dst_dir, exist_ok=True)
            dst_real = os.path.realpath(dst_dir)
            if kind == "dir" or rel == "":
                make_dirs_inside(dst_real, rel, include_last=True)
            self._download_files(dst_real, [safe_relpath(info.path) for info in files])
        return Path(dst_dir, *rel.split("/")) if rel else Path(dst_dir)

    def _download_files(self, dst_real: str, rels: builtins.list[str]) -> None:
        """Copy the stored files ``rels`` (already checked) below the real folder
        ``dst_real``, each written atomically; one at a time here (an object store overrides
        this to fetch several at once)."""
        for rel in rels:
            self._download_one(dst_real, rel)

    def _download_one(self, dst_real: str, rel: str) -> None:
        with self._open(rel) as src:
            write_local_atomic(dst_real, rel, _read_chunks(src, lambda _: None))

    # -- hooks -------------------------------------------------------------------------------

    @abstractmethod
    def _kind(self, rel: str) -> _Kind | None:
        """``"file"``, ``"dir"``, or ``None`` when nothing is at ``rel``."""

    @abstractmethod
    def _put_stream(self, chunks: Iterable[bytes], rel: str) -> None:
        """Write ``chunks`` atomically to the file ``rel``."""

    @abstractmethod
    def _open(self, rel: str) -> IO[bytes]:
        """Open the file ``rel`` for reading."""

    @abstractmethod
    def _file_info(self, rel: str) -> ArtifactInfo:
        """The file ``rel``, with its size."""

    @abstractmethod
    def _list(self, rel: str) -> builtins.list[ArtifactInfo]:
        """The direct children of the folder ``rel``."""

    @abstractmethod
    def _walk_files(self, rel: str) -> builtins.list[ArtifactInfo]:
        """Every file below the folder ``rel``."""

    def _delete(self, rel: str, kind: _Kind) -> None:
        """Remove the file or folder ``rel`` (it exists)."""
        raise StoreError(f"{type(self).__name__} cannot delete {rel!r}")

    # -- shared machinery --------------------------------------------------------------------

    def _not_found(self, rel: str, what: str = "no artifact") -> ArtifactNotFound:
        return ArtifactNotFound(
            f"{what} at {rel!r} in the artifact root; list the root to see what is stored",
            details={"path": rel},
        )

    @contextmanager
    def _translate(
        self,
        rel: str,
        action: str,
        *,
        not_found: bool = True,
        passthrough: Iterable[BaseException] = (),
    ) -> Iterator[None]:
        """Map filesystem errors to mloop's: missing -> ArtifactNotFound (when ``not_found``),
        any other OSError -> StoreError. Exceptions in ``passthrough`` (those of a caller's
        stream) and mloop's own propagate unchanged."""
        try:
            yield
        except MloopError:
            raise
        except OSError as exc:
            if any(exc is e for e in passthrough):
                raise
            if not_found and isinstance(exc, FileNotFoundError | NotADirectoryError):
                raise self._not_found(rel) from exc
            message = exc.strerror or str(exc) or type(exc).__name__
            raise StoreError(
                f"could not {action} artifact {rel!r} in the artifact store: {message}",
                details={"path": rel},
            ) from exc


# -- local folders -----------------------------------------------------------------------------


class LocalArtifactStore(ArtifactStore):
    """Artifacts in a folder of the local filesystem.

    After joining the root and a path, symbolic links are resolved and anything whose real path
    is not inside the real root is refused, for reads, writes, listings and downloads; folders
    are created one at a time with the same check, so a planted link is never followed. The
    check does not guard against another process swapping folders for links *while* a call runs.

    Args:
        root: the folder; created on the first write. A relative path is made absolute now.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.root!r})"

    def _root_real(self) -> str:
        return os.path.realpath(self.root)

    def _resolve(self, rel: str) -> str:
        """The real path of ``rel``, refused when it lies outside the real root."""
        root_real = self._root_real()
        if not rel:
            return root_real
        real = os.path.realpath(os.path.join(root_real, *rel.split("/")))
        if not is_inside(real, root_real):
            raise escapes(rel, real)
        return real

    def _kind(self, rel: str) -> _Kind | None:
        try:
            mode = os.stat(self._resolve(rel)).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(mode):
            return "dir"
        return "file" if stat.S_ISREG(mode) else None

    def _put_stream(self, chunks: Iterable[bytes], rel: str) -> None:
        os.makedirs(self.root, exist_ok=True)
        self._resolve(rel)  # refuse before creating anything
        write_local_atomic(self._root_real(), rel, chunks)

    def _open(self, rel: str) -> IO[bytes]:
        return open(self._resolve(rel), "rb")  # the caller closes it

    def _file_info(self, rel: str) -> ArtifactInfo:
        return ArtifactInfo(path=rel, is_dir=False, size=os.stat(self._resolve(rel)).st_size)

    def _list(self, rel: str) -> list[ArtifactInfo]:
        root_real = self._root_real()
        out: list[ArtifactInfo] = []
        with os.scandir(self._resolve(rel)) as it:
            entries = list(it)
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX):
                continue
            child = join(rel, entry.name)
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if not is_inside(real, root_real):
                    raise escapes(child, real)
            if entry.is_dir():
                out.append(ArtifactInfo(path=child, is_dir=True))
            elif entry.is_file():
                out.append(ArtifactInfo(path=child, is_dir=False, size=entry.stat().st_size))
        return out

    def _walk_files(self, rel: str) -> list[ArtifactInfo]:
        found = walk_real_tree(self._resolve(rel), self._root_real(), rel, strict=False)
        return [ArtifactInfo(path=p, is_dir=False, size=size) for p, _, size in found]

    def _delete(self, rel: str, kind: _Kind) -> None:
        real = self._resolve(rel)  # refused when a link leads outside the root
        if kind == "dir":
            shutil.rmtree(real)  # links below are removed, never followed
        else:
            os.remove(real)


# -- fsspec filesystems ------------------------------------------------------------------------


class FsspecArtifactStore(ArtifactStore):
    """Artifacts on any fsspec filesystem: ``memory://``, ``sftp://``, chained URLs such as
    ``simplecache::s3://``, ... (``open_artifact_store`` gives plain ``s3://``, ``gs://`` and
    ``az://`` roots to :class:`~mloop.store.ObjectArtifactStore`, which writes in place).

    Atomic writes: the bytes go to a temporary file in the destination folder, which is then
    moved over the destination with ``fs.mv``. On object stores a move is a server-side copy
    and a delete, which costs a second write, but a failed upload never shows a partial object.
    On a filesystem that cannot move (its ``mv`` raises ``NotImplementedError``), the complete
    temporary file is copied to the destination and removed: a failing source still leaves no
    partial file, but a failure of the filesystem itself during that copy can.

    Symbolic links are a local concern: use :class:`LocalArtifactStore` for local folders.

    Args:
        root: a URL such as ``s3://bucket/prefix``; or, with ``fs``, a path inside ``fs``.
        fs: an existing filesystem instance (for instance one configured with credentials).
        **storage_options: passed to the filesystem when it is created from ``root``.

    Raises:
        InvalidArgument: the protocol is unknown, or its package is not installed.
    """

    def __init__(self, root: str, fs: Any = None, **storage_options: Any) -> None:
        self.root = root
        if fs is None:
            try:
                import fsspec

                fs, path = fsspec.core.url_to_fs(root, **storage_options)
            except (ValueError, ImportError) as exc:
                raise InvalidArgument(f"cannot open the artifact store {root!r}: {exc}") from exc
        else:
            path = fs._strip_protocol(root)
        self.fs = fs
        self._top: str = path.rstrip("/") or fs.root_marker or ""
        self._prefix = self._top.rstrip("/") + "/" if self._top.rstrip("/") else self._top

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.root!r})"

    def _full(self, rel: str) -> str:
        return self._prefix + rel if rel else self._top

    def _rel(self, name: str) -> str:
        name = self.fs._strip_protocol(name).rstrip("/")
        if not name.startswith(self._prefix):
            raise StoreError(f"the filesystem listed {name!r}, outside the root {self._top!r}")
        return name[len(self._prefix) :]

    def _kind(self, rel: str) -> _Kind | None:
        try:
            info = self.fs.info(self._full(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return "dir" if info.get("type") == "directory" else "file"

    def _put_stream(self, chunks: Iterable[bytes], rel: str) -> None:
        dest = self._full(rel)
        parent = posixpath.dirname(dest)
        self.fs.makedirs(parent, exist_ok=True)
        tmp = posixpath.join(parent, TMP_PREFIX + secrets.token_hex(8))
        try:
            with self.fs.open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
            try:
                self.fs.mv(tmp, dest)
            except NotImplementedError:
                self._copy_then_remove(tmp, dest)
        except BaseException:
            with suppress(Exception):
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            raise

    def _copy_then_remove(self, tmp: str, dest: str) -> None:
        try:
            with self.fs.open(tmp, "rb") as src, self.fs.open(dest, "wb") as out:
                for chunk in _read_chunks(src, lambda _: None):
                    out.write(chunk)
        except BaseException:
            with suppress(Exception):
                self.fs.rm(dest)
            raise
        self.fs.rm(tmp)

    def _open(self, rel: str) -> IO[bytes]:
        return cast("IO[bytes]", self.fs.open(self._full(rel), "rb"))

    def _info(self, name: str, entry: dict[str, Any]) -> ArtifactInfo:
        if entry.get("type") == "directory":
            return ArtifactInfo(path=self._rel(name), is_dir=True)
        size = entry.get("size")
        return ArtifactInfo(
            path=self._rel(name), is_dir=False, size=None if size is None else int(size)
        )

    def _file_info(self, rel: str) -> ArtifactInfo:
        return self._info(self._full(rel), self.fs.info(self._full(rel)))

    def _list(self, rel: str) -> list[ArtifactInfo]:
        here = self._full(rel).rstrip("/")
        out: list[ArtifactInfo] = []
        for entry in self.fs.ls(self._full(rel), detail=True):
            name = self.fs._strip_protocol(entry["name"]).rstrip("/")
            # some object stores list a folder's own placeholder object
            if name == here or posixpath.basename(name).startswith(TMP_PREFIX):
                continue
            out.append(self._info(name, entry))
        return out

    def _delete(self, rel: str, kind: _Kind) -> None:
        self.fs.rm(self._full(rel), recursive=kind == "dir")

    def _walk_files(self, rel: str) -> list[ArtifactInfo]:
        found = self.fs.find(self._full(rel), detail=True, withdirs=False)
        return [
            self._info(name, entry)
            for name, entry in found.items()
            if not posixpath.basename(name).startswith(TMP_PREFIX)
            and entry.get("type") != "directory"
        ]
