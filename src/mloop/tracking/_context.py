"""What a run records about where it ran: code commit, user, host, Python, entry point, packages.

Stored as system tags under ``mloop.`` so they are searchable (``tags.`mloop.git.commit` = '...'``).
"""

from __future__ import annotations

import functools
import hashlib
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from mloop._core import current_user

TAG_GIT_COMMIT = "mloop.git.commit"
TAG_GIT_DIRTY = "mloop.git.dirty"
TAG_GIT_BRANCH = "mloop.git.branch"
TAG_USER = "mloop.user"
TAG_HOST = "mloop.host"
TAG_PYTHON = "mloop.python"
TAG_ENTRY_POINT = "mloop.entry_point"
TAG_PACKAGES_HASH = "mloop.env.packages_sha256"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def entry_point() -> str:
    """The script or module that started this process, or ``<interactive>``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name not in ("__main__", None):
        return f"-m {spec.name}"
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    return str(path) if path and path != "-c" else "<interactive>"


def _source_dir() -> Path:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).resolve().parent if path else Path.cwd()


@functools.cache
def git_context(cwd: Path | None = None) -> dict[str, str]:
    """Commit, branch and dirty flag of the repository holding the entry point, if any."""
    where = cwd or _source_dir()
    commit = _git(["rev-parse", "HEAD"], where)
    if not commit:
        return {}
    out = {TAG_GIT_COMMIT: commit}
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    out[TAG_GIT_DIRTY] = "true" if status else "false"
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], where)
    if branch and branch != "HEAD":
        out[TAG_GIT_BRANCH] = branch
    return out


@functools.cache
def installed_packages() -> tuple[str, ...]:
    """``name==version`` of every installed distribution, sorted (computed once a process)."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.name
        if name:
            seen.setdefault(name.lower().replace("_", "-"), dist.version)
    return tuple(f"{n}=={v}" for n, v in sorted(seen.items()))


def packages_hash() -> str:
    """sha256 of the installed package list: equal hashes mean equal environments."""
    return hashlib.sha256("\n".join(installed_packages()).encode()).hexdigest()


def run_context() -> dict[str, str]:
    """The system tags a new run records."""
    tags = {
        TAG_USER: current_user(),
        TAG_HOST: socket.gethostname(),
        TAG_PYTHON: platform.python_version(),
        TAG_ENTRY_POINT: entry_point(),
        TAG_PACKAGES_HASH: packages_hash(),
    }
    tags.update(git_context())
    return tags
