"""Per-column drift tests, vectorized, on raw columns or on stored profiles.

Each side of a comparison is a *distribution* (:mod:`mloop.data._drift_dists`):
:class:`NumericDist` (finite numbers) or :class:`CountsDist` (counts per category). A side built
from a table is exact; one built from a :class:`~mloop.data.Profile` answers from its sketches:

==============  =====================================  ========================================
method          from a table (both sides raw)          from a profile
==============  =====================================  ========================================
ks              scipy's exact p-value while both       D from the profile's CDF: exact at its
                sides have <= 10,000 values, else      histogram's edges, shaped inside each bin
                Smirnov's asymptotic one (as scipy)    by the KLL sketch; asymptotic p-value
wasserstein     exact (sorted quantile functions) up   the integral of |F - G| over 65,536
                to 200,000 values in all; above that,  bins, F the profile's CDF as for ks,
                from 65,536 bins with a proven error   divided by the profile's exact std
                bound, exact again when the bound
                straddles the threshold
psi, js,        Sturges bins over both sides' range    the profile's dyadic histogram bins,
hellinger,      (value counts while the reference has  value counts while its frequencies are
chisquare       at most 20 distinct values)            exact and at most 20 distinct
ztest           counts of the two values               the profile's (exact) frequencies
==============  =====================================  ========================================

A test returns its statistic, a p-value for the hypothesis tests and whether it flags drift:
``p < threshold`` for chisquare and ztest, ``p <= threshold`` for ks, ``statistic >= threshold``
for the distances, as Evidently 0.7 does.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from mloop.data._drift_dists import (
    BIN_VALUE_COUNTS_LIMIT,
    W_BINS,
    CountsDist,
    Dist,
    NumericDist,
)
from mloop.data._sketch import DyadicHistogram
from mloop.errors import InvalidArgument

FloatArray = npt.NDArray[np.float64]

EXACT_W_LIMIT = 200_000  # values on both sides together; above, binned with an error bound
KS_EXACT_LIMIT = 10_000  # scipy's 'auto': exact p-values while both sides are this small
ALIGN_MAX_BINS = 128  # the most dyadic bins when a profile's histogram meets other data
PLOT_BINS = 64  # a power of two: W_BINS bins sum into it
PLOT_CATEGORIES = 20


@dataclass
class Outcome:
    """What one test found."""

    statistic: float
    p_value: float | None
    drifted: bool
    notes: list[str] = field(default_factory=list)
    binning: str | None = None  # how the values were grouped, for the report


# -- alignment helpers ------------------------------------------------------------------------


def align_counts(
    ref: CountsDist, cur: CountsDist
) -> tuple[npt.NDArray[Any], FloatArray, FloatArray]:
    """Both sides' counts on the union of their keys; an 'other' bucket when either has one."""
    keys = np.concatenate([np.asarray(ref.keys, dtype=object), np.asarray(cur.keys, dtype=object)])
    # Factorize in first-seen order; a few thousand keys at most (MAX_CATEGORIES a side).
    index: dict[Any, int] = {}
    codes = np.fromiter(
        (index.setdefault(key, len(index)) for key in keys.tolist()), np.intp, keys.size
    )
    uniques = list(index)
    k = len(uniques)
    r = np.bincount(codes[: ref.keys.size], weights=ref.counts, minlength=k)
    c = np.bincount(codes[ref.keys.size :], weights=cur.counts, minlength=k)
    labels = np.empty(k, dtype=object)
    labels[:] = uniques
    if ref.other > 0 or cur.other > 0:
        r = np.append(r, ref.other)
        c = np.append(c, cur.other)
        labels = np.append(labels, np.asarray(["(other)"], dtype=object))
    return labels, r.astype(np.float64), c.astype(np.float64)


def sturges_bins(n_total: int) -> int:
    return math.ceil(math.log2(n_total) + 1.0) if n_total > 0 else 1


