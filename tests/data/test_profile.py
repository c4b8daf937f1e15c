"""Profiles: one pass per column, exact where promised, mergeable, compact on disk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.data import Profile, merge_profiles, profile
from mloop.data._sketch import KLL, DyadicHistogram, FrequentItems, HyperLogLog, hash_floats
from mloop.errors import InvalidData


def rank_error(values: np.ndarray, estimates: object, qs: object) -> float:
    """The largest distance from each q to the rank interval of its estimate (ties aware)."""
    ordered = np.sort(values)
    est, q = np.asarray(estimates, dtype=float), np.asarray(qs, dtype=float)
    lo = np.searchsorted(ordered, est, side="left") / ordered.size
    hi = np.searchsorted(ordered, est, side="right") / ordered.size
    return float(np.max(np.maximum(0.0, np.maximum(lo - q, q - hi))))


def mixed_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, n)
    x[rng.random(n) < 0.05] = np.nan
    cities = np.array(["Paris", "Lyon", "Nice", "Lille", "Nantes", "Brest"], dtype=object)
    return pd.DataFrame(
        {
            "x": x,
            "count": rng.poisson(7, n),
            "price": rng.lognormal(3, 1, n),
            "city": pd.Series(cities[rng.integers(0, cities.size, n)], dtype="str"),
            "flag": rng.random(n) < 0.3,
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s"),
        }
    )


# -- one profile ------------------------------------------------------------------------------


def test_numeric_statistics_match_numpy() -> None:
    df = mixed_frame(5000)
    p = profile(df)
    x = df["x"].to_numpy()
    finite = x[~np.isnan(x)]
    c = p["x"]
    assert (c.kind, c.count, c.nulls, c.n) == ("numeric", 5000, int(np.isnan(x).sum()), finite.size)
    assert c.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert c.variance == pytest.approx(finite.var(), rel=1e-10)
    assert (c.min, c.max) == (finite.min(), finite.max())
    assert c.quantile(0) == finite.min()
    assert c.quantile(1) == finite.max()
    assert p["count"].integer and p["count"].kind == "numeric"
    assert p.rows == 5000
    assert list(p) == list(df.columns)


def test_quantiles_are_within_the_documented_rank_error() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_t(3, 200_000)
    p = profile(pd.DataFrame({"x": x}))
    qs = np.linspace(0.01, 0.99, 99)
    assert rank_error(x, p["x"].quantile(qs.tolist()), qs) <= 0.0165


def test_categorical_boolean_and_datetime_columns() -> None:
    df = mixed_frame(3000)
    p = profile(df)
    city = p["city"]
    assert city.kind == "categorical"
    assert city.distinct == 6
    assert city.distinct_exact
    top = dict(city.top(6))
    assert top == df["city"].value_counts().to_dict()
    assert city.mean is None
    assert city.variance is None
    assert city.quantile(0.5) is None
    flag = p["flag"]
    assert flag.kind == "boolean"
    assert dict(flag.top()) == {"False": int((~df.flag).sum()), "True": int(df.flag.sum())}
    when = p["when"]
    assert when.kind == "datetime"
    ns = df["when"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    assert when.min == float(ns.min())
    assert when.max == float(ns.max())
    assert when.mean == pytest.approx(float(ns.mean()), rel=1e-12)


def test_mixed_types_are_profiled_as_strings_with_a_warning() -> None:
    df = pd.DataFrame({"m": pd.Series([1, "a", 2.5, None, "a", 1], dtype=object)})
    c = profile(df)["m"]
    assert c.kind == "categorical"
    assert c.nulls == 1
    assert dict(c.top()) == {"a": 2, "1": 2, "2.5": 1}
    assert any("mixed types" in w and "int" in w and "str" in w for w in c.warnings)


def test_numbers_in_an_object_column_are_numeric() -> None:
    c = profile(pd.DataFrame({"o": pd.Series([1, 2, None, 4], dtype=object)}))["o"]
    assert c.kind == "numeric"
    assert c.nulls == 1
    assert c.mean == pytest.approx(7 / 3)


def test_infinities_are_counted_apart() -> None:
    x = np.array([1.0, np.inf, 2.0, -np.inf, np.nan, 3.0])
    c = profile(pd.DataFrame({"x": x}))["x"]
    assert (c.count, c.nulls, c.n_inf, c.n) == (6, 1, 2, 3)
    assert c.mean == 2.0
    assert (c.min, c.max) == (1.0, 3.0)
    assert c.histogram is not None
    assert int(c.histogram.counts.sum()) == 3
    assert any("infinite" in w for w in c.warnings)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(np.full(10, np.nan), id="all-null"),
        pytest.param(np.array([], dtype=float), id="empty"),
        pytest.param(np.full(10, np.inf), id="all-infinite"),
    ],
)
def test_columns_without_values_give_valid_profiles(values: np.ndarray) -> None:
    c = profile(pd.DataFrame({"x": values}))["x"]
    assert c.n == 0
    assert c.mean is None
    assert c.variance is None
    assert c.min is None
    assert c.quantile(0.5) is None
    assert c.distinct == 0
    assert c.histogram is None
    json.dumps(c.summary())  # no NaN anywhere


def test_constant_and_single_value_columns() -> None:
    p = profile(pd.DataFrame({"k": np.full(50, 7.5), "one": [3.0] + [np.nan] * 49}))
    for name, v in (("k", 7.5), ("one", 3.0)):
        c = p[name]
        assert c.variance == 0.0
        assert c.std == 0.0
        assert c.quantile(0.5) == v
        assert c.distinct == 1
        assert c.histogram is not None
        assert int(c.histogram.counts.sum()) == c.n


def test_empty_table_and_all_null_strings() -> None:
    p = profile(pd.DataFrame({"a": pd.Series([], dtype=float), "s": pd.Series([], dtype=object)}))
    assert p.rows == 0
    assert p["s"].distinct == 0
    q = profile(pd.DataFrame({"s": [None, None]}))
    assert (q["s"].count, q["s"].nulls, q["s"].n) == (2, 2, 0)


def test_pyarrow_table_gives_the_same_profile_as_pandas() -> None:
    df = mixed_frame(2000)
    a, b = profile(df), profile(pa.Table.from_pandas(df, preserve_index=False))
    for name in df.columns:
        ca, cb = a[name], b[name]
        assert (ca.kind, ca.count, ca.nulls, ca.n, ca.distinct) == (
            cb.kind,
            cb.count,
            cb.nulls,
            cb.n,
            cb.distinct,
        ), name
        if ca.mean is not None:
            assert ca.mean == pytest.approx(cb.mean, rel=1e-12)
        assert ca.top(3) == cb.top(3)


def test_columns_argument_and_bad_input() -> None:
    df = mixed_frame(100)
    assert list(profile(df, columns=["city", "x"])) == ["city", "x"]
    with pytest.raises(InvalidData, match="nope"):
        profile(df, columns=["nope"])
    with pytest.raises(InvalidData, match="DataFrame"):
        profile([1, 2, 3])
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidData, match="duplicate"):
        profile(dup)


def test_high_cardinality_is_estimated() -> None:
    ids = pd.Series([f"user-{i}" for i in range(60_000)], dtype="str")
    c = profile(pd.DataFrame({"id": ids}))["id"]
    assert not c.distinct_exact
    assert abs(c.distinct - 60_000) / 60_000 < 0.05  # HLL p=12: 1.6% standard error
    assert c.frequencies is not None
    assert c.frequencies.keys.size <= 256


# -- merging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_merge_equals_profile_of_concatenation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = mixed_frame(int(rng.integers(200, 4000)), seed)
    if seed % 2:
        df.loc[df.index[:7], "x"] = np.inf
    cuts = np.sort(rng.choice(np.arange(1, len(df)), size=int(rng.integers(1, 6)), replace=False))
    chunks = np.split(np.arange(len(df)), cuts)
    parts = [profile(df.iloc[idx]) for idx in chunks]
    merged = merge_profiles(*parts)
    whole = profile(df)
    assert merged.rows == whole.rows
    for name in df.columns:
        m, w = merged[name], whole[name]
        assert (m.kind, m.count, m.nulls, m.n_inf, m.n) == (w.kind, w.count, w.nulls, w.n_inf, w.n)
        assert m.distinct == w.distinct
        assert m.hll is not None
        assert w.hll is not None
        np.testing.assert_array_equal(m.hll.registers, w.hll.registers)
        if m.is_numeric:
            assert (m.min, m.max) == (w.min, w.max)
            assert m.mean == pytest.approx(w.mean, rel=1e-12, abs=1e-12)
            assert m.variance == pytest.approx(w.variance, rel=1e-9)
            assert m.histogram is not None
            assert w.histogram is not None
            assert (m.histogram.e, m.histogram.start) == (w.histogram.e, w.histogram.start)
            np.testing.assert_array_equal(m.histogram.counts, w.histogram.counts)
            qs = [0.1, 0.25, 0.5, 0.75, 0.9]
            col = df[name]
            if name == "when":
                truth = col.to_numpy(dtype="datetime64[ns]").view(np.int64).astype(float)
            else:
                truth = col.to_numpy(dtype=float, na_value=np.nan)
            truth = truth[np.isfinite(truth)]
            assert rank_error(truth, m.quantile(qs), qs) <= 0.0165, name
        else:
            assert m.top(10) == w.top(10)  # few distinct values: exact


def test_merge_handles_missing_columns_and_kind_conflicts() -> None:
    a = profile(pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}))
    b = profile(pd.DataFrame({"x": [3.0]}))
    m = merge_profiles(a, b)
    assert m["x"].n == 3
    assert m["y"].count == 2
    assert any("missing from 1 of 2" in w for w in m["y"].warnings)
    c = profile(pd.DataFrame({"x": ["not", "numbers"]}))
    with pytest.raises(InvalidData, match=r"categorical and numeric"):
        merge_profiles(a, c)
    with pytest.raises(InvalidData, match="at least one"):
        merge_profiles()
    assert merge_profiles([a, b]).rows == 3  # a list works too


@pytest.mark.slow
def test_merging_100_chunk_profiles_counts_every_row() -> None:
    # How long the merge takes is a benchmark: benchmarks/drift.py, "merge 100 profiles".
    rng = np.random.default_rng(1)
    base = []
    for i in range(4):  # 4 distinct chunks, each read back 25 times: merging costs the same
        cols: dict[str, object] = {}
        for j in range(30):
            cols[f"n{j}"] = rng.normal(j, 1 + i / 10, 2000)
        for j in range(20):
            cols[f"c{j}"] = rng.choice([f"v{k}" for k in range(5 + j)], 2000)
        base.append(profile(pd.DataFrame(cols)).to_bytes())
    chunks = [Profile.from_bytes(base[i % 4]) for i in range(100)]
    merged = merge_profiles(*chunks)
    assert merged.rows == 200_000
    assert merged["n3"].n == 200_000
    assert merged["c7"].count == 200_000


# -- serialization ----------------------------------------------------------------------------


def test_bytes_and_dict_round_trips() -> None:
    p = profile(mixed_frame(3000))
    blob = p.to_bytes()
    q = Profile.from_bytes(blob)
    assert q.to_dict() == p.to_dict()
    d = json.loads(json.dumps(p.to_dict()))
    r = Profile.from_dict(d)
    assert r.to_dict() == p.to_dict()
    assert r["x"].quantile(0.5) == p["x"].quantile(0.5)
    assert merge_profiles(q, r).rows == 6000


def test_a_50_column_profile_is_small() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    cols: dict[str, object] = {f"n{j}": rng.normal(size=n) for j in range(30)}
    cols.update({f"c{j}": rng.choice([f"v{k}" for k in range(50)], n) for j in range(20)})
    blob = profile(pd.DataFrame(cols)).to_bytes()
    print(f"50-column profile of {n:,} rows: {len(blob):,} bytes")
    assert len(blob) < 200_000


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"not a profile", "not an mloop profile"),
        (b"MLOOPPRF\x01garbage", "damaged"),
        (b"MLOOPPRF\x63", "newer"),
    ],
)
def test_bad_bytes_are_refused(blob: bytes, match: str) -> None:
    with pytest.raises(InvalidData, match=match):
        Profile.from_bytes(blob)


def test_truncated_bytes_are_refused() -> None:
    blob = profile(mixed_frame(500)).to_bytes()
    with pytest.raises(InvalidData):
        Profile.from_bytes(blob[: len(blob) // 2])


# -- the sketches themselves ------------------------------------------------------------------


def test_kll_streamed_in_pieces_stays_within_bound() -> None:
    rng = np.random.default_rng(5)
    x = rng.exponential(size=100_000)
    sketches = []
    for part in np.array_split(x, 37):
        s = KLL(200)
        s.update(part)
        sketches.append(s)
    merged = KLL.merge(sketches)
    assert merged.n == x.size
    assert merged.retained < 1000
    qs = np.linspace(0.02, 0.98, 49)
    assert rank_error(x, merged.quantiles(qs), qs) <= 0.0165
    again = KLL.from_state(merged.to_state())
    np.testing.assert_array_equal(again.quantiles(qs), merged.quantiles(qs))


def test_misra_gries_bound() -> None:
    rng = np.random.default_rng(2)
    keys = np.array([f"k{i}" for i in range(2000)], dtype=object)
    counts = (rng.zipf(1.5, 2000) * 10).astype(np.int64)
    parts = []
    for chunk in np.array_split(np.arange(2000), 5):
        parts.append(FrequentItems.from_counts(keys[chunk], counts[chunk], capacity=64))
    merged = FrequentItems.merge(parts)
    assert not merged.exact
    truth = dict(zip(keys, counts, strict=True))
    bound = merged.n / 65
    for k, est in zip(merged.keys, merged.counts, strict=True):
        assert truth[k] - bound <= est <= truth[k]


def test_hyperloglog_merges_across_precisions() -> None:
    h = hash_floats(np.arange(50_000, dtype=float))
    fine, coarse = HyperLogLog(14), HyperLogLog(12)
    fine.update(h[:25_000])
    coarse.update(h[25_000:])
    both = HyperLogLog(12)
    both.update(h)
    merged = HyperLogLog.merge([fine, coarse])
    assert merged.p == 12
    np.testing.assert_array_equal(merged.registers, both.registers)


def test_dyadic_histograms_merge_exactly() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(0, 1, 1000), rng.normal(50, 0.01, 1000)
    ha = DyadicHistogram.build(a, a.min(), a.max())
    hb = DyadicHistogram.build(b, b.min(), b.max())
    assert ha is not None
    assert hb is not None
    both = np.concatenate([a, b])
    whole = DyadicHistogram.build(both, both.min(), both.max())
    merged = DyadicHistogram.merge([ha, hb])
    assert whole is not None
    assert (merged.e, merged.start) == (whole.e, whole.start)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    assert merged.counts.size <= 64
    edges = merged.edges
    assert edges[0] <= both.min()
    assert edges[-1] > both.max()
