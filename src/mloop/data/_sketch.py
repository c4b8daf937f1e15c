"""Mergeable sketches behind :class:`mloop.data.Profile`, written in numpy.

Four summaries, each built in one vectorized pass over a column's values, merged exactly or
within a stated error, and turned into plain state (ints, lists, numpy arrays) for storage:

- :class:`KLL`: quantiles. Karnin, Lang and Liberty's sketch ("Optimal quantile approximation
  in streams", 2016) with capacities shrinking by 2/3 per level below the top, as in Apache
  DataSketches. With ``k = 200`` the rank error of any quantile or CDF query is at most about
  1.65% of the count with 99% confidence (the figure DataSketches publishes for its KLL at
  k = 200), whatever the number and order of merges. A column is fed in one sorted batch; a
  compaction of one sorted buffer misplaces any rank by at most one item weight, so a sketch
  built from one table is usually far more accurate than the bound.
- :class:`FrequentItems`: heavy hitters, Misra-Gries with ``capacity`` counters. Built from
  exact value counts; while a column has at most ``capacity`` distinct values the counts are
  exact (``exact`` is true). Beyond that, and after merges, an estimate ``f^`` of a count ``f``
  satisfies ``f - n / (capacity + 1) <= f^ <= f`` (Agarwal et al., "Mergeable summaries", 2012);
  the untracked mass is ``n - sum(counts)``.
- :class:`HyperLogLog`: distinct counts, ``2**p`` one-byte registers over 64-bit hashes
  (splitmix64 of the float bits for numbers, pandas' SipHash for strings). The relative standard
  error is ``1.04 / sqrt(2**p)``: 1.6% at the default ``p = 12``. Merging takes the register-wise
  maximum, so it is exact: the merged sketch equals the sketch of the union.
- :class:`DyadicHistogram`: counts on bins of width ``2**e`` aligned on multiples of ``2**e``,
  with at most ``max_bins`` bins between the column's minimum and maximum. Every value falls
  in a bin, so there is no under- or overflow. Grids of two histograms nest (a bin of width
  ``2**(e+1)`` is exactly two of width ``2**e``), so a merge coarsens the finer histogram to
  the coarser width, adds the counts, and coarsens again while the union needs more than
  ``max_bins`` bins. The exponent is the smallest that fits the range, so the merge of the
  histograms of two chunks is exactly the histogram of their concatenation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MASK64 = (1 << 64) - 1

# -- hashing ----------------------------------------------------------------------------------


def hash_floats(values: FloatArray) -> npt.NDArray[np.uint64]:
    """64-bit hashes of float values (splitmix64's finalizer over the IEEE bits; -0.0 == 0.0)."""
    x = np.ascontiguousarray(values, dtype=np.float64) + 0.0  # -0.0 + 0.0 is +0.0
    z = x.view(np.uint64).copy()
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def hash_strings(values: Sequence[str] | npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """64-bit hashes of strings (pandas' SipHash-2-4 with its fixed key: stable across runs)."""
    import pandas as pd

    arr = np.asarray(values, dtype=object)
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint64)
    out: npt.NDArray[np.uint64] = pd.util.hash_array(arr, categorize=False)
    return out


def _next_seed(seed: int) -> int:
    return (seed * 6364136223846793005 + 1442695040888963407) & _MASK64


# -- KLL quantile sketch ----------------------------------------------------------------------


class KLL:
    """A KLL quantile sketch of float values (see the module docstring for the error bound).

    Level ``h`` holds items of weight ``2**h``. A level over its capacity is sorted and
    compacted: one item in two, from a random offset, moves up a level.
    """

    __slots__ = ("_seed", "_sorted", "_weighted", "k", "levels", "n")

    MIN_WIDTH = 8

    def __init__(self, k: int = 200, *, seed: int = 0x9E3779B97F4A7C15) -> None:
        if k < self.MIN_WIDTH:
            raise ValueError(f"KLL k must be at least {self.MIN_WIDTH}, got {k}")
        self.k = k
        self.n = 0
        self.levels: list[FloatArray] = [np.empty(0, dtype=np.float64)]
        self._sorted: list[bool] = [True]
        self._seed = seed & _MASK64
        self._weighted: tuple[FloatArray, FloatArray] | None = None

    # building
    def update(self, values: FloatArray, *, presorted: bool = False) -> None:
        """Add finite values (the caller drops NaN and infinities)."""
        if values.size == 0:
            return
        values = np.asarray(values, dtype=np.float64)
        if self.levels[0].size == 0:
            self.levels[0] = values
            self._sorted[0] = presorted
        else:
            self.levels[0] = np.concatenate([self.levels[0], values])
            self._sorted[0] = False
        self.n += int(values.size)
        self._weighted = None
        self._compress()

    def _capacity(self, h: int) -> int:
        depth = len(self.levels) - 1 - h
        return max(self.MIN_WIDTH, math.ceil(self.k * (2.0 / 3.0) ** depth))

    def _compress(self) -> None:
        while True:
            over = [h for h, lvl in enumerate(self.levels) if lvl.size > self._capacity(h)]
            if not over:
                return
            self._compact(over[0])

    def _compact(self, h: int) -> None:
        buf = self.levels[h]
        if not self._sorted[h]:
            buf = np.sort(buf, kind="stable")  # timsort: cheap on concatenated sorted runs
        keep = buf[:0]
        if buf.size % 2:
            keep, buf = buf[:1], buf[1:]
        self._seed = _next_seed(self._seed)
        up = buf[(self._seed >> 63) :: 2]
        self.levels[h] = keep
        self._sorted[h] = True
        if h + 1 == len(self.levels):
            self.levels.append(up)
            self._sorted.append(True)
        elif self.levels[h + 1].size == 0:
            self.levels[h + 1] = up
            self._sorted[h + 1] = True
        else:
            self.levels[h + 1] = np.concatenate([self.levels[h + 1], up])
            self._sorted[h + 1] = False

    @classmethod
    def merge(cls, sketches: Sequence[KLL]) -> KLL:
        """One sketch of the union of the inputs' streams (n-way: one compaction cascade)."""
        if not sketches:
            raise ValueError("nothing to merge")
        out = cls(max(s.k for s in sketches), seed=0)
        seed = 0
        height = max(len(s.levels) for s in sketches)
        levels: list[FloatArray] = []
        for h in range(height):
            parts = [s.levels[h] for s in sketches if h < len(s.levels) and s.levels[h].size]
            levels.append(np.concatenate(parts) if parts else np.empty(0, dtype=np.float64))
        for s in sketches:
            seed ^= s._seed
            out.n += s.n
        out.levels = levels
        out._sorted = [lvl.size == 0 for lvl in levels]
        out._seed = _next_seed(seed)
        out._compress()
        return out

    # queries
    def weighted(self) -> tuple[FloatArray, FloatArray]:
        """The retained items in order, with their weights (summing to ``n``)."""
        if self._weighted is None:
            items = np.concatenate(self.levels) if self.levels else np.empty(0)
            weights = np.concatenate(
                [np.full(lvl.size, float(2**h)) for h, lvl in enumerate(self.levels)]
            )
            order = np.argsort(items, kind="stable")
            self._weighted = (items[order], weights[order])
        return self._weighted

    def quantiles(self, qs: FloatArray) -> FloatArray:
        """Approximate quantiles at ``qs`` in [0, 1] (empty sketch: NaN; callers check ``n``)."""
        items, weights = self.weighted()
        if items.size == 0:
            return np.full(np.shape(qs), np.nan)
        cum = np.cumsum(weights)
        idx = np.searchsorted(cum, np.asarray(qs) * cum[-1], side="left")
        out: FloatArray = items[np.clip(idx, 0, items.size - 1)]
        return out

    def cdf(self, x: FloatArray) -> FloatArray:
        """Approximate share of values ``<= x``."""
        items, weights = self.weighted()
        if items.size == 0:
            return np.zeros(np.shape(x))
        cum = np.concatenate([[0.0], np.cumsum(weights)])
        out: FloatArray = cum[np.searchsorted(items, x, side="right")] / cum[-1]
        return out

    @property
    def retained(self) -> int:
        return sum(int(lvl.size) for lvl in self.levels)

    # state
    def to_state(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n": self.n,
            "seed": self._seed,
            "sizes": [int(lvl.size) for lvl in self.levels],
            "items": np.concatenate(self.levels) if self.levels else np.empty(0),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> KLL:
        out = cls(int(state["k"]), seed=int(state["seed"]))
        out.n = int(state["n"])
        items = np.asarray(state["items"], dtype=np.float64)
        sizes = [int(s) for s in state["sizes"]]
        if sum(sizes) != items.size:
            raise ValueError("KLL state: level sizes do not add up to the items")
        bounds = np.cumsum([0, *sizes])
        out.levels = [items[bounds[i] : bounds[i + 1]] for i in range(len(sizes))] or [
            np.empty(0, dtype=np.float64)
        ]
        out._sorted = [False] * len(out.levels)
        return out


# -- Misra-Gries frequent items ---------------------------------------------------------------


def _by_count(keys: npt.NDArray[Any], counts: IntArray) -> npt.NDArray[np.intp]:
    """Most frequent first, ties by key: the same counts always list in the same order."""
    order = sorted(range(counts.size), key=lambda i: (-int(counts[i]), keys[i]))
    return np.asarray(order, dtype=np.intp)


class FrequentItems:
    """Misra-Gries heavy hitters over string keys (numbers use their float keys)."""

    __slots__ = ("capacity", "counts", "exact", "keys", "n")

    def __init__(
        self,
        keys: npt.NDArray[Any],
        counts: IntArray,
        n: int,
        *,
        capacity: int = 256,
        exact: bool = True,
    ) -> None:
        self.keys = keys
        self.counts = counts
        self.n = n
        self.capacity = capacity
        self.exact = exact

    @classmethod
    def from_counts(
        cls, keys: npt.NDArray[Any], counts: IntArray, *, capacity: int = 256
    ) -> FrequentItems:
        """From exact value counts (keys distinct); reduced when over ``capacity``."""
        counts = np.asarray(counts, dtype=np.int64)
        out = cls(keys, counts, int(counts.sum()), capacity=capacity, exact=True)
        out._reduce()
        return out

    def _reduce(self) -> None:
        # Keep the largest counters first, so that reading them is a slice.
        keys, counts = self.keys, self.counts
        if counts.size > self.capacity:
            # Only the capacity + 1 largest matter: a partition is O(n), a sort is not.
            top = np.argpartition(-counts, self.capacity)[: self.capacity + 1]
            keys, counts = keys[top], counts[top]
            order = _by_count(keys, counts)
            keys, counts = keys[order], counts[order]
            counts = counts[: self.capacity] - counts[self.capacity]
            keep = counts > 0
            keys, counts = keys[: self.capacity][keep], counts[keep]
            self.exact = False
        else:
            order = _by_count(keys, counts)
            keys, counts = keys[order], counts[order]
        self.keys, self.counts = keys, counts

    @property
    def error_bound(self) -> float:
        """The most any count may be underestimated by (0 while exact)."""
        if self.exact:
            return 0.0
        return (self.n - float(self.counts.sum())) / (self.capacity + 1)

    @classmethod
    def merge(cls, items: Sequence[FrequentItems]) -> FrequentItems:
        import pandas as pd

        if not items:
            raise ValueError("nothing to merge")
        keys = np.concatenate([it.keys for it in items])
        counts = np.concatenate([it.counts for it in items])
        codes, uniques = pd.factorize(keys)
        summed = np.bincount(codes, weights=counts, minlength=len(uniques)).astype(np.int64)
        out = cls(
            np.asarray(uniques, dtype=keys.dtype),
            summed,
            sum(it.n for it in items),
            capacity=max(it.capacity for it in items),
            exact=all(it.exact for it in items),
        )
        out._reduce()
        return out

    def to_state(self) -> dict[str, Any]:
        numeric = self.keys.dtype.kind == "f"
        return {
            "capacity": self.capacity,
            "n": self.n,
            "exact": self.exact,
            "numeric": numeric,
            "keys": self.keys.astype(np.float64) if numeric else [str(k) for k in self.keys],
            "counts": self.counts,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FrequentItems:
        if state["numeric"]:
            keys = np.asarray(state["keys"], dtype=np.float64)
        else:
            keys = np.asarray(list(state["keys"]), dtype=object)
        counts = np.asarray(state["counts"], dtype=np.int64)
        if keys.size != counts.size:
            raise ValueError("frequent items state: keys and counts differ in length")
        return cls(
            keys,
            counts,
            int(state["n"]),
            capacity=int(state["capacity"]),
            exact=bool(state["exact"]),
        )


# -- HyperLogLog ------------------------------------------------------------------------------


class HyperLogLog:
    """HyperLogLog over 64-bit hashes, with linear counting for small cardinalities."""

    __slots__ = ("p", "registers")

    def __init__(self, p: int = 12, registers: npt.NDArray[np.uint8] | None = None) -> None:
        if not 4 <= p <= 18:
            raise ValueError(f"HyperLogLog precision must be in 4..18, got {p}")
        self.p = p
        self.registers = registers if registers is not None else np.zeros(1 << p, dtype=np.uint8)

    def update(self, hashes: npt.NDArray[np.uint64]) -> None:
        if hashes.size == 0:
            return
        p = self.p
        idx = (hashes >> np.uint64(64 - p)).astype(np.intp)
        rest = hashes & np.uint64((1 << (64 - p)) - 1)
        # rho = position of the leftmost 1 in the (64 - p)-bit remainder, from 1.
        _, exponent = np.frexp(rest.astype(np.float64))
        rho = np.where(rest == 0, 64 - p + 1, 64 - p - (exponent - 1)).astype(np.uint8)
        np.maximum.at(self.registers, idx, rho)

    def estimate(self) -> float:
        m = float(1 << self.p)
        alpha = 0.7213 / (1.0 + 1.079 / m)
        regs = self.registers.astype(np.float64)
        raw = alpha * m * m / float(np.sum(np.exp2(-regs)))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return m * math.log(m / zeros)
        return raw

    @classmethod
    def merge(cls, sketches: Sequence[HyperLogLog]) -> HyperLogLog:
        if not sketches:
            raise ValueError("nothing to merge")
        p = min(s.p for s in sketches)
        regs = np.zeros(1 << p, dtype=np.uint8)
        for s in sketches:
            r = s.registers
            if s.p > p:  # fold a finer sketch down: registers that share a prefix
                # The dropped index bits become leading bits of the remainder: a register
                # whose dropped bits are not all zero has rho 1..(s.p - p) in the coarser one.
                groups = r.reshape(1 << p, 1 << (s.p - p))
                sub = np.arange(1 << (s.p - p))
                _, e = np.frexp(sub.astype(np.float64))
                lead = np.where(sub == 0, 0, (s.p - p) - (e - 1)).astype(np.int64)
                fine = np.where(lead[None, :] == 0, groups.astype(np.int64) + (s.p - p), lead)
                fine = np.where(groups == 0, 0, fine)
                r = fine.max(axis=1).astype(np.uint8)
            np.maximum(regs, r, out=regs)
        return cls(p, regs)

    def to_state(self) -> dict[str, Any]:
        return {"p": self.p, "registers": self.registers}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HyperLogLog:
        regs = np.asarray(state["registers"], dtype=np.uint8)
        p = int(state["p"])
        if regs.size != 1 << p:
            raise ValueError("HyperLogLog state: wrong number of registers")
        return cls(p, regs.copy())


# -- dyadic histogram -------------------------------------------------------------------------

E_MIN = -1000  # finest bin width 2**-1000; ldexp stays finite


def _floor_scaled(x: FloatArray | float, e: int) -> Any:
    return np.floor(np.ldexp(x, -e))


def fit_exponent(lo: float, hi: float, max_bins: int) -> int:
    """The smallest ``e`` whose grid covers [lo, hi] with at most ``max_bins`` bins, and keeps
    bin indices below ``2**50`` (so they are exact in float64 and int64)."""
    maxabs = max(abs(lo), abs(hi))
    e_floor = E_MIN if maxabs == 0.0 else max(E_MIN, math.frexp(maxabs)[1] - 50)
    if hi > lo:
        guess = math.ceil(math.log2((hi - lo) / max_bins)) - 1
        e = max(e_floor, guess)
    else:
        e = e_floor
    while _floor_scaled(hi, e) - _floor_scaled(lo, e) + 1 > max_bins:
        e += 1
    return e


class DyadicHistogram:
    """Counts of finite values on the grid ``[j * 2**e, (j + 1) * 2**e)``, j from ``start``."""

    __slots__ = ("counts", "e", "max_bins", "start")

    def __init__(self, e: int, start: int, counts: IntArray, *, max_bins: int = 64) -> None:
        self.e = e
        self.start = start
        self.counts = counts
        self.max_bins = max_bins

    @classmethod
    def build(
        cls, values: FloatArray, lo: float, hi: float, *, max_bins: int = 64
    ) -> DyadicHistogram | None:
        """Histogram of finite ``values`` whose minimum and maximum are ``lo`` and ``hi``."""
        if values.size == 0:
            return None
        e = fit_exponent(lo, hi, max_bins)
        return cls.on_grid(values, e, lo, hi, max_bins=max_bins)

    @classmethod
    def on_grid(
        cls, values: FloatArray, e: int, lo: float, hi: float, *, max_bins: int = 64
    ) -> DyadicHistogram:
        start = int(_floor_scaled(lo, e))
        stop = int(_floor_scaled(hi, e))
        j = _floor_scaled(values, e)
        j -= start
        counts = np.bincount(j.astype(np.intp), minlength=stop - start + 1).astype(np.int64)
        return cls(e, start, counts, max_bins=max_bins)

    @property
    def edges(self) -> FloatArray:
        return np.ldexp(
            np.arange(self.start, self.start + self.counts.size + 1, dtype=np.float64), self.e
        )

    def coarsen(self, e: int) -> DyadicHistogram:
        """The same counts on the coarser grid ``2**e`` (``e >= self.e``)."""
        if e == self.e:
            return self
        shift = e - self.e
        j = np.arange(self.start, self.start + self.counts.size, dtype=np.int64) >> shift
        start = int(j[0])
        counts = np.bincount(j - start, weights=self.counts).astype(np.int64)
        return DyadicHistogram(e, start, counts, max_bins=self.max_bins)

    @classmethod
    def merge(cls, hists: Sequence[DyadicHistogram]) -> DyadicHistogram:
        if not hists:
            raise ValueError("nothing to merge")
        max_bins = max(h.max_bins for h in hists)
        e = max(h.e for h in hists)
        while True:
            parts = [h.coarsen(e) for h in hists]
            start = min(p.start for p in parts)
            stop = max(p.start + p.counts.size for p in parts)
            if stop - start <= max_bins:
                break
            e += 1
        counts = np.zeros(stop - start, dtype=np.int64)
        for p in parts:
            counts[p.start - start : p.start - start + p.counts.size] += p.counts
        return cls(e, start, counts, max_bins=max_bins)

    def to_state(self) -> dict[str, Any]:
        return {"e": self.e, "start": self.start, "max_bins": self.max_bins, "counts": self.counts}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DyadicHistogram:
        return cls(
            int(state["e"]),
            int(state["start"]),
            np.asarray(state["counts"], dtype=np.int64),
            max_bins=int(state["max_bins"]),
        )