def numeric_binned(ref: NumericDist, cur: NumericDist) -> tuple[FloatArray, FloatArray, str]:
    """Counts of both sides on common bins: value counts while the reference has at most 20
    distinct values, else Sturges bins (raw) or aligned dyadic bins (a profile involved)."""
    rc = ref.value_counts(BIN_VALUE_COUNTS_LIMIT)
    if rc is not None:
        cc = cur.value_counts(4096)
        if cc is not None:
            _, r, c = align_counts(rc, cc)
            return r, c, f"value counts ({r.size} values)"
    if ref.raw is not None and cur.raw is not None:
        lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
        nb = sturges_bins(ref.n + cur.n)
        r = ref.bin_counts(lo, hi, nb).astype(np.float64)
        c = cur.bin_counts(lo, hi, nb).astype(np.float64)
        return r, c, f"{nb} equal bins (Sturges) over [{lo:.6g}, {hi:.6g}]"
    rh, ch = dyadic_pair(ref, cur)
    return (
        rh.counts.astype(np.float64),
        ch.counts.astype(np.float64),
        f"{rh.counts.size} bins of width 2^{rh.e} from the profile's histogram",
    )


def _hist_of(d: NumericDist, e: int) -> DyadicHistogram:
    if d.raw is not None:
        return DyadicHistogram.on_grid(d.raw, e, d.min, d.max, max_bins=ALIGN_MAX_BINS)
    assert d.profile is not None
    assert d.profile.histogram is not None
    return d.profile.histogram.coarsen(max(e, d.profile.histogram.e))


def dyadic_pair(ref: NumericDist, cur: NumericDist) -> tuple[DyadicHistogram, DyadicHistogram]:
    """Both sides on one dyadic grid covering both, at most ``ALIGN_MAX_BINS`` bins."""
    from mloop.data._sketch import _floor_scaled, fit_exponent

    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
    e = fit_exponent(lo, hi, ALIGN_MAX_BINS)
    for d in (ref, cur):
        if d.profile is not None and d.profile.histogram is not None:
            e = max(e, d.profile.histogram.e)
    while _floor_scaled(hi, e) - _floor_scaled(lo, e) + 1 > ALIGN_MAX_BINS:
        e += 1
    hr, hc = _hist_of(ref, e), _hist_of(cur, e)
    hr, hc = hr.coarsen(max(hr.e, hc.e)), hc.coarsen(max(hr.e, hc.e))
    start = min(hr.start, hc.start)
    stop = max(hr.start + hr.counts.size, hc.start + hc.counts.size)

    def pad(h: DyadicHistogram) -> DyadicHistogram:
        out = np.zeros(stop - start, dtype=np.int64)
        out[h.start - start : h.start - start + h.counts.size] = h.counts
        return DyadicHistogram(h.e, start, out, max_bins=ALIGN_MAX_BINS)

    return pad(hr), pad(hc)


# -- distances on counts ----------------------------------------------------------------------


def _shares(x: FloatArray) -> FloatArray:
    total = x.sum()
    return x / total if total > 0 else x


def _rel_entr(x: FloatArray, y: FloatArray) -> FloatArray:
    # scipy.special.rel_entr for y > 0 wherever x > 0 (as for a mixture's m): x log(x / y), 0
    # where x is 0. Here so that the default categorical test imports no scipy.
    pos = x > 0
    return np.where(pos, x * np.log(np.where(pos, x, 1.0) / np.where(pos, y, 1.0)), 0.0)


def js_distance(r: FloatArray, c: FloatArray) -> float:
    """Jensen-Shannon distance, natural log (scipy.spatial.distance.jensenshannon)."""
    p, q = _shares(r), _shares(c)
    m = (p + q) / 2.0
    js = (float(np.sum(_rel_entr(p, m))) + float(np.sum(_rel_entr(q, m)))) / 2.0
    return math.sqrt(max(js, 0.0))


def _fill_zeroes(p: FloatArray) -> FloatArray:
    # Evidently's get_binned_data(feel_zeroes=True): empty bins get a small share.
    nz = p[p != 0]
    if nz.size == 0:
        return p
    low = float(nz.min())
    fill = low / 10**6 if low <= 0.0001 else 0.0001
    return np.where(p == 0, fill, p)


