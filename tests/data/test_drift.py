"""Drift: Evidently-compatible defaults and values, every method, profiles as references, bad
input, the multivariate test."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from mloop.data import DriftResult, drift, profile
from mloop.data._drift_dists import W_BINS
from mloop.data._drift_methods import w1_sorted, w1_weighted
from mloop.errors import InvalidArgument, InvalidData


def frames(n_ref: int, n_cur: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Columns s_* shifted in current, k_* kept."""
    rng = np.random.default_rng(seed)
    cats = np.array(list("abcdef"), dtype=object)
    p0 = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    p1 = np.array([0.1, 0.1, 0.2, 0.2, 0.2, 0.2])

    def make(n: int, shifted: bool) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "s_num": rng.normal(1.0 if shifted else 0.0, 1, n),
                "k_num": rng.normal(5, 2, n),
                "s_cat": cats[rng.choice(6, n, p=p1 if shifted else p0)],
                "k_cat": cats[rng.choice(6, n, p=p0)],
                "s_bin": rng.random(n) < (0.6 if shifted else 0.3),
                "k_int": rng.integers(0, 1000, n),
            }
        )

    return make(n_ref, False), make(n_cur, True)


# -- Evidently's defaults and formulas ---------------------------------------------------------


def evidently_binned(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evidently 0.7's get_binned_data for a numeric column with > 20 reference values."""
    bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    return np.histogram(ref, bins)[0] / ref.size, np.histogram(cur, bins)[0] / cur.size


def test_small_reference_uses_hypothesis_tests() -> None:
    ref, cur = frames(800, 700)
    r = drift(ref, cur)
    assert r["s_num"].method == "ks"
    assert r["s_num"].p_value == pytest.approx(stats.ks_2samp(ref.s_num, cur.s_num).pvalue)
    assert r["k_num"].p_value == pytest.approx(stats.ks_2samp(ref.k_num, cur.k_num).pvalue)
    assert r["s_cat"].method == "chisquare"
    rc = ref.s_cat.value_counts()
    cc = cur.s_cat.value_counts().reindex(rc.index, fill_value=0)
    expected = stats.chisquare(cc.to_numpy(), rc.to_numpy() * len(cur) / len(ref)).pvalue
    assert r["s_cat"].p_value == pytest.approx(expected)
    assert r["s_bin"].method == "ztest"
    assert r["s_bin"].kind == "boolean"
    p1, p2 = ref.s_bin.mean(), cur.s_bin.mean()
    pooled = (ref.s_bin.sum() + cur.s_bin.sum()) / (len(ref) + len(cur))
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / len(ref) + 1 / len(cur)))
    assert abs(r["s_bin"].statistic) == pytest.approx(abs(z))
    assert r["s_bin"].p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert set(r.drifted_columns) == {"s_num", "s_cat", "s_bin"}
    assert r["k_int"].method == "ks"  # integers with many values are numeric


def test_large_reference_uses_distances() -> None:
    ref, cur = frames(3000, 2000)
    r = drift(ref, cur)
    for name in ("s_num", "k_num", "k_int"):
        c = r[name]
        assert c.method == "wasserstein"
        a, b = ref[name].to_numpy(float), cur[name].to_numpy(float)
        expected = stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)
        assert c.statistic == pytest.approx(expected, rel=1e-9)
        assert c.threshold == 0.1
        assert c.p_value is None
    for name in ("s_cat", "k_cat", "s_bin"):
        c = r[name]
        assert c.method == "jensenshannon"
        rc = ref[name].value_counts()
        cc = cur[name].value_counts().reindex(rc.index, fill_value=0)
        expected = distance.jensenshannon(rc / len(ref), cc / len(cur))
        assert c.statistic == pytest.approx(expected, rel=1e-9)
    assert set(r.drifted_columns) == {"s_num", "s_cat", "s_bin"}
    assert r.dataset_drift  # 3 of 6 >= 0.5
    assert r.drifted_share == 0.5


