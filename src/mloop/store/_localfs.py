"""Local files, safely: artifact paths, writes that land whole or not at all, and walks that
stay inside a folder.

Shared by the artifact stores (a local root; every download) and by ``HttpStore``, which
uploads a run's files and downloads them through a server: the same checks and the same plan
of what to store, whichever the transport.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path

from mloop.errors import InvalidArgument, UnsafeArtifactPath

__all__ = [
    "MAX_ARTIFACT_PATH",
    "TMP_PREFIX",
    "escapes",
    "is_inside",
    "join",
    "make_dirs_inside",
    "safe_relpath",
    "upload_plan",
    "walk_real_tree",
    "writable_relpath",
    "write_local_atomic",
]

MAX_ARTIFACT_PATH = 1024
"""The longest artifact path accepted, in characters."""

#: Names of the temporary files of unfinished writes: reserved, never listed.
TMP_PREFIX = ".mloop-tmp-"
_DRIVE = re.compile(r"^[A-Za-z]:")


# -- paths -------------------------------------------------------------------------------------


def _unsafe(path: str, why: str) -> UnsafeArtifactPath:
    shown = path if len(path) <= 80 else path[:80] + "..."
    return UnsafeArtifactPath(
        f"unsafe artifact path {shown!r}: {why}; give a relative path with forward slashes "
        "that stays inside the artifact root",
        details={"path": shown, "reason": why},
    )


def safe_relpath(path: str) -> str:
    """Normalize an artifact path, relative to an artifact root, or refuse it.

    The result uses forward slashes, has no leading ``./`` and no trailing ``/``, and is ``""``
    for the root itself. Empty segments and ``.`` segments are collapsed, as POSIX does:
    ``"a//b"`` and ``"a/./b"`` both become ``"a/b"``.

    Args:
        path: a path such as ``"model/weights.bin"``.

    Returns:
        The normalized path.

    Raises:
        InvalidArgument: ``path`` is not a string.
        UnsafeArtifactPath: the path is absolute (``/x``, ``C:x``, ``\\\\server\\share``), has a
            ``..`` segment, a backslash, a NUL or another control character, or is longer than
            :data:`MAX_ARTIFACT_PATH` characters.

    Example::

        >>> safe_relpath("./model//weights.bin/")
        'model/weights.bin'
    """
    if not isinstance(path, str):
        raise InvalidArgument(f"an artifact path must be a string, got {type(path).__name__}")
    if len(path) > MAX_ARTIFACT_PATH:
        raise _unsafe(path, f"longer than {MAX_ARTIFACT_PATH} characters ({len(path)})")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in path):
        bad = next(ch for ch in path if ord(ch) < 32 or 127 <= ord(ch) < 160)
        raise _unsafe(path, f"contains the control character {bad!r}")
    if path.startswith("\\\\"):
        raise _unsafe(path, "is an absolute Windows network path")
    if "\\" in path:
        raise _unsafe(path, "contains a backslash (use '/' to separate folders)")
    if path.startswith("/"):
        raise _unsafe(path, "is absolute")
    if _DRIVE.match(path):
        raise _unsafe(path, "starts with a Windows drive")
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise _unsafe(path, "has a '..' segment")
    return "/".join(segments)


def join(rel: str, name: str) -> str:
    """``rel/name``, or ``name`` below the root (``rel`` is ``""``)."""
    return f"{rel}/{name}" if rel else name


def is_inside(real: str, real_base: str) -> bool:
    try:
        return os.path.commonpath([real, real_base]) == real_base
    except ValueError:  # different drives on Windows
        return False


# -- local folders: folders created inside, atomic writes, walks that stay inside ---------------


def escapes(rel: str, target: str, base: str = "the root") -> UnsafeArtifactPath:
    return _unsafe(rel, f"a symbolic link on the way leads outside {base} (to {target!r})")


def make_dirs_inside(base_real: str, rel: str, *, include_last: bool) -> str:
    """Create the folders of ``rel`` below the real folder ``base_real``, one at a time, and
    check after each that its real path is still inside (a planted link is never followed to
    create anything outside). Returns the real path of the deepest folder."""
    os.makedirs(base_real, exist_ok=True)
    segments = rel.split("/") if rel else []
    if not include_last:
        segments = segments[:-1]
    current = base_real
    for i, segment in enumerate(segments):
        candidate = os.path.join(current, segment)
        with suppress(FileExistsError):
            # mkdir does not follow a link in the last component: a link, even a dangling one,
            # makes it fail with EEXIST, and the check below decides.
            os.mkdir(candidate)
        real = os.path.realpath(candidate)
        if not is_inside(real, base_real):
            raise escapes(rel, real)
        if not os.path.isdir(real):
            prefix = "/".join(segments[: i + 1])
            raise InvalidArgument(f"cannot write {rel!r}: {prefix!r} is a file, not a folder")
        current = real
    return current


def _fsync_dir(path: str) -> None:
    # Makes the rename itself durable; not possible on Windows, where opening a folder fails.
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_local_atomic(base_real: str, rel: str, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``base_real/rel``: a temporary file in the destination folder,
    fsynced, then renamed over the destination. A failure leaves the destination untouched."""
    parent = make_dirs_inside(base_real, rel, include_last=False)
    dest = os.path.join(parent, rel.rsplit("/", 1)[-1])
    tmp = os.path.join(parent, TMP_PREFIX + secrets.token_hex(8))
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_BINARY", 0)
    )
    fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
    try:
        with open(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        try:
            # os.replace renames over a link itself, never through it.
            os.replace(tmp, dest)
        except IsADirectoryError as exc:
            raise InvalidArgument(f"cannot write {rel!r}: a folder exists at that path") from exc
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(parent)


def walk_real_tree(
    top_real: str, base_real: str, rel: str, *, strict: bool, base: str = "the root"
) -> Iterator[tuple[str, str, int]]:
    """Yield ``(relative path, real path, size)`` of every regular file below the real folder
    ``top_real`` (whose relative path is ``rel``).

    Symbolic links are followed only when their target is inside ``base_real``; one that leads
    outside raises :class:`UnsafeArtifactPath`, one that leads back to a folder being walked
    raises :class:`InvalidArgument`. Other kinds of files (sockets, FIFOs, dangling links) raise
    with ``strict``, and are skipped otherwise. Temporary files of unfinished writes are skipped.
    """
    stack: list[tuple[str, str, frozenset[str]]] = [(top_real, rel, frozenset({top_real}))]
    while stack:
        dir_real, dir_rel, ancestors = stack.pop()
        with os.scandir(dir_real) as it:
            entries = list(it)
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX):
                continue
            child_rel = join(dir_rel, entry.name)
            real = os.path.join(dir_real, entry.name)
            if entry.is_symlink():
                real = os.path.realpath(real)
                if not is_inside(real, base_real):
                    raise escapes(child_rel, real, base)
            if entry.is_dir():
                if real in ancestors:
                    raise InvalidArgument(
                        f"{child_rel!r} is a symbolic link to a folder that contains it (a loop)"
                    )
                stack.append((real, child_rel, ancestors | {real}))
            elif entry.is_file():
                yield child_rel, real, entry.stat().st_size
            elif strict:
                raise InvalidArgument(
                    f"{child_rel!r} is not a regular file or folder (a socket, a FIFO, a device or "
                    "a dangling link)"
                )


