"""Data: versioned datasets, declarative checks, mergeable profiles and drift detection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop._core._lazy import lazy_names

if TYPE_CHECKING:
    from mloop.data._checks import CheckReport as CheckReport
    from mloop.data._checks import check as check
    from mloop.data._checks import infer_checks as infer_checks
    from mloop.data._dataset import Dataset as Dataset
    from mloop.data._dataset import list_datasets as list_datasets
    from mloop.data._dataset import load as load
    from mloop.data._dataset import register as register
    from mloop.data._drift import drift as drift
    from mloop.data._drift_report import DriftResult as DriftResult
    from mloop.data._profile import Profile as Profile
    from mloop.data._profile import merge_profiles as merge_profiles
    from mloop.data._profile import profile as profile

# Loaded on first use: profiling and drift pull in scipy, checks pull in pandera.
__getattr__, __dir__, __all__ = lazy_names(
    __name__,
    {
        # datasets and lineage
        "Dataset": "._dataset",
        "register": "._dataset",
        "load": "._dataset",
        "list_datasets": "._dataset",
        # checks
        "CheckReport": "._checks",
        "check": "._checks",
        "infer_checks": "._checks",
        # profiles
        "Profile": "._profile",
        "profile": "._profile",
        "merge_profiles": "._profile",
        # drift
        "DriftResult": "._drift_report",
        "drift": "._drift",
    },
)
