"""Multivariate drift: PCA reconstruction error, for changes in how columns move together.

Per-column tests compare marginal distributions; they cannot see two columns whose correlation
flips while each keeps its distribution. This test can:

1. The numeric columns of the reference are standardized (reference mean and std; nulls and
   infinities become the mean) and split at random into a *fit* half and a *holdout* half
   (at most 100,000 rows each side are sampled, with a fixed seed).
2. PCA (numpy's SVD) on the fit half keeps the fewest components that explain 90% of the
   variance (at most d - 1 of d columns, so that something is left to reconstruct).
3. Each row's reconstruction error is its squared distance to that subspace. The statistic is
   the current rows' mean error over the holdout rows' mean error: about 1 without drift.
4. The threshold is calibrated on the reference: the 99th percentile of the same ratio over
   200 bootstrap resamples of the holdout errors (each the size of the current sample), and
   at least ``1 + min_increase`` (default 0.1), so that a huge sample does not flag a change
   too small to matter. Drift when the statistic exceeds the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_ROWS = 100_000
VARIANCE_KEPT = 0.90
BOOTSTRAPS = 200
MIN_INCREASE = 0.1


@dataclass(frozen=True)
class MultivariateDrift:
    """The PCA reconstruction-error test over the numeric columns."""

    method: str
    status: str  # "tested" or "skipped"
    columns: tuple[str, ...]
    drifted: bool = False
    statistic: float | None = None
    threshold: float | None = None
    n_components: int | None = None
    explained_variance: float | None = None
    reference_error: float | None = None
    current_error: float | None = None
    reason: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "status": self.status,
            "columns": list(self.columns),
            "drifted": self.drifted,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "n_components": self.n_components,
            "explained_variance": self.explained_variance,
            "reference_error": self.reference_error,
            "current_error": self.current_error,
            "reason": self.reason,
            "notes": list(self.notes),
        }


def skipped(columns: Sequence[str], reason: str) -> MultivariateDrift:
    return MultivariateDrift("pca_reconstruction", "skipped", tuple(columns), reason=reason)


def numeric_matrix(table: Any, names: Sequence[str], rows: npt.NDArray[np.intp]) -> Any:
    """Rows ``rows`` of the named numeric columns as float64, NaN for null and infinite."""
    import pandas as pd

    out = np.empty((rows.size, len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        if isinstance(table, pd.DataFrame):
            s = table[name].iloc[rows]
            if pd.api.types.is_datetime64_any_dtype(s.dtype):
                if getattr(s.dtype, "tz", None) is not None:
                    s = s.dt.tz_convert("UTC").dt.tz_localize(None)
                ns = np.asarray(s.to_numpy(dtype="datetime64[ns]")).view(np.int64)
                col = np.where(ns == np.iinfo(np.int64).min, np.nan, ns.astype(np.float64))
            elif pd.api.types.is_timedelta64_dtype(s.dtype):
                ns = np.asarray(s.to_numpy(dtype="timedelta64[ns]")).view(np.int64)
                col = np.where(ns == np.iinfo(np.int64).min, np.nan, ns.astype(np.float64))
            else:
                col = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            import pyarrow as pa
            import pyarrow.compute as pc

            arr = table.column(name).take(pa.array(rows))
            if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
                arr = arr.cast(pa.timestamp("ns")).cast(pa.int64())
            elif pa.types.is_duration(arr.type):
                arr = arr.cast(pa.int64())
            # unsafe: nanoseconds since 1970 pass 2**53, where a float64 rounds (as numpy does)
            col = np.asarray(pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False))
        out[:, j] = col
    out[~np.isfinite(out)] = np.nan
    return out


def _sample(n: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    if n <= MAX_ROWS:
        return np.arange(n, dtype=np.intp)
    return np.sort(rng.choice(n, MAX_ROWS, replace=False)).astype(np.intp)


def pca_drift(
    reference: Any,
    current: Any,
    names: Sequence[str],
    *,
    min_increase: float = MIN_INCREASE,
    seed: int = 0,
) -> MultivariateDrift:
    """Run the test on the numeric columns ``names`` of two tables (see the module docstring)."""
    names = list(names)
    if len(names) < 2:
        return skipped(
            names, f"needs at least 2 numeric columns in both tables, found {len(names)}"
        )
    rng = np.random.default_rng(seed)
    n_ref, n_cur = len(reference), len(current)
    xr = numeric_matrix(reference, names, _sample(n_ref, rng))
    xc = numeric_matrix(current, names, _sample(n_cur, rng))
    with np.errstate(all="ignore"):
        valid = np.isfinite(xr).sum(axis=0)
        mu = np.where(valid > 0, np.nansum(xr, axis=0) / np.maximum(valid, 1), 0.0)
        sd = np.sqrt(np.nansum((xr - mu) ** 2, axis=0) / np.maximum(valid, 1))
    keep = (valid > 1) & (sd > 0)
    notes: list[str] = []
    dropped = [n for n, k in zip(names, keep, strict=True) if not k]
    if dropped:
        notes.append(f"left out (constant or empty in the reference): {', '.join(dropped)}")
    used = [n for n, k in zip(names, keep, strict=True) if k]
    if len(used) < 2:
        return skipped(used, "needs at least 2 non-constant numeric columns in the reference")
    if xr.shape[0] < 20 or xc.shape[0] < 5:
        return skipped(used, "needs at least 20 reference rows and 5 current rows")
    zr = np.nan_to_num((xr[:, keep] - mu[keep]) / sd[keep])
    zc = np.nan_to_num((xc[:, keep] - mu[keep]) / sd[keep])
    order = rng.permutation(zr.shape[0])
    half = zr.shape[0] // 2
    fit, hold = zr[order[:half]], zr[order[half:]]
    _, s, vt = np.linalg.svd(fit - fit.mean(axis=0), full_matrices=False)
    var = s**2
    total = float(var.sum())
    if total <= 0:
        return skipped(used, "the reference has no variance to model")
    share = np.cumsum(var) / total
    k = int(np.searchsorted(share, VARIANCE_KEPT) + 1)
    k = min(k, len(used) - 1)
    comps = vt[:k].T
    center = fit.mean(axis=0)

    def errors(z: Any) -> npt.NDArray[np.float64]:
        d = z - center
        proj = d @ comps
        e: npt.NDArray[np.float64] = np.einsum("ij,ij->i", d, d) - np.einsum("ij,ij->i", proj, proj)
        return np.maximum(e, 0.0)

    e_ref, e_cur = errors(hold), errors(zc)
    ref_mean, cur_mean = float(e_ref.mean()), float(e_cur.mean())
    if ref_mean <= 1e-12:
        notes.append("the reference is reconstructed exactly: compared absolute errors")
        stat = float("inf") if cur_mean > 1e-9 else 1.0
        thr = 1.0 + min_increase
    else:
        stat = cur_mean / ref_mean
        size = min(e_cur.size, e_ref.size)
        boot = np.empty(BOOTSTRAPS)
        for b in range(BOOTSTRAPS):
            boot[b] = e_ref[rng.integers(0, e_ref.size, size)].mean()
        thr = max(float(np.quantile(boot / ref_mean, 0.99)), 1.0 + min_increase)
    return MultivariateDrift(
        method="pca_reconstruction",
        status="tested",
        columns=tuple(used),
        drifted=bool(stat > thr),
        statistic=stat,
        threshold=thr,
        n_components=k,
        explained_variance=float(share[k - 1]),
        reference_error=ref_mean,
        current_error=cur_mean,
        notes=tuple(notes),
    )
