"""The two sides of a drift test: :class:`NumericDist` (finite numbers) and :class:`CountsDist`
(counts per category), each built from a table's column (exact) or from a stored profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mloop.data._columns import CountsColumn, NumericColumn
from mloop.data._profile import ColumnProfile

FloatArray = npt.NDArray[np.float64]

W_BINS = 65_536  # bins of the binned Wasserstein distance (a power of two)
BIN_VALUE_COUNTS_LIMIT = 20  # Evidently's get_binned_data: value counts at or under this


# -- distributions ----------------------------------------------------------------------------


@dataclass
class CountsDist:
    """Counts per category; ``other`` is mass the keys do not cover (capped or untracked)."""

    keys: npt.NDArray[Any]
    counts: FloatArray
    rows: int
    nulls: int
    other: float = 0.0
    exact: bool = True
    distinct: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> float:
        return float(self.counts.sum()) + self.other

    @classmethod
    def from_column(cls, col: CountsColumn, *, max_categories: int) -> CountsDist:
        keys, counts = col.keys, col.counts.astype(np.float64)
        other = 0.0
        notes: list[str] = []
        distinct = int(keys.size)
        if keys.size > max_categories:
            top = np.argpartition(-counts, max_categories - 1)[:max_categories]
            other = float(counts.sum() - counts[top].sum())
            keys, counts = keys[top], counts[top]
            notes.append(
                f"{distinct:,} distinct values: capped at the {max_categories:,} most frequent, "
                "the rest pooled as one 'other' category"
            )
        return cls(keys, counts, col.rows, col.nulls, other, other == 0.0, distinct, notes)

    @classmethod
    def from_profile(cls, cp: ColumnProfile) -> CountsDist:
        f = cp.frequencies
        if f is None:
            keys: npt.NDArray[Any] = np.empty(0, dtype=object)
            return cls(keys, np.empty(0), cp.count, cp.nulls, float(cp.n), False, cp.distinct)
        counts = f.counts.astype(np.float64)
        other = max(float(cp.n) - float(counts.sum()), 0.0)
        notes: list[str] = []
        if not f.exact:
            notes.append(
                f"reference profile tracks the {f.keys.size} most frequent of about "
                f"{cp.distinct:,} values (counts within {f.error_bound:,.0f}); "
                "the rest pooled as 'other'"
            )
        keys = f.keys if f.keys.dtype.kind == "f" else f.keys.astype(object)
        return cls(keys, counts, cp.count, cp.nulls, other, f.exact, cp.distinct, notes)


@dataclass
class NumericDist:
    """Finite values of a numeric column: raw (exact) or a profile (sketches)."""

    n: int
    rows: int
    nulls: int
    n_inf: int
    mean: float
    std: float
    min: float
    max: float
    integer: bool
    raw: FloatArray | None = None
    profile: ColumnProfile | None = None
    _sorted: FloatArray | None = None
    _counts: CountsDist | None = None  # every value's count, once computed
    _more_than: int = -1  # known: more distinct values than this
    _bins: dict[tuple[float, float, int], npt.NDArray[np.int64]] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.raw is not None

    @classmethod
    def from_column(cls, col: NumericColumn) -> NumericDist:
        v = col.values
        inf = np.isinf(v)
        n_inf = int(np.count_nonzero(inf))
        if n_inf:
            v = v[~inf]
        if v.size == 0:
            nan = float("nan")
            return cls(0, col.rows, col.nulls, n_inf, nan, nan, nan, nan, col.integer, raw=v)
        mean = float(v.mean())
        std = float(v.std())
        return cls(
            int(v.size),
            col.rows,
            col.nulls,
            n_inf,
            mean,
            std,
            float(v.min()),
            float(v.max()),
            col.integer,
            raw=v,
        )

    @classmethod
    def from_profile(cls, cp: ColumnProfile) -> NumericDist:
        nan = float("nan")
        return cls(
            cp.n,
            cp.count,
            cp.nulls,
            cp.n_inf,
            cp.mean if cp.mean is not None else nan,
            cp.std if cp.std is not None else nan,
            cp.min if cp.min is not None else nan,
            cp.max if cp.max is not None else nan,
            cp.integer,
            profile=cp,
        )

    def sorted(self) -> FloatArray:
        if self._sorted is None:
            assert self.raw is not None
            self._sorted = np.sort(self.raw)
        return self._sorted

    def weighted(self) -> tuple[FloatArray, FloatArray]:
        """Values in order with their weights (ones for raw data, KLL weights for a profile)."""
        if self.raw is not None:
            s = self.sorted()
            return s, np.ones(s.size)
        assert self.profile is not None
        assert self.profile.quantiles is not None
        return self.profile.quantiles.weighted()

    def distinct_upto(self, limit: int) -> int:
        """The number of distinct values if at most ``limit``, else ``limit + 1``."""
        if self.n == 0:
            return 0
        counts = self.value_counts(limit)
        return limit + 1 if counts is None else int(counts.keys.size)

    def value_counts(self, limit: int = BIN_VALUE_COUNTS_LIMIT) -> CountsDist | None:
        """Exact counts per value when there are at most ``limit`` distinct values."""
        if self._counts is not None:
            return self._counts if self._counts.keys.size <= limit else None
        if limit <= self._more_than:
            return None
        if self.raw is not None:
            # A few thousand values first: most columns stop here, without a full pass.
            if np.unique(self.raw[:4096]).size > limit:
                self._more_than = max(self._more_than, limit)
                return None
            keys, n = np.unique(self.raw, return_counts=True)
            keys = keys.astype(np.float64)
            counts = n.astype(np.float64)
            self._counts = CountsDist(keys, counts, self.rows, self.nulls, distinct=int(keys.size))
            return self._counts if keys.size <= limit else None
        if self.profile is not None and self.profile.frequencies is not None:
            f = self.profile.frequencies
            if f.exact:
                self._counts = CountsDist(
                    f.keys.astype(np.float64),
                    f.counts.astype(np.float64),
                    self.rows,
                    self.nulls,
                    distinct=int(f.keys.size),
                )
                return self._counts if f.keys.size <= limit else None
        self._more_than = 10**18
        return None

    def bin_counts(self, lo: float, hi: float, nbins: int) -> npt.NDArray[np.int64]:
        """Counts in ``nbins`` equal bins over [lo, hi] (last bin closed), raw data only."""
        key = (lo, hi, nbins)
        cached = self._bins.get(key)
        if cached is not None:
            return cached
        assert self.raw is not None
        if hi <= lo:
            out = np.zeros(nbins, dtype=np.int64)
            out[0] = self.raw.size
        else:
            big = self._bins.get((lo, hi, W_BINS))
            if big is not None and W_BINS % nbins == 0:
                out = big.reshape(nbins, -1).sum(axis=1)
            else:
                idx = self.raw - lo
                idx *= nbins / (hi - lo)
                ii = idx.astype(np.intp)
                np.minimum(ii, nbins - 1, out=ii)
                np.maximum(ii, 0, out=ii)
                out = np.bincount(ii, minlength=nbins).astype(np.int64)
        self._bins[key] = out
        return out


Dist = NumericDist | CountsDist
