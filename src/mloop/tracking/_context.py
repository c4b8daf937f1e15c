"""What a run records about where it ran: code commit, user, host, Python, entry point, command
line, working folder, packages.

Stored as system tags under ``mloop.`` so they are searchable (``tags.`mloop.git.commit` = '...'``),
and so that ``mloop reproduce`` can tell what changed since and run the same command again:

- ``mloop.argv``: the process's ``sys.argv`` as a JSON list, with the values of options that look
  like secrets (``--token``, ``--password``, any name holding ``key``, ``secret``, ``token`` or
  ``password``, as ``--opt VALUE``, ``--opt=VALUE`` or ``name=VALUE``) replaced by ``***``;
- ``mloop.git.*``: the repository holding the entry point, or, for an installed command such as
  ``mloop pipeline run`` or ``pytest``, the one holding the working folder;
- ``mloop.cwd``: the working folder; inside a git repository also ``mloop.git.cwd`` and
  ``mloop.git.entry_point``, relative to the repository's root, so another clone can find them;
- ``mloop.env.packages``: the installed ``name==version`` list, one a line, zlib-compressed and
  base64-encoded after a ``zlib+b64:`` prefix (about 1.2 KB for 100 packages; a list past one
  tag's limit continues in ``mloop.env.packages.2``, ``.3``, ...); read it back with
  :func:`decode_packages`. ``mloop.env.packages_sha256`` stays the quick equality test;
- ``mloop.reproduces``: the run this process re-runs, when ``mloop reproduce`` started it with
  ``MLOOP_REPRODUCE_OF`` in its environment (``Settings.reproduce_of``, read with the rest of the
  settings).

The package list is computed once a process, git is asked once for each working folder, and
after the first run a call costs about as much as before these tags (some 15 us).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import sysconfig
import zlib
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

from mloop._core import current_user
from mloop._core._tags import (
    TAG_ARGV,
    TAG_CWD,
    TAG_ENTRY_POINT,
    TAG_GIT_BRANCH,
    TAG_GIT_COMMIT,
    TAG_GIT_CWD,
    TAG_GIT_DIRTY,
    TAG_GIT_ENTRY_POINT,
    TAG_HOST,
    TAG_PACKAGES,
    TAG_PACKAGES_HASH,
    TAG_PYTHON,
    TAG_REPRODUCES,
    TAG_USER,
)
from mloop._core._validation import MAX_TAG_VALUE

#: The environment variable ``mloop reproduce`` sets for the process it re-runs.
ENV_REPRODUCE_OF = "MLOOP_REPRODUCE_OF"
#: The experiment new runs go to when none is chosen.
DEFAULT_EXPERIMENT = "default"

__all__ = [
    "DEFAULT_EXPERIMENT",
    "ENV_REPRODUCE_OF",
    "REDACTED",
    "TAG_ARGV",
    "TAG_CWD",
    "TAG_ENTRY_POINT",
    "TAG_GIT_BRANCH",
    "TAG_GIT_COMMIT",
    "TAG_GIT_CWD",
    "TAG_GIT_DIRTY",
    "TAG_GIT_ENTRY_POINT",
    "TAG_HOST",
    "TAG_PACKAGES",
    "TAG_PACKAGES_HASH",
    "TAG_PYTHON",
    "TAG_REPRODUCES",
    "TAG_USER",
    "argv_tag",
    "decode_packages",
    "encode_packages",
    "entry_point",
    "git_context",
    "git_root",
    "hash_packages",
    "installed_packages",
    "location_context",
    "packages_hash",
    "parse_requirements",
    "read_git",
    "redact_argv",
    "run_context",
    "source_context",
]

REDACTED = "***"
_PACKAGES_PREFIX = "zlib+b64:"
_SECRET_NAME = re.compile(r"token|password|passwd|secret|key", re.IGNORECASE)


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


def _main_file() -> Path | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).resolve() if path else None


@functools.cache
def _installed_roots() -> tuple[Path, ...]:
    # The installation's scripts, site-packages and standard library, of the virtual
    # environment and of the Python it was made from.
    keys = ("scripts", "purelib", "platlib", "stdlib", "platstdlib")
    found: set[Path] = set()
    for base in {sys.prefix, sys.base_prefix}:
        paths = sysconfig.get_paths(vars={"base": base, "platbase": base})
        found.update(Path(paths[k]).resolve() for k in keys if k in paths)
    return tuple(found)


def _is_installed(path: Path) -> bool:
    """Whether ``path`` belongs to the Python installation (a console script such as
    ``.venv/bin/mloop`` or ``pytest``, a ``-m`` module in site-packages) rather than to a
    project."""
    return any(path.is_relative_to(root) for root in _installed_roots())


def _source_dir() -> Path:
    """Where the code of this process lives: the entry point's folder; for an installed
    command (``mloop pipeline run ...``, ``pytest``) the working folder, whose repository
    holds the code that the command runs."""
    path = _main_file()
    return path.parent if path is not None and not _is_installed(path) else Path.cwd()


def read_git(where: Path) -> tuple[dict[str, str], Path | None]:
    """The git tags of the repository holding ``where`` and its root, asked now (not cached).

    ``({}, None)`` outside a repository, or in one without a commit yet.
    """
    # One rev-parse answers the root, the commit and the branch.
    out = _git(["rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD"], where)
    lines = out.splitlines() if out else []
    if len(lines) != 3:
        return {}, None
    root, commit, branch = lines
    tags = {TAG_GIT_COMMIT: commit}
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    tags[TAG_GIT_DIRTY] = "true" if status else "false"
    if branch and branch != "HEAD":
        tags[TAG_GIT_BRANCH] = branch
    return tags, Path(root).resolve()


_git_state = functools.cache(read_git)


@functools.cache
def git_context(cwd: Path | None = None) -> dict[str, str]:
    """Commit, branch and dirty flag of the repository holding the entry point, if any
    (``git_context.__wrapped__(folder)`` asks git again)."""
    return dict(read_git((cwd or _source_dir()).resolve())[0])


def git_root(cwd: Path | None = None) -> Path | None:
    """The root of the git repository holding ``cwd`` (default: the entry point), if any."""
    return _git_state((cwd or _source_dir()).resolve())[1]


def _relative(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def location_context(root: Path | None) -> dict[str, str]:
    """The working folder, and with a git ``root`` the folder and entry file relative to it."""
    cwd = Path.cwd()
    tags = {TAG_CWD: str(cwd)}
    if root is not None:
        rel_cwd = _relative(cwd.resolve(), root)
        if rel_cwd is not None:
            tags[TAG_GIT_CWD] = rel_cwd
        main = _main_file()
        # An installed command is part of the environment, not of the checkout.
        rel_entry = _relative(main, root) if main is not None and not _is_installed(main) else None
        if rel_entry is not None:
            tags[TAG_GIT_ENTRY_POINT] = rel_entry
    return tags


@functools.lru_cache(maxsize=32)
def _place_tags(cwd: str) -> tuple[tuple[str, str], ...]:
    # Keyed by the working folder, the one input that may change within a process (os.chdir);
    # the entry point and git are read once for each.
    git_tags, root = _git_state(_source_dir().resolve())
    return tuple({**git_tags, **location_context(root)}.items())


def source_context(path: Path) -> dict[str, str]:
    """The git tags for code in the file ``path`` rather than in the entry point: its
    repository's commit, branch and dirty flag, and the file relative to that repository's root
    (``mloop.git.entry_point``). For a run whose code lives elsewhere than ``__main__`` (a
    pipeline file run by ``mloop pipeline run``): pass these as the run's tags."""
    real = path.resolve()
    tags, root = _git_state(real.parent)
    out = dict(tags)
    if root is not None:
        rel = _relative(real, root)
        if rel is not None:
            out[TAG_GIT_ENTRY_POINT] = rel
    return out