# -- what to store -----------------------------------------------------------------------------


def writable_relpath(dest: str) -> str:
    """:func:`safe_relpath` of a file to write: not the root, not a reserved name."""
    rel = safe_relpath(dest)
    if rel == "":
        raise InvalidArgument("an artifact destination must name a file, not the root")
    if any(segment.startswith(TMP_PREFIX) for segment in rel.split("/")):
        raise InvalidArgument(
            f"cannot write {rel!r}: names starting with {TMP_PREFIX!r} are reserved for the "
            "store's temporary files"
        )
    return rel


def upload_plan(local: Path, dest: str) -> list[tuple[str, str]]:
    """What storing ``local`` under the folder ``dest`` writes: ``(path, local real path)``
    pairs, sorted by path. A file goes to ``dest/<its name>``; a folder's files go below
    ``dest`` with their relative paths (empty folders are not stored), links inside it followed
    only to targets inside it. Every path is checked before the caller writes a byte.

    Raises:
        InvalidArgument: ``local`` is neither a file nor a folder, or holds something that is
            not a regular file, or a link loop; a destination is reserved.
        UnsafeArtifactPath: ``dest`` or a name below ``local`` is not a safe path, or a link
            inside ``local`` points outside it.
    """
    base = safe_relpath(dest)
    if local.is_dir():
        real = os.path.realpath(local)
        walk = walk_real_tree(real, real, "", strict=True, base=f"{str(local)!r}")
        return [(writable_relpath(join(base, rel)), path) for rel, path, _ in sorted(walk)]
    if local.is_file():
        return [(writable_relpath(join(base, local.name)), os.path.realpath(local))]
    raise InvalidArgument(f"not a file or folder: {str(local)!r}")