@pytest.mark.parametrize(
    ("values", "n_ref", "method"),
    [
        ([0.0, 1.0], 500, "ztest"),
        ([0.0, 1.0, 2.0, 3.0], 500, "chisquare"),
        ([0.5, 1.5, 2.5], 500, "chisquare"),
        ([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 500, "ks"),
        ([0.5, 1.5, 2.5], 5000, "jensenshannon"),
        ([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 5000, "wasserstein"),
    ],
)
def test_numeric_defaults_follow_the_number_of_values(
    values: list[float], n_ref: int, method: str
) -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.choice(values, n_ref)})
    cur = pd.DataFrame({"x": rng.choice(values, 400)})
    assert drift(ref, cur)["x"].method == method


def test_integer_columns_with_few_values_are_categorical() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"i": rng.integers(0, 8, 5000)})
    cur = pd.DataFrame({"i": rng.integers(0, 8, 5000)})
    c = drift(ref, cur)["i"]
    assert c.method == "jensenshannon"
    assert any("tested as categorical" in n for n in c.notes)
    assert not c.drifted


def test_psi_and_hellinger_match_their_definitions() -> None:
    ref, cur = frames(3000, 3000)
    r = drift(ref, cur, method="psi")
    a, b = ref.s_num.to_numpy(), cur.s_num.to_numpy()
    pr, pc = evidently_binned(a, b)

    def fill(p: np.ndarray) -> np.ndarray:
        low = p[p != 0].min()
        return np.where(p == 0, low / 10**6 if low <= 0.0001 else 0.0001, p)

    pr, pc = fill(pr), fill(pc)
    assert r["s_num"].statistic == pytest.approx(np.sum((pr - pc) * np.log(pr / pc)), rel=1e-6)
    h = drift(ref, cur, method="hellinger")["s_cat"]
    p = ref.s_cat.value_counts(normalize=True)
    q = cur.s_cat.value_counts(normalize=True).reindex(p.index, fill_value=0)
    assert h.statistic == pytest.approx(math.sqrt(1 - np.sum(np.sqrt(p * q))), rel=1e-9)
    js = drift(ref, cur, method="jensenshannon")["s_num"]
    assert js.statistic == pytest.approx(distance.jensenshannon(*evidently_binned(a, b)), rel=1e-6)


@pytest.mark.parametrize(
    "method", ["ks", "wasserstein", "psi", "jensenshannon", "chisquare", "hellinger"]
)
def test_every_method_flags_a_shift_and_passes_the_same_distribution(method: str) -> None:
    ref, cur = frames(2000, 2000, seed=4)
    r = drift(ref, cur, method=method, columns=["s_num", "k_num"])
    assert r["s_num"].method == method
    assert r["s_num"].drifted
    assert not r["k_num"].drifted
    if method not in ("ks", "wasserstein"):
        rc = drift(ref, cur, method=method, columns=["s_cat", "k_cat"])
        assert rc["s_cat"].drifted
        assert not rc["k_cat"].drifted


def test_methods_and_thresholds_per_column() -> None:
    ref, cur = frames(2000, 2000)
    r = drift(
        ref,
        cur,
        method={"s_num": "psi", "s_cat": "chisquare"},
        threshold={"s_num": 50.0},
    )
    assert (r["s_num"].method, r["s_num"].threshold, r["s_num"].drifted) == ("psi", 50.0, False)
    assert r["s_cat"].method == "chisquare"
    assert r["k_num"].method == "wasserstein"  # default for the rest
    assert r.methods["psi"] == ["s_num"]
    r2 = drift(ref, cur, threshold=10.0)
    assert not r2.dataset_drift


def test_ks_refuses_categorical_columns_with_a_reason() -> None:
    ref, cur = frames(300, 300)
    r = drift(ref, cur, method="ks")
    c = r["s_cat"]
    assert c.status == "skipped"
    assert "compares numbers" in (c.reason or "")
    z = drift(ref, cur, method="ztest")["s_cat"]
    assert z.status == "skipped"
    assert "at most 2 distinct values" in (z.reason or "")


def test_share_decides_dataset_drift() -> None:
    ref, cur = frames(2000, 2000)
    assert drift(ref, cur, share=0.5).dataset_drift
    assert not drift(ref, cur, share=0.51).dataset_drift
    with pytest.raises(InvalidArgument, match="share"):
        drift(ref, cur, share=0)