# -- command line ------------------------------------------------------------------------------


_URL_PASSWORD = re.compile(r"(://[^/@\s:]*:)[^@/\s]+@")


def _is_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name.lstrip("-")))


def redact_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with the values of secret-looking options replaced by ``***``.

    Example::

        redact_argv(["train.py", "--token", "abc", "--api-key=x", "lr=0.1"])
        # ['train.py', '--token', '***', '--api-key=***', 'lr=0.1']
    """
    out: list[str] = []
    hide_next = False
    for i, raw in enumerate(argv):
        # A password inside a URL (``--tracking-uri postgresql://u:pw@db/x``), under any name.
        arg = _URL_PASSWORD.sub(rf"\1{REDACTED}@", raw)
        if hide_next:  # the value of a secret option, even one that starts with '-'
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        if eq and i > 0 and name and " " not in name and _is_secret(name):
            out.append(f"{name}={REDACTED}")
        elif i > 0 and arg.startswith("-") and not eq and _is_secret(arg):
            out.append(arg)
            hide_next = True
        else:
            out.append(arg)
    return out


def argv_tag(argv: Sequence[str] | None = None) -> dict[str, str]:
    """``{"mloop.argv": <JSON list>}``, redacted; empty when it would not fit in a tag."""
    text = json.dumps(redact_argv(sys.argv if argv is None else argv))
    return {TAG_ARGV: text} if len(text) <= MAX_TAG_VALUE else {}


# -- packages ----------------------------------------------------------------------------------


def _environment_paths() -> list[str]:
    """``sys.path`` without folders vendored inside a package: importing Ray puts
    ``ray/thirdparty_files`` (its private psutil, colorama) on ``sys.path``, and those copies
    are not the environment's packages; counting them would make one environment look like two
    depending on whether Ray was imported first."""
    return [e for e in sys.path if not (Path(e or ".").parent / "__init__.py").is_file()]


# Where the installed-package list is kept between processes (None: not kept). Reading every
# distribution's metadata costs a few hundred milliseconds, on every run of every command.
PACKAGES_CACHE_DIR: Path | None = Path.home() / ".cache" / "mloop" / "packages"
_PACKAGE_LINE = re.compile(r"^[a-z0-9][a-z0-9.\-]*==\S+$")


def _packages_cache_key(paths: Sequence[str]) -> str:
    """A digest of the interpreter and each environment folder's modification time: installing,
    upgrading or removing a distribution adds or removes a ``*.dist-info`` folder (or a ``.pth``
    file) there, which changes the folder's mtime, so a changed environment gets a new key."""
    h = hashlib.sha256(sys.executable.encode())
    for p in paths:
        try:
            st = os.stat(p or ".")
        except OSError:
            continue
        h.update(f"\0{os.path.abspath(p or '.')}\0{st.st_mtime_ns}\0{st.st_ino}".encode())
    return h.hexdigest()[:32]


