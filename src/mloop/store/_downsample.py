"""Metric series thinned for a chart of a given pixel width, without changing what it draws.

A line chart of ``n`` points on ``w`` pixel columns draws, in each column, a vertical stroke from
the lowest to the highest value that falls in it, joined to its neighbours. Keeping, per column
(bucket of x), the point with the smallest and the point with the largest value, plus the first
and last point of the series, draws the same strokes (the M4 idea, with min/max). A series of at
most ``2 * buckets`` points is returned whole: exact when small.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["bucket_of", "downsample_indices", "exact_buckets"]

IntArray = npt.NDArray[np.int64]


def exact_buckets(x0: int, x1: int, buckets: int) -> bool:
    """Whether ``(x - x0) * buckets`` fits in 63 bits, so buckets are computed exactly in
    integers (the same in SQL as in numpy)."""
    return (x1 - x0 + 1) * buckets < 2**62


def bucket_of(x: npt.NDArray[np.int64], x0: int, x1: int, buckets: int) -> IntArray:
    """The bucket (pixel column) of each x: ``(x - x0) * buckets // (x1 - x0 + 1)``, from the
    point's x, not its index, so sparse and dense stretches get columns by where they are
    drawn. Float math only where the integers could overflow (spans near 2**63)."""
    span = x1 - x0 + 1
    if exact_buckets(x0, x1, buckets):
        out: IntArray = ((x - x0) * buckets) // span
        return out
    return np.minimum(
        ((x - x0).astype(np.float64) * (buckets / span)).astype(np.int64), buckets - 1
    )


def downsample_indices(
    x: npt.NDArray[np.int64], y: npt.NDArray[np.float64], buckets: int, *, always: bool = False
) -> IntArray:
    """The indices of the points to keep, ascending.

    Args:
        x: the x of each point (step or timestamp), ascending.
        y: the values; NaN points are kept only where a bucket holds nothing else.
        buckets: how many x buckets (about the chart's width in pixels); at least 1.
        always: pick per bucket even when the series is small (``x`` then holds candidates
            a database chose, first and last point included).

    Example::

        keep = downsample_indices(steps, values, 800)
        steps, values = steps[keep], values[keep]
    """
    n = len(x)
    if n == 0 or (n <= 2 * buckets and not always):
        return np.arange(n, dtype=np.int64)
    bucket = bucket_of(x, int(x[0]), int(x[-1]), buckets)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    nan = np.isnan(y)
    low = np.where(nan, np.inf, y)
    high = np.where(nan, -np.inf, y)
    seg_min = np.minimum.reduceat(low, starts)
    seg_max = np.maximum.reduceat(high, starts)
    lengths = np.diff(np.r_[starts, n])
    seg_of = np.repeat(np.arange(len(starts)), lengths)
    keep = [np.array([0, n - 1], dtype=np.int64)]
    for hits in (low == seg_min[seg_of], high == seg_max[seg_of]):
        idx = np.flatnonzero(hits)
        # The first hit of each bucket (a bucket of NaN only matches on +/-inf: its first point).
        _, first = np.unique(seg_of[idx], return_index=True)
        keep.append(idx[first])
    return np.unique(np.concatenate(keep))