def test_unknown_method_and_bad_threshold() -> None:
    ref, cur = frames(100, 100)
    with pytest.raises(InvalidArgument, match="unknown drift method 'kolmo'"):
        drift(ref, cur, method="kolmo")
    with pytest.raises(InvalidArgument, match="positive"):
        drift(ref, cur, threshold=-1)
    with pytest.raises(InvalidArgument, match="unknown column"):
        drift(ref, cur, method={"nope": "ks"})


# -- exactness and the binned fast path --------------------------------------------------------


@pytest.mark.parametrize(("n", "m"), [(1, 1), (3, 8), (100, 37), (1000, 1000), (997, 2003)])
def test_w1_matches_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    a, b = np.sort(rng.normal(size=n)), np.sort(rng.exponential(size=m))
    expected = stats.wasserstein_distance(a, b)
    assert w1_sorted(a, b) == pytest.approx(expected, rel=1e-10)
    wa, wb = rng.random(n) + 0.1, rng.random(m) + 0.1
    assert w1_weighted(a, wa, b, wb) == pytest.approx(
        stats.wasserstein_distance(a, b, wa, wb), rel=1e-10
    )


def test_large_wasserstein_is_binned_within_its_bound_and_exact_near_the_threshold() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(size=150_000)
    b = rng.normal(0.1, size=150_000)
    ref, cur = pd.DataFrame({"x": a}), pd.DataFrame({"x": b})
    exact = stats.wasserstein_distance(a, b) / np.std(a)
    binned = drift(ref, cur)["x"]
    bin_width = (max(a.max(), b.max()) - min(a.min(), b.min())) / W_BINS / np.std(a)
    assert binned.statistic == pytest.approx(exact, abs=2 * bin_width)
    assert binned.drifted == (exact >= 0.1)
    # A threshold inside the error bound makes it compute the exact value: mloop's own
    # statistic, which matches scipy's to rounding (not to the last bit).
    assert 1e-6 * exact < bin_width
    below = drift(ref, cur, threshold=float(exact) * (1 - 1e-6))["x"]
    assert below.statistic == pytest.approx(exact, rel=1e-9)
    assert below.drifted
    above = drift(ref, cur, threshold=float(exact) * (1 + 1e-6))["x"]
    assert above.statistic == pytest.approx(exact, rel=1e-9)
    assert not above.drifted


# -- profiles as references --------------------------------------------------------------------


@pytest.mark.parametrize("n_ref", [600, 5000])
def test_a_profile_reference_gives_the_same_verdicts(n_ref: int) -> None:
    ref, cur = frames(n_ref, 3000, seed=11)
    from_table = drift(ref, cur)
    from_profile = drift(profile(ref), cur)
    assert from_profile.reference_source == "profile"
    assert from_profile.drifted_columns == from_table.drifted_columns
    for c in from_table.columns:
        p = from_profile[c.name]
        assert p.method == c.method
        if c.method in ("jensenshannon", "chisquare", "ztest"):  # exact counts in the profile
            assert p.statistic == pytest.approx(c.statistic, rel=1e-9)
        elif c.method == "wasserstein":
            assert p.statistic == pytest.approx(c.statistic, abs=0.005)
        elif c.method == "ks":
            assert p.statistic == pytest.approx(c.statistic, abs=0.01)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(lambda rng, n: rng.lognormal(1, 1, n), id="heavy-tail"),
        pytest.param(lambda rng, n: rng.poisson(30, n), id="integers"),
        pytest.param(lambda rng, n: rng.uniform(0, 1, n), id="uniform"),
    ],
)
def test_wasserstein_from_a_profile_is_close_to_exact(values: object) -> None:
    rng = np.random.default_rng(8)
    make = values  # a callable (rng, n) -> array
    ref = pd.DataFrame({"x": make(rng, 300_000)})  # type: ignore[operator]
    cur = pd.DataFrame({"x": make(rng, 300_000)})  # type: ignore[operator]
    a, b = ref["x"].to_numpy(float), cur["x"].to_numpy(float)
    exact = stats.wasserstein_distance(a, b) / np.std(a)
    assert drift(ref, cur)["x"].statistic == pytest.approx(exact, abs=1e-3)
    assert drift(profile(ref), cur)["x"].statistic == pytest.approx(exact, abs=0.005)