def _scan_packages(paths: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for dist in metadata.distributions(path=list(paths)):
        name = dist.name
        if name:
            seen.setdefault(name.lower().replace("_", "-"), dist.version)
    return tuple(f"{n}=={v}" for n, v in sorted(seen.items()))


@functools.cache
def installed_packages() -> tuple[str, ...]:
    """``name==version`` of every installed distribution, sorted (computed once a process, and
    kept in ``PACKAGES_CACHE_DIR`` under a key of the environment folders' mtimes)."""
    paths = _environment_paths()
    folder = PACKAGES_CACHE_DIR
    if folder is None:
        return _scan_packages(paths)
    cached = folder / f"{_packages_cache_key(paths)}.txt"
    try:
        lines = tuple(cached.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        pass
    else:
        if lines and all(_PACKAGE_LINE.match(x) for x in lines):
            return lines
    packages = _scan_packages(paths)
    try:  # a cache that cannot be written only costs the next process the scan
        folder.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp.write_text("\n".join(packages), encoding="utf-8")
        os.replace(tmp, cached)
    except OSError:
        pass
    return packages


def hash_packages(packages: Sequence[str]) -> str:
    """sha256 of a ``name==version`` list, as ``mloop.env.packages_sha256`` records it."""
    return hashlib.sha256("\n".join(packages).encode()).hexdigest()


@functools.cache
def packages_hash() -> str:
    """sha256 of the installed package list: equal hashes mean equal environments."""
    return hash_packages(installed_packages())


def encode_packages(packages: Sequence[str]) -> dict[str, str]:
    """The tags holding a ``name==version`` list: ``mloop.env.packages`` and, for a list past
    one tag's limit, ``mloop.env.packages.2``, ``.3``, ..."""
    blob = _PACKAGES_PREFIX + base64.b64encode(
        zlib.compress("\n".join(packages).encode(), 9)
    ).decode("ascii")
    parts = [blob[i : i + MAX_TAG_VALUE] for i in range(0, len(blob), MAX_TAG_VALUE)]
    return {TAG_PACKAGES if i == 0 else f"{TAG_PACKAGES}.{i + 1}": p for i, p in enumerate(parts)}


@functools.cache
def _packages_tags() -> tuple[tuple[str, str], ...]:
    return tuple(encode_packages(installed_packages()).items())


def decode_packages(tags: Mapping[str, str]) -> dict[str, str] | None:
    """``{name: version}`` from a run's tags, or None when the run did not record its list
    (a run from before the list was recorded, or a damaged tag)."""
    blob = tags.get(TAG_PACKAGES)
    if blob is None or not blob.startswith(_PACKAGES_PREFIX):
        return None
    n = 2
    while (more := tags.get(f"{TAG_PACKAGES}.{n}")) is not None:
        blob += more
        n += 1
    try:
        text = zlib.decompress(base64.b64decode(blob[len(_PACKAGES_PREFIX) :])).decode()
    except (ValueError, zlib.error):
        return None
    return parse_requirements(text.splitlines())


def parse_requirements(lines: Sequence[str]) -> dict[str, str]:
    """``{name: version}`` from ``name==version`` lines (names normalised as recorded)."""
    out: dict[str, str] = {}
    for line in lines:
        name, sep, version = line.strip().partition("==")
        if sep and name:
            out[name.lower().replace("_", "-")] = version
    return out


# -- the tags of a new run ---------------------------------------------------------------------


def run_context(*, top_level: bool = True, reproduces: str | None = None) -> dict[str, str]:
    """The system tags a new run records; ``reproduces``: the run this process re-runs.

    ``top_level=False`` (a nested run, which shares its parent's process) leaves out what the
    parent already holds: the package list and ``mloop.reproduces``.
    """
    tags = {
        TAG_USER: current_user(),
        TAG_HOST: socket.gethostname(),
        TAG_PYTHON: platform.python_version(),
        TAG_ENTRY_POINT: entry_point(),
        TAG_PACKAGES_HASH: packages_hash(),
    }
    tags.update(_place_tags(os.getcwd()))
    tags.update(argv_tag())
    if top_level:
        tags.update(_packages_tags())
        if reproduces and reproduces.strip():
            tags[TAG_REPRODUCES] = reproduces.strip()
    return tags
