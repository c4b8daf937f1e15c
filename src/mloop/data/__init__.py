"""Data: versioned datasets, declarative checks, mergeable profiles and drift detection."""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded on first use: profiling and drift pull in scipy, checks pull in pandera.
_LAZY = {
    # datasets and lineage
    "Dataset": "mloop.data._dataset",
    "register": "mloop.data._dataset",
    "load": "mloop.data._dataset",
    "list_datasets": "mloop.data._dataset",
    # checks
    "CheckReport": "mloop.data._checks",
    "check": "mloop.data._checks",
    "infer_checks": "mloop.data._checks",
    # profiles
    "Profile": "mloop.data._profile",
    "profile": "mloop.data._profile",
    "merge_profiles": "mloop.data._profile",
    # drift
    "DriftResult": "mloop.data._drift_report",
    "drift": "mloop.data._drift",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mloop.data' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)