@pytest.mark.parametrize("method", ["psi", "jensenshannon", "hellinger", "chisquare", "ks"])
def test_every_method_works_from_a_profile(method: str) -> None:
    ref, cur = frames(4000, 4000, seed=5)
    r = drift(profile(ref), cur, method=method, columns=["s_num", "k_num"])
    assert r["s_num"].drifted
    assert not r["k_num"].drifted
    both = drift(profile(ref), profile(cur), method=method, columns=["s_num", "k_num"])
    assert both["s_num"].drifted
    assert not both["k_num"].drifted


# -- bad input ---------------------------------------------------------------------------------


def test_empty_tables_cannot_be_compared() -> None:
    ref, _ = frames(100, 100)
    with pytest.raises(InvalidData, match="no column could be compared"):
        drift(ref.iloc[:0], ref)
    with pytest.raises(InvalidData, match="no rows in current"):
        drift(ref, ref.iloc[:0])
    with pytest.raises(InvalidData, match="no columns"):
        drift(pd.DataFrame(), pd.DataFrame())
    with pytest.raises(InvalidData, match="DataFrame"):
        drift({"a": [1]}, ref)


def test_bad_columns_are_skipped_with_reasons() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    ref = pd.DataFrame(
        {
            "ok": rng.normal(size=n),
            "nulls": np.full(n, np.nan),
            "const": np.full(n, 3.0),
            "gone": rng.normal(size=n),
            "kind": rng.normal(size=n),
            "infs": np.where(rng.random(n) < 0.1, np.inf, rng.normal(size=n)),
            "allinf": np.full(n, -np.inf),
            "mixed": pd.Series(np.array([1, "a", 2.5, None] * (n // 4), dtype=object)),
        }
    )
    cur = pd.DataFrame(
        {
            "ok": rng.normal(size=n),
            "nulls": rng.normal(size=n),
            "const": np.full(n, 3.0),
            "kind": rng.choice(["x", "y"], n),
            "infs": rng.normal(size=n),
            "allinf": rng.normal(size=n),
            "mixed": pd.Series(np.array([1, "a", 2.5, "b"] * (n // 4), dtype=object)),
            "new": rng.normal(size=n),
        }
    )
    r = drift(ref, cur)
    reasons = {c.name: c.reason for c in r.skipped}
    assert reasons == {
        "nulls": "no values in reference (all 2,000 null)",
        "gone": "missing in current (present in the reference)",
        "kind": "kind changed: numeric in the reference, categorical in current",
        "allinf": "no finite values in reference (all 2,000 non-null are infinite)",
        "new": "not in the reference (new in current)",
    }
    const = r["const"]
    assert const.tested
    assert not const.drifted
    assert const.statistic == 0.0
    assert const.method == "jensenshannon"
    assert "constant in reference (3)" in const.notes
    infs = r["infs"]
    assert infs.tested
    assert any("infinite value(s) in reference left out" in n for n in infs.notes)
    mixed = r["mixed"]
    assert mixed.tested
    assert mixed.kind == "categorical"
    assert any("mixed types" in n for n in mixed.notes)
    for c in r.columns:  # never a NaN
        assert c.statistic is None or not math.isnan(c.statistic)
        assert c.p_value is None or not math.isnan(c.p_value)
    json.loads(r.to_json())


def test_constant_columns_on_both_sides() -> None:
    ref = pd.DataFrame({"c": np.full(500, 2.0), "x": np.arange(500.0)})
    same = drift(ref, ref.copy())
    assert not same["c"].drifted
    moved = drift(ref, ref.assign(c=5.0))
    assert moved["c"].drifted


def test_new_categories_make_chisquare_infinite_not_nan() -> None:
    ref = pd.DataFrame({"c": ["a", "b", "c"] * 100})
    cur = pd.DataFrame({"c": ["a", "b", "d"] * 100})
    c = drift(ref, cur)["c"]
    assert c.method == "chisquare"
    assert c.statistic == math.inf
    assert c.p_value == 0.0
    assert c.drifted
    assert any("never occur in the reference" in n for n in c.notes)
    assert json.loads(drift(ref, cur).to_json())["columns"][0]["statistic"] == "Infinity"


def test_identifiers_are_skipped_and_huge_cardinality_is_capped() -> None:
    n = 200_000
    ids = pd.Series([f"id{i}" for i in range(n)], dtype="str")
    ref = pd.DataFrame({"id": ids, "x": np.arange(n, dtype=float)})
    cur = pd.DataFrame(
        {"id": ids.iloc[::-1].reset_index(drop=True), "x": np.arange(n, dtype=float)}
    )
    r = drift(ref, cur)
    assert r["id"].status == "skipped"
    assert "identifier" in (r["id"].reason or "")
    capped = drift(ref, cur, method={"id": "jensenshannon"}, max_categories=1000)["id"]
    assert capped.tested
    assert any("capped at the 1,000 most frequent" in n for n in capped.notes)
    assert not math.isnan(capped.statistic or 0.0)


def test_pyarrow_tables_and_columns_argument() -> None:
    ref, cur = frames(1500, 1500)
    r = drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur), columns=["s_num", "k_cat"])
    assert [c.name for c in r.columns] == ["s_num", "k_cat"]
    same = drift(ref, cur, columns=["s_num", "k_cat"])
    assert r["s_num"].statistic == pytest.approx(same["s_num"].statistic, rel=1e-12)
    with pytest.raises(InvalidData, match="neither table: zzz"):
        drift(ref, cur, columns=["zzz"])


# -- multivariate ------------------------------------------------------------------------------


def correlated(n: int, rho: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    x = z[:, 0]
    y = rho * x + math.sqrt(1 - rho**2) * z[:, 1]
    return pd.DataFrame({"x": x, "y": y, "u": z[:, 2], "v": z[:, 3]})


def test_pca_catches_a_correlation_flip_that_per_column_tests_miss() -> None:
    ref, cur = correlated(5000, 0.9, 1), correlated(5000, -0.9, 2)
    r = drift(ref, cur, multivariate=True)
    assert r.drifted_columns == []  # every marginal is unchanged
    for method in ("ks", "psi", "jensenshannon", "hellinger"):
        assert drift(ref, cur, method=method).drifted_columns == []
    mv = r.multivariate
    assert mv is not None
    assert mv.status == "tested"
    assert mv.drifted
    assert mv.statistic is not None
    assert mv.threshold is not None
    assert mv.statistic > 2 * mv.threshold
    calm = drift(ref, correlated(5000, 0.9, 3), multivariate=True).multivariate
    assert calm is not None
    assert not calm.drifted
    assert calm.statistic == pytest.approx(1.0, abs=0.1)


def test_pca_needs_tables_and_two_columns() -> None:
    ref, cur = correlated(500, 0.5, 1), correlated(500, 0.5, 2)
    mv = drift(profile(ref), cur, multivariate=True).multivariate
    assert mv is not None
    assert mv.status == "skipped"
    assert "profile" in (mv.reason or "")
    one = drift(ref[["x"]], cur[["x"]], multivariate=True).multivariate
    assert one is not None
    assert one.status == "skipped"


def test_pca_reads_times_durations_and_arrow_tables() -> None:
    ref, cur = correlated(3000, 0.9, 1), correlated(3000, -0.9, 2)
    epoch = pd.Timestamp("2030-01-01", tz="Europe/Paris")
    for t in (ref, cur):  # the same signal, as a time and as a duration
        t["when"] = epoch + pd.to_timedelta(t.pop("u") * 3600, unit="s")
        t["took"] = pd.to_timedelta(t.pop("v"), unit="s")
    frames = drift(ref, cur, multivariate=True).multivariate
    tables = drift(pa.table(ref), pa.table(cur), multivariate=True).multivariate
    assert frames is not None and tables is not None
    assert set(frames.columns) == {"x", "y", "when", "took"}
    assert frames.drifted and tables.drifted
    assert tables.statistic == pytest.approx(frames.statistic, rel=1e-6)


def test_pca_leaves_out_constant_columns_and_says_so() -> None:
    ref, cur = correlated(2000, 0.9, 1), correlated(2000, -0.9, 2)
    ref["flat"] = cur["flat"] = 7.0
    ref["gone"] = cur["gone"] = np.nan
    mv = drift(ref, cur, multivariate=True).multivariate
    assert mv is not None and mv.status == "tested"
    assert "flat" not in mv.columns and "gone" not in mv.columns
    assert "left out (constant or empty in the reference): " in mv.notes[0]
    assert {"flat", "gone"} <= set(mv.notes[0].split(": ", 1)[1].split(", "))
    as_dict = mv.to_dict()
    assert as_dict["status"] == "tested"
    assert as_dict["drifted"] is True
    assert as_dict["n_components"] == mv.n_components >= 1


@pytest.mark.parametrize(
    ("ref", "cur", "reason"),
    [
        (
            pd.DataFrame({"x": np.arange(50.0), "c": 1.0}),
            pd.DataFrame({"x": np.arange(50.0), "c": 1.0}),
            "needs at least 2 non-constant numeric columns in the reference",
        ),
        (
            correlated(10, 0.5, 1),
            correlated(10, 0.5, 2),
            "needs at least 20 reference rows and 5 current rows",
        ),
    ],
)
def test_pca_skips_with_a_reason(ref: pd.DataFrame, cur: pd.DataFrame, reason: str) -> None:
    mv = drift(ref, cur, multivariate=True).multivariate
    assert mv is not None
    assert (mv.status, mv.reason, mv.drifted) == ("skipped", reason, False)


def test_pca_on_an_exactly_reconstructed_reference() -> None:
    # y = 2x: one component explains the reference exactly; a current off that line is drift.
    x = np.random.default_rng(0).normal(size=400)
    ref = pd.DataFrame({"x": x, "y": 2 * x})
    same = drift(ref, ref.iloc[::-1].reset_index(drop=True), multivariate=True).multivariate
    off = drift(ref, pd.DataFrame({"x": x, "y": -2 * x}), multivariate=True).multivariate
    assert same is not None and off is not None
    assert "the reference is reconstructed exactly: compared absolute errors" in off.notes
    assert (same.statistic, same.drifted) == (1.0, False)
    assert off.statistic == math.inf and off.drifted


# -- the result --------------------------------------------------------------------------------


def test_result_orders_drifted_first_and_serializes() -> None:
    ref, cur = frames(2000, 2000)
    r = drift(ref, cur)
    assert isinstance(r, DriftResult)
    names = [c.name for c in r.columns]
    assert names[:3] == ["s_num", "s_cat", "s_bin"]
    d = json.loads(r.to_json())
    assert d["dataset_drift"] is True
    assert d["n_drifted"] == 3
    assert d["drifted_columns"] == ["s_num", "s_cat", "s_bin"]
    assert d["columns"][0]["plot"]["kind"] == "histogram"
    assert "numeric, reference > 1000 values" in d["defaults"]
    assert r["s_cat"].plot is not None
    assert sum(r["s_cat"].plot.reference) == pytest.approx(1.0)
    with pytest.raises(KeyError):
        r.column("zzz")


# -- performance -------------------------------------------------------------------------------


@pytest.mark.slow
def test_fifty_columns_past_the_exact_limit_flag_exactly_the_shifted_ones() -> None:
    # 2 x 120,000 values per column: past EXACT_W_LIMIT, so Wasserstein takes the binned path.
    # (How fast 1,000,000 x 50 goes is a benchmark: benchmarks/drift.py.)
    rng = np.random.default_rng(0)
    n = 120_000

    def table(shift: float) -> pd.DataFrame:
        cols: dict[str, object] = {f"n{j}": rng.normal(shift * (j % 2), 1, n) for j in range(30)}
        for j in range(20):
            cats = np.array([f"v{k}" for k in range(5 + j)], dtype=object)
            cols[f"c{j}"] = pd.array(cats[rng.integers(0, cats.size, n)], dtype="str")
        return pd.DataFrame(cols)

    ref, cur = table(0.0), table(0.5)
    r = drift(ref, cur)
    assert sorted(r.drifted_columns) == sorted(f"n{j}" for j in range(1, 30, 2))
    assert {c.method for c in r.tested} == {"wasserstein", "jensenshannon"}
