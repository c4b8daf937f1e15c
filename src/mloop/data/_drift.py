"""Drift between a reference and a current table: ``drift(reference, current)``.

Each column is tested on its own, with Evidently 0.7's defaults unless a method is named:

=========================  =================================  ===================================
column                     reference of <= 1,000 values       reference of > 1,000 values
=========================  =================================  ===================================
numeric, > 5 values        ``ks``: p <= 0.05                  ``wasserstein`` / ref std >= 0.1
numeric, 3 to 5 values     ``chisquare``: p < 0.05            ``jensenshannon`` >= 0.1
numeric, <= 2 values       ``ztest``: p < 0.05                ``jensenshannon`` >= 0.1
categorical, > 2 values    ``chisquare``: p < 0.05            ``jensenshannon`` >= 0.1
categorical, <= 2 values   ``ztest``: p < 0.05                ``jensenshannon`` >= 0.1
=========================  =================================  ===================================

"Values" counts the distinct values of both sides together; the reference's size counts its
non-null finite values. An integer column with at most 10 distinct values in current is tested
as categorical, and boolean columns always are, as Evidently infers them. Datetimes are tested
as numbers (nanoseconds). The dataset drifts when the share of drifted columns among the tested
ones reaches ``share`` (0.5).

The reference may be a stored :class:`~mloop.data.Profile` instead of a table: every method then
answers from the profile's sketches (see :mod:`mloop.data._drift_methods` for the error each
approximation carries), so training data need not be kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mloop.data._columns import (
    Column,
    CountsColumn,
    NumericColumn,
    column_names,
    n_rows,
    read_columns,
)
from mloop.data._drift_dists import CountsDist, Dist, NumericDist
from mloop.data._drift_methods import (
    PLOT_BINS,
    PLOT_CATEGORIES,
    align_counts,
    dyadic_pair,
    get_method,
)
from mloop.data._drift_multivariate import MultivariateDrift, pca_drift, skipped
from mloop.data._drift_report import ColumnDrift, DriftResult, Plot, SideSummary
from mloop.data._idlike import id_like_column_reason
from mloop.data._profile import Profile
from mloop.errors import InvalidArgument, InvalidData

__all__ = ["ColumnDrift", "DriftResult", "MultivariateDrift", "Plot", "SideSummary", "drift"]

SMALL_REFERENCE = 1000  # Evidently: at most this many reference values -> hypothesis tests
INTEGER_AS_CATEGORICAL = 10  # Evidently: an int column with at most this many values
MAX_CATEGORIES = 10_000
ID_LIKE_SHARE = 0.5  # Evidently reads a string column with more distinct values as text

# -- the entry point --------------------------------------------------------------------------

Source = Profile | Any  # a Profile, or a pandas DataFrame / pyarrow Table


def drift(
    reference: Source,
    current: Source,
    *,
    method: str | Mapping[str, str] | None = None,
    threshold: float | Mapping[str, float] | None = None,
    columns: Sequence[str] | None = None,
    share: float = 0.5,
    multivariate: bool = False,
    max_categories: int = MAX_CATEGORIES,
) -> DriftResult:
    """Test each column of ``current`` for drift from ``reference``.

    Args:
        reference: a pandas DataFrame, a pyarrow Table, or a :class:`~mloop.data.Profile`.
        current: a DataFrame or Table (or a Profile).
        method: one of ``ks``, ``wasserstein``, ``psi``, ``jensenshannon``, ``chisquare``,
            ``hellinger``, ``ztest`` for every column, or ``{column: method}`` for some (the
            rest get the defaults).
        threshold: the method's threshold for every column, or ``{column: threshold}``
            (default: 0.05 for p-values, 0.1 for distances).
        columns: the columns to test (default: every column of either side; a column on one
            side only is reported as skipped).
        share: the dataset drifts when at least this share of tested columns drift.
        multivariate: also run the PCA reconstruction-error test over the numeric columns
            (needs a reference table).
        max_categories: categorical columns with more distinct values keep the most frequent
            ones and pool the rest as "other".

    Returns:
        A :class:`DriftResult`.

    Raises:
        InvalidData: a side is not a table or profile, a named column exists on neither side,
            or no column could be tested (the message gives each column's reason).
        InvalidArgument: an unknown method or a threshold or share out of range.

    Example::

        >>> r = drift(train_df, live_df, method={"age": "psi"})
        >>> r.dataset_drift, r["age"].statistic
    """
    t0 = time.perf_counter()
    if not 0 < share <= 1:
        raise InvalidArgument(f"share must be in (0, 1], got {share}")
    if max_categories < 2:
        raise InvalidArgument(f"max_categories must be at least 2, got {max_categories}")
    ref_profile = isinstance(reference, Profile)
    ref_names = reference.column_names if ref_profile else column_names(reference)
    cur_names = current.column_names if isinstance(current, Profile) else column_names(current)
    ref_rows = reference.rows if ref_profile else n_rows(reference)
    cur_rows = current.rows if isinstance(current, Profile) else n_rows(current)
    if columns is not None:
        wanted = [str(c) for c in columns]
        unknown = [c for c in wanted if c not in ref_names and c not in cur_names]
        if unknown:
            raise InvalidData(f"column(s) in neither table: {', '.join(unknown)}")
    else:
        wanted = list(ref_names) + [n for n in cur_names if n not in set(ref_names)]
    if not wanted:
        raise InvalidData("nothing to compare: both tables have no columns")
    methods = _per_column(method, wanted, "method")
    thresholds = _per_column(threshold, wanted, "threshold")
    for m in methods.values():
        get_method(m)  # unknown names fail before any work
    for name, t in thresholds.items():
        if not (isinstance(t, int | float) and math.isfinite(t) and t > 0):
            raise InvalidArgument(f"threshold for {name!r} must be a positive number, got {t!r}")

    ref_set, cur_set = set(ref_names), set(cur_names)

    def one(name: str) -> ColumnDrift:
        if name not in cur_set:
            return _skipped_missing(
                name, reference, "missing in current (present in the reference)"
            )
        if name not in ref_set:
            return _skipped_missing(name, current, "not in the reference (new in current)")
        why = None if columns is not None else id_like_column_reason(reference, name)
        if why is not None:  # ids drift by construction; a column asked for is still tested
            return ColumnDrift(name=name, kind="numeric", status="skipped", reason=why)
        return _column_drift(
            name,
            reference,
            current,
            method=methods.get(name),
            threshold=thresholds.get(name),
            max_categories=max_categories,
        )

    big = max(ref_rows, cur_rows) * len(wanted) >= 200_000 and len(wanted) > 1
    if big:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(one, wanted))
    else:
        results = [one(n) for n in wanted]

    tested = [r for r in results if r.tested]
    if not tested:
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in results[:8])
        more = f" (and {len(results) - 8} more)" if len(results) > 8 else ""
        raise InvalidData(f"no column could be compared: {reasons}{more}")
    n_drifted = sum(1 for r in tested if r.drifted)
    drifted_share = n_drifted / len(tested)
    used: dict[str, list[str]] = {}
    for r in tested:
        used.setdefault(str(r.method), []).append(r.name)

    mv: MultivariateDrift | None = None
    if multivariate:
        numeric = [
            r.name
            for r in results
            if r.kind in ("numeric", "datetime") and r.name in ref_set and r.name in cur_set
        ]
        if ref_profile or isinstance(current, Profile):
            mv = skipped(
                numeric, "needs both tables: a profile keeps no joint distribution of columns"
            )
        else:
            mv = pca_drift(reference, current, numeric)

    # Drifted columns first, then tested, then skipped; input order within each group.
    order = sorted(
        range(len(results)), key=lambda i: (not results[i].drifted, not results[i].tested, i)
    )
    return DriftResult(
        columns=tuple(results[i] for i in order),
        share=share,
        drifted_share=drifted_share,
        dataset_drift=drifted_share >= share,
        reference_rows=ref_rows,
        current_rows=cur_rows,
        reference_source="profile" if ref_profile else "table",
        methods=used,
        multivariate=mv,
        elapsed_s=time.perf_counter() - t0,
    )


def _per_column(value: Any, names: Sequence[str], what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        unknown = [str(k) for k in value if str(k) not in set(names)]
        if unknown:
            raise InvalidArgument(f"{what} given for unknown column(s): {', '.join(unknown)}")
        return {str(k): v for k, v in value.items()}
    return dict.fromkeys(names, value)


# -- one column -------------------------------------------------------------------------------


def _side(source: Source, name: str, max_categories: int) -> tuple[str, Dist, list[str]]:
    """(kind, distribution, warnings) of one column of a table or a profile."""
    if isinstance(source, Profile):
        cp = source[name]
        dist: Dist
        if cp.kind in ("numeric", "datetime"):
            dist = NumericDist.from_profile(cp)
        else:
            dist = CountsDist.from_profile(cp)
        return cp.kind, dist, list(cp.warnings)
    col: Column = read_columns(source, [name])[name]
    if isinstance(col, NumericColumn):
        return col.kind, NumericDist.from_column(col), list(col.warnings)
    assert isinstance(col, CountsColumn)
    return col.kind, CountsDist.from_column(col, max_categories=max_categories), list(col.warnings)


def _skipped_missing(name: str, source: Source, reason: str) -> ColumnDrift:
    kind = source[name].kind if isinstance(source, Profile) else "unknown"
    return ColumnDrift(name=name, kind=kind, status="skipped", reason=reason)


def _summary(d: Dist, source: str) -> SideSummary:
    if isinstance(d, NumericDist):
        ok = d.n > 0
        return SideSummary(
            rows=d.rows,
            nulls=d.nulls,
            values=d.n,
            n_inf=d.n_inf,
            mean=d.mean if ok else None,
            std=d.std if ok else None,
            min=d.min if ok else None,
            max=d.max if ok else None,
            source=source,
        )
    return SideSummary(
        rows=d.rows, nulls=d.nulls, values=int(d.n), distinct=d.distinct, source=source
    )


def _column_drift(
    name: str,
    reference: Source,
    current: Source,
    *,
    method: str | None,
    threshold: float | None,
    max_categories: int,
) -> ColumnDrift:
    rkind, ref, rwarn = _side(reference, name, max_categories)
    ckind, cur, cwarn = _side(current, name, max_categories)
    rsrc = "profile" if isinstance(reference, Profile) else "table"
    csrc = "profile" if isinstance(current, Profile) else "table"
    notes: list[str] = [f"reference: {w}" for w in rwarn] + [f"current: {w}" for w in cwarn]
    ref_summary, cur_summary = _summary(ref, rsrc), _summary(cur, csrc)

    def skip(reason: str, kind: str = rkind) -> ColumnDrift:
        return ColumnDrift(
            name=name,
            kind=kind,
            status="skipped",
            reason=reason,
            notes=tuple(notes),
            reference=ref_summary,
            current=cur_summary,
        )

    numeric = {"numeric", "datetime"}
    if (rkind in numeric) != (ckind in numeric) or (
        rkind in numeric and ckind in numeric and rkind != ckind
    ):
        return skip(f"kind changed: {rkind} in the reference, {ckind} in current")
    kind = rkind if rkind == ckind else "categorical"

    for label, d in (("reference", ref), ("current", cur)):
        if d.n == 0:
            if isinstance(d, NumericDist) and d.n_inf:
                return skip(f"no finite values in {label} (all {d.n_inf:,} non-null are infinite)")
            if d.rows == 0:
                return skip(f"no rows in {label}")
            return skip(f"no values in {label} (all {d.rows:,} null)")

    for label, d in (("reference", ref), ("current", cur)):
        if isinstance(d, NumericDist) and d.n_inf:
            notes.append(f"{d.n_inf:,} infinite value(s) in {label} left out")
        if isinstance(d, NumericDist) and d.n > 1 and d.std == 0:
            notes.append(f"constant in {label} ({d.min:.6g})")
        if isinstance(d, CountsDist):
            notes.extend(f"{label}: {n}" for n in d.notes)

    # Integer columns with few values are categorical, as Evidently infers them.
    if (
        isinstance(ref, NumericDist)
        and isinstance(cur, NumericDist)
        and kind == "numeric"
        and ref.integer
        and cur.integer
        and method is None
        and cur.distinct_upto(INTEGER_AS_CATEGORICAL) <= INTEGER_AS_CATEGORICAL
    ):
        rc, cc = ref.value_counts(4096), cur.value_counts(INTEGER_AS_CATEGORICAL)
        if rc is not None and cc is not None:
            ref, cur = rc, cc
            notes.append(
                f"integer column with at most {INTEGER_AS_CATEGORICAL} values: "
                "tested as categorical"
            )

    if isinstance(ref, CountsDist) and isinstance(cur, CountsDist) and method is None:
        for label, d in (("reference", ref), ("current", cur)):
            if d.distinct > ID_LIKE_SHARE * d.n and d.n > 20 and d.distinct > 20:
                return skip(
                    f"looks like an identifier or free text: {d.distinct:,} distinct values "
                    f"in {int(d.n):,} {label} rows; name a method for it to test it anyway",
                    kind,
                )

    chosen = method or _default_method(ref, cur)
    test = get_method(chosen)
    if test.numeric_only and not isinstance(ref, NumericDist):
        return skip(
            f"{test.name} compares numbers; this column is {kind} "
            "(use chisquare, jensenshannon, psi, hellinger or ztest)",
            kind,
        )
    thr = float(threshold) if threshold is not None else test.default_threshold
    try:
        outcome = test.run(ref, cur, thr)
    except InvalidArgument as exc:
        return skip(str(exc), kind)
    notes.extend(outcome.notes)
    if outcome.p_value is not None and not math.isfinite(outcome.p_value):
        return skip(f"{test.name} gave no p-value for these values", kind)
    if math.isnan(outcome.statistic):
        return skip(f"{test.name} gave no statistic for these values", kind)
    return ColumnDrift(
        name=name,
        kind=kind,
        status="tested",
        drifted=bool(outcome.drifted),
        method=test.name,
        statistic=float(outcome.statistic),
        p_value=outcome.p_value,
        threshold=thr,
        notes=tuple(notes),
        binning=outcome.binning,
        plot=_plot(ref, cur, kind == "datetime"),
        reference=ref_summary,
        current=cur_summary,
    )


def _default_method(ref: Dist, cur: Dist) -> str:
    small = ref.n <= SMALL_REFERENCE
    if isinstance(ref, NumericDist) and isinstance(cur, NumericDist):
        rc, cc = ref.value_counts(5), cur.value_counts(5)
        if rc is not None and cc is not None:
            labels, _, _ = align_counts(rc, cc)
            n_values = labels.size
        else:
            n_values = 6
        if small:
            return "ks" if n_values > 5 else "chisquare" if n_values > 2 else "ztest"
        return "wasserstein" if n_values > 5 else "jensenshannon"
    assert isinstance(ref, CountsDist)
    assert isinstance(cur, CountsDist)
    if small:
        labels, _, _ = align_counts(ref, cur)
        return "chisquare" if labels.size > 2 else "ztest"
    return "jensenshannon"


# -- plots ------------------------------------------------------------------------------------


def _plot(ref: Dist, cur: Dist, is_datetime: bool) -> Plot | None:
    if isinstance(ref, CountsDist) and isinstance(cur, CountsDist):
        return _bars(*align_counts(ref, cur))
    assert isinstance(ref, NumericDist)
    assert isinstance(cur, NumericDist)
    rc, cc = ref.value_counts(PLOT_CATEGORIES), cur.value_counts(PLOT_CATEGORIES)
    if rc is not None and cc is not None and not is_datetime:
        labels, r, c = align_counts(rc, cc)  # a few distinct numbers: one bar each, in order
        order = np.argsort(np.asarray(labels, dtype=np.float64), kind="stable")
        return Plot(
            kind="bars",
            reference=tuple(float(x) for x in r[order] / max(float(r.sum()), 1.0)),
            current=tuple(float(x) for x in c[order] / max(float(c.sum()), 1.0)),
            labels=tuple(_label(labels[i]) for i in order),
        )
    clipped = False
    if ref.raw is not None and cur.raw is not None:
        lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        else:
            # Long tails would squeeze the plot into a bin or two: show the central 99% of a
            # sample of each side, the rest counted in the end bins.
            qs = [
                np.quantile(raw[:: max(1, raw.size // 20_000)], [0.005, 0.995])
                for raw in (ref.raw, cur.raw)
            ]
            qlo, qhi = float(min(q[0] for q in qs)), float(max(q[1] for q in qs))
            if qhi > qlo and qhi - qlo < 0.75 * (hi - lo):
                lo, hi, clipped = qlo, qhi, True
        # Powers of two, so that the 65,536 bins of a binned Wasserstein sum into these.
        nb = PLOT_BINS if ref.n + cur.n >= 10_000 else PLOT_BINS // 2
        r = ref.bin_counts(lo, hi, nb).astype(np.float64)
        c = cur.bin_counts(lo, hi, nb).astype(np.float64)
        edges = np.linspace(lo, hi, nb + 1)
    else:
        hr, hc = dyadic_pair(ref, cur)
        while hr.counts.size > PLOT_BINS:
            hr, hc = hr.coarsen(hr.e + 1), hc.coarsen(hc.e + 1)
        r, c, edges = hr.counts.astype(np.float64), hc.counts.astype(np.float64), hr.edges
    return Plot(
        kind="histogram",
        reference=tuple(float(x) for x in r / max(r.sum(), 1.0)),
        current=tuple(float(x) for x in c / max(c.sum(), 1.0)),
        edges=tuple(float(x) for x in edges),
        datetime=is_datetime,
        clipped=clipped,
    )


def _bars(labels: Any, r: Any, c: Any) -> Plot:
    pr = r / max(float(r.sum()), 1.0)
    pc = c / max(float(c.sum()), 1.0)
    order = np.argsort(-np.maximum(pr, pc), kind="stable")
    if order.size > PLOT_CATEGORIES:
        top, rest = order[: PLOT_CATEGORIES - 1], order[PLOT_CATEGORIES - 1 :]
        names = [_label(labels[i]) for i in top] + [f"({rest.size} others)"]
        rv = [*pr[top].tolist(), float(pr[rest].sum())]
        cv = [*pc[top].tolist(), float(pc[rest].sum())]
    else:
        names = [_label(labels[i]) for i in order]
        rv, cv = pr[order].tolist(), pc[order].tolist()
    return Plot(kind="bars", reference=tuple(rv), current=tuple(cv), labels=tuple(names))


def _label(v: Any) -> str:
    if isinstance(v, float | np.floating):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.6g}"
    return str(v)