def psi_value(r: FloatArray, c: FloatArray) -> float:
    p, q = _fill_zeroes(_shares(r)), _fill_zeroes(_shares(c))
    return float(np.sum((p - q) * np.log(p / q)))


def hellinger_value(r: FloatArray, c: FloatArray) -> float:
    p, q = _shares(r), _shares(c)
    bc = float(np.clip(np.sum(np.sqrt(p * q)), 0.0, 1.0))
    return math.sqrt(1.0 - bc)


def chisquare_test(r: FloatArray, c: FloatArray) -> tuple[float, float, list[str]]:
    """Pearson's chi-square of current counts against the reference's shares (as Evidently:
    expected = reference counts scaled to the current total)."""
    from scipy.special import chdtrc  # type: ignore[import-untyped]

    notes: list[str] = []
    nr, nc = float(r.sum()), float(c.sum())
    exp = r * (nc / nr)
    new = (exp == 0) & (c > 0)
    if new.any():
        notes.append(
            f"{int(new.sum())} value(s) seen in current never occur in the reference: "
            "chi-square is infinite"
        )
        return math.inf, 0.0, notes
    used = exp > 0
    dof = int(used.sum()) - 1
    if dof < 1:
        notes.append("a single value on both sides: nothing to test, p = 1")
        return 0.0, 1.0, notes
    stat = float(np.sum((c[used] - exp[used]) ** 2 / exp[used]))
    return stat, float(chdtrc(dof, stat)), notes


def homogeneity_test(r: FloatArray, c: FloatArray) -> tuple[float, float]:
    """Pearson's chi-square test that two samples' counts share one distribution (2 x k)."""
    from scipy.special import chdtrc  # type: ignore[import-untyped]

    table = np.vstack([r, c])
    used = table.sum(axis=0) > 0
    table = table[:, used]
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    return stat, float(chdtrc(table.shape[1] - 1, stat))


MIN_EXPECTED = 5  # Cochran's rule for chi-square on binned numbers


