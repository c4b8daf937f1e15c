"""The requirements recorded with a model: its framework's distributions pinned to the versions
installed when it was saved, plus numpy, pandas and mloop."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib import metadata

from mloop.errors import InvalidArgument

__all__ = ["pinned_requirements"]

_BASE = ("numpy", "pandas", "mloop")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _pin(candidates: str) -> str | None:
    """``"a|b"``: the first of a, b that is installed, pinned; None when none is."""
    for name in candidates.split("|"):
        version = _installed(name)
        if version is not None:
            return f"{name}=={version}"
    return None


def pinned_requirements(packages: Iterable[str], extra: Sequence[str] | None = None) -> list[str]:
    """Pin ``packages`` and the base packages; ``extra`` requirements are added, and replace a
    pinned one of the same name.

    Raises:
        InvalidArgument: an extra requirement does not start with a package name.
    """
    pins: dict[str, str] = {}
    for candidates in (*packages, *_BASE):
        pinned = _pin(candidates)
        if pinned is not None:
            pins.setdefault(_normalize(pinned.partition("==")[0]), pinned)
    for req in extra or ():
        match = _NAME.match(req) if isinstance(req, str) else None
        if match is None:
            raise InvalidArgument(f"{req!r} is not a requirement (such as 'scikit-learn>=1.4')")
        pins[_normalize(match.group(1))] = req.strip()
    return list(pins.values())
