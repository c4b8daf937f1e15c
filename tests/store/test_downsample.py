"""Thinning a series for a chart: what the chart draws must not change."""

from __future__ import annotations

import numpy as np
import pytest

from mloop.store._downsample import downsample_indices


def _strokes(x: np.ndarray, y: np.ndarray, keep: np.ndarray, buckets: int) -> None:
    """Per pixel column (bucket of x), the kept points span the same min and max as all."""
    x0, span = x[0], x[-1] - x[0] + 1
    col = np.minimum(((x - x0) * (buckets / span)).astype(np.int64), buckets - 1)
    for b in np.unique(col):
        every = y[col == b]
        kept = y[keep][col[keep] == b]
        if np.isnan(every).all():
            continue
        assert np.nanmin(kept) == np.nanmin(every)
        assert np.nanmax(kept) == np.nanmax(every)


def test_small_series_come_whole() -> None:
    x = np.arange(200)
    assert downsample_indices(x, np.sin(x / 10.0), 100).tolist() == list(range(200))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_and_max_of_every_bucket_are_kept(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 100_000
    # uneven x: bursts and gaps, as steps logged at varying rates
    x = np.cumsum(rng.integers(1, 20, n))
    y = np.cumsum(rng.normal(size=n))
    keep = downsample_indices(x, y, 800)
    assert len(keep) <= 2 * 800 + 2
    assert keep[0] == 0 and keep[-1] == n - 1
    assert np.all(np.diff(keep) > 0)
    _strokes(x, y, keep, 800)


def test_nan_points_do_not_hide_values() -> None:
    x = np.arange(10_000)
    y = np.linspace(0.0, 1.0, 10_000)
    y[::3] = np.nan
    y[5000:6000] = np.nan  # a stretch of nothing: kept as a gap
    keep = downsample_indices(x, y, 50)
    _strokes(x, y, keep, 50)
    assert np.isnan(y[keep]).any()


def test_huge_x_values() -> None:
    x = np.array([0, 2**62, 2**63 - 2], dtype=np.int64).repeat(300) + np.tile(np.arange(300), 3)
    x.sort()
    y = np.arange(len(x), dtype=np.float64)
    keep = downsample_indices(x, y, 10)
    assert keep[0] == 0 and keep[-1] == len(x) - 1