def merge_sparse_bins(r: FloatArray, c: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Merge neighbouring bins until each expects at least ``MIN_EXPECTED`` current values."""
    scale = float(c.sum()) / float(r.sum())
    groups: list[list[float]] = []
    acc_r = acc_c = 0.0
    for rv, cv in zip(r.tolist(), c.tolist(), strict=True):
        acc_r += rv
        acc_c += cv
        if acc_r * scale >= MIN_EXPECTED:
            groups.append([acc_r, acc_c])
            acc_r = acc_c = 0.0
    if acc_r or acc_c:
        if groups:
            groups[-1][0] += acc_r
            groups[-1][1] += acc_c
        else:
            groups.append([acc_r, acc_c])
    arr = np.asarray(groups, dtype=np.float64)
    return arr[:, 0].copy(), arr[:, 1].copy()


def z_test(labels: npt.NDArray[Any], r: FloatArray, c: FloatArray) -> tuple[float, float]:
    """Two-proportion z-test on a binary column (Evidently's ``z``)."""
    from scipy.special import ndtr  # type: ignore[import-untyped]

    present = (r > 0) | (c > 0)
    if (
        int(np.count_nonzero(r > 0)) == 1
        and int(np.count_nonzero(c > 0)) == 1
        and np.array_equal(r > 0, c > 0)
    ):
        return 0.0, 1.0
    keys = labels[present]
    order = sorted(range(keys.size), key=lambda i: keys[i])
    first = np.flatnonzero(present)[order[0]]
    n1, n2 = float(r.sum()), float(c.sum())
    p1 = 1.0 - r[first] / n1
    p2 = 1.0 - c[first] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    denom = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if denom == 0:
        return 0.0, 1.0
    z = (p1 - p2) / denom
    return float(z), float(2.0 * ndtr(-abs(z)))


# -- KS and Wasserstein on numbers ------------------------------------------------------------


def w1_sorted(a: FloatArray, b: FloatArray) -> float:
    """Exact 1-Wasserstein distance of two sorted samples with equal weights, in O(n + m).

    The quantile functions step at i/n and j/m; their breakpoints, scaled by n*m to integers,
    merge by arithmetic rather than by sorting.
    """
    n, m = a.size, b.size
    i = np.arange(1, n + 1, dtype=np.int64)
    j = np.arange(1, m + 1, dtype=np.int64)
    u = np.empty(n + m, dtype=np.int64)
    u[(i - 1) + (i * m - 1) // n] = i * m
    u[(j - 1) + (j * n) // m] = j * n
    du = np.diff(u, prepend=0)
    ia = -((-u) // m) - 1
    ib = -((-u) // n) - 1
    # Multiply and sum, not np.dot: a BLAS call on 600,000 values wakes OpenBLAS's threads,
    # whose spinning costs more CPU than the sum itself.
    return float(np.sum(np.abs(a[ia] - b[ib]) * du) / (float(n) * float(m)))


def w1_weighted(xa: FloatArray, wa: FloatArray, xb: FloatArray, wb: FloatArray) -> float:
    """1-Wasserstein distance of two weighted samples given in order (the CDF form)."""
    allv = np.sort(np.concatenate([xa, xb]), kind="stable")
    ca = np.concatenate([[0.0], np.cumsum(wa)])
    cb = np.concatenate([[0.0], np.cumsum(wb)])
    pts = allv[:-1]
    fa = ca[np.searchsorted(xa, pts, side="right")] / ca[-1]
    fb = cb[np.searchsorted(xb, pts, side="right")] / cb[-1]
    return float(np.sum(np.abs(fa - fb) * np.diff(allv)))  # no BLAS: see w1_sorted


def ks_d_weighted(xa: FloatArray, wa: FloatArray, xb: FloatArray, wb: FloatArray) -> float:
    """The KS statistic between two weighted samples given in order."""
    ca = np.concatenate([[0.0], np.cumsum(wa)])
    cb = np.concatenate([[0.0], np.cumsum(wb)])
    d = 0.0
    for pts in (xa, xb):
        fa = ca[np.searchsorted(xa, pts, side="right")] / ca[-1]
        fb = cb[np.searchsorted(xb, pts, side="right")] / cb[-1]
        d = max(d, float(np.max(np.abs(fa - fb))))
    return d


def _cdf_of(d: NumericDist) -> tuple[Any, FloatArray]:
    """(cdf(x, side), points where it bends) of one side.

    Raw data: the exact step function. A profile: exact at its histogram's edges (the counts
    are exact), and inside each bin shaped by the KLL sketch's CDF (the line through the middles
    of its steps, anchored at the exact minimum and maximum), rescaled to the bin's exact mass.
    Heavy tails, where the sketch keeps few items, thus stay exact to within one bin.
    """
    if d.raw is not None:
        s = d.sorted()

        def step(x: FloatArray, side: Literal["left", "right"]) -> FloatArray:
            out: FloatArray = np.searchsorted(s, x, side=side) / s.size
            return out

        return step, s
    assert d.profile is not None
    items, weights = d.weighted()
    total = float(weights.sum())
    # Discrete data (integers, ties among the sketch's items) steps at its values; continuous
    # data is better served by a line through the middles of the sketch's steps.
    discrete = d.integer or np.unique(items).size < 0.9 * items.size
    steps = np.concatenate([[0.0], np.cumsum(weights)]) / total
    mids = (np.cumsum(weights) - weights / 2.0) / total
    xs = np.concatenate([[d.min], items, [d.max]])
    ys = np.concatenate([[0.0], mids, [1.0]])

    def sketch(x: FloatArray, side: Literal["left", "right"]) -> FloatArray:
        if discrete:
            stepped: FloatArray = steps[np.searchsorted(items, x, side=side)]
            return stepped
        out: FloatArray = np.interp(x, xs, ys, left=0.0, right=1.0)
        return out

    h = d.profile.histogram
    if h is None or int(h.counts.sum()) == 0:
        return sketch, xs
    edges = h.edges
    cum = np.concatenate([[0.0], np.cumsum(h.counts)]) / float(h.counts.sum())
    at_edges = sketch(edges, "left")  # a bin [e_j, e_j+1) holds the mass from e_j on

    def combined(x: FloatArray, side: Literal["left", "right"]) -> FloatArray:
        x = np.asarray(x, dtype=np.float64)
        j = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        k0, k1 = at_edges[j], at_edges[j + 1]
        width = edges[j + 1] - edges[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(k1 > k0, (sketch(x, side) - k0) / (k1 - k0), (x - edges[j]) / width)
        frac = np.clip(frac, 0.0, 1.0)
        out: FloatArray = cum[j] + (cum[j + 1] - cum[j]) * frac
        return np.where(x < edges[0], 0.0, np.where(x >= edges[-1], 1.0, out))

    return combined, np.unique(np.concatenate([edges, xs]))


def ks_d_profile(ref: NumericDist, cur: NumericDist) -> float:
    """The KS statistic when at least one side is a profile (see :func:`_cdf_of`)."""
    fa, pa = _cdf_of(ref)
    fb, pb = _cdf_of(cur)
    pts = np.concatenate([pa, pb])
    d = 0.0
    for side in ("left", "right"):
        d = max(d, float(np.max(np.abs(fa(pts, side) - fb(pts, side)))))
    return d


def ks_asymptotic_p(d: float, n: float, m: float) -> float:
    """Smirnov's asymptotic two-sided p-value, as scipy's ks_2samp(method='asymp')."""
    from scipy.stats import kstwo  # type: ignore[import-untyped]

    big, small = max(n, m), min(n, m)
    en = big * small / (big + small)
    return float(np.clip(kstwo.sf(d, np.round(en)), 0.0, 1.0))


def w1_profile(ref: NumericDist, cur: NumericDist) -> float:
    """W1 when at least one side is a profile: the integral of |F - G| by the trapezoid rule
    on ``W_BINS`` equal bins (raw sides are counted into them, no sorting needed)."""
    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
    if hi <= lo:
        return 0.0
    edges = np.linspace(lo, hi, W_BINS + 1)

    def cdf(d: NumericDist) -> FloatArray:
        if d.raw is not None:
            out: FloatArray = np.concatenate([[0.0], np.cumsum(d.bin_counts(lo, hi, W_BINS))])
            return out / d.n
        f, _ = _cdf_of(d)
        res: FloatArray = f(edges, "right")
        return res

    diff = np.abs(cdf(ref) - cdf(cur))
    return float((diff[:-1] + diff[1:]).sum() / 2.0 * (hi - lo) / W_BINS)


def w1_binned_bounds(ref: NumericDist, cur: NumericDist) -> tuple[float, float, float]:
    """(estimate, lower, upper) of W1 from ``W_BINS`` bins; the true value is in [lower, upper].

    Inside a bin each CDF lies between its values at the two edges, which bounds |F - G|.
    """
    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
    if hi <= lo:
        return 0.0, 0.0, 0.0
    cr = ref.bin_counts(lo, hi, W_BINS)
    cc = cur.bin_counts(lo, hi, W_BINS)
    fr = np.concatenate([[0.0], np.cumsum(cr)]) / ref.n
    fc = np.concatenate([[0.0], np.cumsum(cc)]) / cur.n
    h = (hi - lo) / W_BINS
    d0, d1 = fr[:-1] - fc[:-1], fr[1:] - fc[1:]
    same = d0 * d1 >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (d0 * d0 + d1 * d1) / (2.0 * np.abs(d0 - d1))
    est = np.where(same, np.abs(d0 + d1) / 2.0, np.nan_to_num(cross))
    upper = np.maximum(np.abs(fr[1:] - fc[:-1]), np.abs(fr[:-1] - fc[1:]))
    lower = np.maximum(0.0, np.maximum(fr[:-1] - fc[1:], fc[:-1] - fr[1:]))
    return float(est.sum() * h), float(lower.sum() * h), float(upper.sum() * h)


# -- the tests --------------------------------------------------------------------------------


class DriftTest(ABC):
    """One drift test. ``run`` checks what it is given, then calls ``_run``."""

    name: ClassVar[str]
    label: ClassVar[str]
    numeric_only: ClassVar[bool] = False
    p_value: ClassVar[bool] = False
    default_threshold: ClassVar[float] = 0.1

    def drifted(self, statistic: float, p_value: float | None, threshold: float) -> bool:
        if self.p_value:
            assert p_value is not None
            return p_value < threshold
        return statistic >= threshold

    def run(self, ref: Dist, cur: Dist, threshold: float) -> Outcome:
        if type(ref) is not type(cur):
            raise InvalidArgument("both sides of a drift test must be of one kind")
        if self.numeric_only and not isinstance(ref, NumericDist):
            raise InvalidArgument(f"{self.name} compares numeric columns only")
        out = self._run(ref, cur, threshold)
        out.drifted = self.drifted(out.statistic, out.p_value, threshold)
        return out

    @abstractmethod
    def _run(self, ref: Dist, cur: Dist, threshold: float) -> Outcome: ...

    @staticmethod
    def counts_of(ref: Dist, cur: Dist) -> tuple[npt.NDArray[Any], FloatArray, FloatArray, str]:
        if isinstance(ref, CountsDist) and isinstance(cur, CountsDist):
            labels, r, c = align_counts(ref, cur)
            return labels, r, c, f"{labels.size} categories"
        assert isinstance(ref, NumericDist)
        assert isinstance(cur, NumericDist)
        r, c, how = numeric_binned(ref, cur)
        return np.arange(r.size).astype(object), r, c, how


class KS(DriftTest):
    name = "ks"
    label = "Kolmogorov-Smirnov p-value"
    numeric_only = True
    p_value = True
    default_threshold = 0.05

    def drifted(self, statistic: float, p_value: float | None, threshold: float) -> bool:
        assert p_value is not None
        return p_value <= threshold  # Evidently's ks: p <= threshold

    def _run(self, ref: Dist, cur: Dist, threshold: float) -> Outcome:
        assert isinstance(ref, NumericDist)
        assert isinstance(cur, NumericDist)
        if ref.raw is not None and cur.raw is not None:
            a, b = ref.sorted(), cur.sorted()
            if max(a.size, b.size) <= KS_EXACT_LIMIT:
                from scipy.stats import ks_2samp

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # exact -> asymp fallback
                    res = ks_2samp(a, b)
                return Outcome(float(res.statistic), float(res.pvalue), False)
            d = ks_d_weighted(a, np.ones(a.size), b, np.ones(b.size))
            return Outcome(d, ks_asymptotic_p(d, a.size, b.size), False)
        d = ks_d_profile(ref, cur)
        notes = ["statistic from the profile's histogram and quantile sketch; asymptotic p-value"]
        return Outcome(d, ks_asymptotic_p(d, ref.n, cur.n), False, notes)


class Wasserstein(DriftTest):
    name = "wasserstein"
    label = "Wasserstein distance / reference std"
    numeric_only = True
    default_threshold = 0.1

    def _run(self, ref: Dist, cur: Dist, threshold: float) -> Outcome:
        assert isinstance(ref, NumericDist)
        assert isinstance(cur, NumericDist)
        norm = max(ref.std, 0.001)  # Evidently's floor for a constant reference
        notes: list[str] = []
        if ref.raw is not None and cur.raw is not None:
            if ref.n + cur.n > EXACT_W_LIMIT:
                est, lower, upper = w1_binned_bounds(ref, cur)
                cut = threshold * norm
                if lower >= cut or upper < cut:
                    if (upper - lower) / norm > 0.01:
                        notes.append(
                            f"binned estimate; exact value within [{lower / norm:.4g}, "
                            f"{upper / norm:.4g}]"
                        )
                    return Outcome(est / norm, None, False, notes)
            return Outcome(w1_sorted(ref.sorted(), cur.sorted()) / norm, None, False)
        notes.append("from the profile's histogram and quantile sketch")
        return Outcome(w1_profile(ref, cur) / norm, None, False, notes)


class _CountsDistance(DriftTest):
    """A distance between the two distributions' binned counts (or category counts)."""

    default_threshold = 0.1

    @staticmethod
    def distance(r: Any, c: Any) -> float:
        raise NotImplementedError

    def _run(self, ref: Dist, cur: Dist, threshold: float) -> Outcome:
        _, r, c, how = self.counts_of(ref, cur)
        return Outcome(self.distance(r, c), None, False, binning=how)


class PSI(_CountsDistance):
    name = "psi"
    label = "population stability index"
    distance = staticmethod(psi_value)


class JensenShannon(_CountsDistance):
    name = "jensenshannon"
    label = "Jensen-Shannon distance"
    distance = staticmethod(js_distance)


class Hellinger(_CountsDistance):
    name = "hellinger"
    label = "Hellinger distance"
    distance = staticmethod(hellinger_value)


class ChiSquare(DriftTest):
    name = "chisquare"
    label = "chi-square p-value"
    p_value = True
    default_threshold = 0.05

    def _run(self, ref: Dist, cur: Dist, threshold: float) -> Outcome:
        if isinstance(ref, NumericDist) and isinstance(cur, NumericDist):
            # Evidently's chisquare counts each value (it is only chosen for <= 5 values).
            rc, cc = ref.value_counts(BIN_VALUE_COUNTS_LIMIT), cur.value_counts(4096)
            if rc is not None and cc is not None:
                labels, r, c = align_counts(rc, cc)
                how = f"value counts ({labels.size} values)"
            else:
                # Binned numbers (mloop's own extension): the two-sample test of homogeneity,
                # sparse bins merged, since both sides are samples.
                _, r, c, how = self.counts_of(ref, cur)
                r, c = merge_sparse_bins(r, c)
                how += f", merged into {r.size} with >= {MIN_EXPECTED} expected each"
                stat, p = homogeneity_test(r, c)
                return Outcome(stat, p, False, binning=how)
        else:
            _, r, c, how = self.counts_of(ref, cur)
        stat, p, notes = chisquare_test(r, c)
        return Outcome(stat, p, False, notes, binning=how)


class ZTest(DriftTest):
    name = "ztest"
    label = "two-proportion z-test p-value"
    p_value = True
    default_threshold = 0.05

    def _run(self, ref: Dist, cur: Dist, threshold: float) -> Outcome:
        if isinstance(ref, NumericDist) and isinstance(cur, NumericDist):
            rc, cc = ref.value_counts(2), cur.value_counts(2)
            if rc is None or cc is None:
                raise InvalidArgument("ztest needs a column with at most 2 distinct values")
            labels, r, c = align_counts(rc, cc)
        else:
            assert isinstance(ref, CountsDist)
            assert isinstance(cur, CountsDist)
            labels, r, c = align_counts(ref, cur)
        if labels.size > 2 or (ref.other if isinstance(ref, CountsDist) else 0) > 0:
            raise InvalidArgument(
                f"ztest needs a column with at most 2 distinct values, found {labels.size}"
            )
        z, p = z_test(labels, r, c)
        return Outcome(z, p, False, binning="2 values")


METHODS: dict[str, DriftTest] = {
    t.name: t
    for t in (KS(), Wasserstein(), PSI(), JensenShannon(), ChiSquare(), Hellinger(), ZTest())
}
ALIASES = {"js": "jensenshannon", "chi2": "chisquare", "z": "ztest", "kolmogorov-smirnov": "ks"}


def get_method(name: str) -> DriftTest:
    """The test called ``name`` (or one of its aliases)."""
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return METHODS[key]
    except KeyError:
        raise InvalidArgument(
            f"unknown drift method {name!r}; choose one of: {', '.join(METHODS)}"
        ) from None
