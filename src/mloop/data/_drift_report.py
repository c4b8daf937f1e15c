"""A drift result (:class:`DriftResult`: per-column verdicts and the dataset's) and its report
as one self-contained HTML page: inline CSS and SVG, no script, no network.

The page has a summary first (dataset verdict, drifted share, sizes, the multivariate test), then a
table of every column, drifted first, then one card per tested column with the reference and
current distributions overlaid, then the skipped columns with their reasons.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mloop.data._drift_multivariate import MultivariateDrift

__all__ = ["DEFAULT_RULES", "ColumnDrift", "DriftResult", "Plot", "SideSummary", "render_html"]

DEFAULT_RULES: dict[str, str] = {
    "numeric, reference <= 1000 values": "ks (p <= 0.05); chisquare for 3-5 values, "
    "ztest for <= 2 (p < 0.05)",
    "numeric, reference > 1000 values": "wasserstein / reference std >= 0.1; "
    "jensenshannon >= 0.1 for <= 5 values",
    "categorical, reference <= 1000 values": "chisquare (p < 0.05); ztest for <= 2 values",
    "categorical, reference > 1000 values": "jensenshannon >= 0.1",
    "dataset": "drift when the share of drifted columns >= share (0.5)",
}


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SideSummary:
    """One side of a column, for the report."""

    rows: int
    nulls: int
    values: int  # the values tested (non-null, finite)
    n_inf: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    distinct: int | None = None
    source: str = "table"  # or "profile"

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_float(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Plot:
    """Reference and current shares on common bins (numbers) or categories."""

    kind: Literal["histogram", "bars"]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] = ()  # histogram: len(reference) + 1 edges
    labels: tuple[str, ...] = ()  # bars: one label per bar
    datetime: bool = False
    clipped: bool = False  # histogram: values beyond the edges are counted in the end bins

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "reference": list(self.reference),
            "current": list(self.current),
        }
        if self.kind == "histogram":
            out["edges"] = list(self.edges)
            out["datetime"] = self.datetime
            out["clipped"] = self.clipped
        else:
            out["labels"] = list(self.labels)
        return out


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one column; ``status`` is ``"skipped"`` with a ``reason`` when the column
    could not be tested (missing on one side, empty, of another kind, an identifier ...)."""

    name: str
    kind: str
    status: Literal["tested", "skipped"]
    drifted: bool = False
    method: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()
    binning: str | None = None
    reference: SideSummary | None = None
    current: SideSummary | None = None
    plot: Plot | None = None

    @property
    def tested(self) -> bool:
        return self.status == "tested"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "drifted": self.drifted,
            "method": self.method,
            "statistic": _json_float(self.statistic),
            "p_value": _json_float(self.p_value),
            "threshold": self.threshold,
            "reason": self.reason,
            "notes": list(self.notes),
            "binning": self.binning,
            "reference": self.reference.to_dict() if self.reference else None,
            "current": self.current.to_dict() if self.current else None,
            "plot": self.plot.to_dict() if self.plot else None,
        }


@dataclass(frozen=True)
class DriftResult:
    """Per-column verdicts and the dataset's.

    Example::

        result = drift(train_df, live_df)
        result.dataset_drift, result.drifted_columns
        result.to_html("drift.html")
    """

    columns: tuple[ColumnDrift, ...]
    share: float
    drifted_share: float
    dataset_drift: bool
    reference_rows: int
    current_rows: int
    reference_source: Literal["table", "profile"]
    methods: dict[str, list[str]] = field(default_factory=dict)
    multivariate: MultivariateDrift | None = None
    elapsed_s: float = 0.0

    @property
    def tested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.tested]

    @property
    def skipped(self) -> list[ColumnDrift]:
        return [c for c in self.columns if not c.tested]

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    @property
    def n_drifted(self) -> int:
        return sum(1 for c in self.columns if c.drifted)

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"no column {name!r} in this result")

    def __getitem__(self, name: str) -> ColumnDrift:
        return self.column(name)

    def __repr__(self) -> str:
        return (
            f"DriftResult(dataset_drift={self.dataset_drift}, drifted={self.n_drifted}/"
            f"{len(self.tested)} tested, skipped={len(self.skipped)})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_drift": self.dataset_drift,
            "drifted_share": self.drifted_share,
            "share": self.share,
            "n_columns": len(self.columns),
            "n_tested": len(self.tested),
            "n_drifted": self.n_drifted,
            "n_skipped": len(self.skipped),
            "drifted_columns": self.drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference_source": self.reference_source,
            "methods": self.methods,
            "defaults": DEFAULT_RULES,
            "elapsed_s": self.elapsed_s,
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
            "columns": [c.to_dict() for c in self.columns],
        }

    def to_json(self, path: str | Path | None = None, *, indent: bool = True) -> str:
        """The result as JSON (an infinite statistic as ``"Infinity"``); written to ``path`` if
        given."""
        import orjson

        text = orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 if indent else 0).decode()
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_html(self, path: str | Path | None = None, *, title: str = "Drift report") -> str:
        """A self-contained HTML report (inline SVG, no script, no network); written to ``path``
        if given."""
        html = render_html(self, title=title)
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html


def _json_float(v: Any) -> Any:
    # As the REST API writes them: JSON has no NaN or infinity.
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity"
    return v


# -- the HTML report --------------------------------------------------------------------------

REF_COLOR = "#4C78A8"
CUR_COLOR = "#E45756"

# --ref and --cur are REF_COLOR and CUR_COLOR.
_CSS = """
:root { --ref: #4C78A8; --cur: #E45756; --ink: #1f2430; --muted: #687082; --line: #e3e6ec;
        --bad: #c62828; --bad-bg: #fdecea; --ok: #2e7d32; --ok-bg: #e8f5e9; --skip-bg: #f1f3f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); background: #f6f7f9; }
main { max-width: 1160px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 32px 0 12px; }
.sub { color: var(--muted); margin-bottom: 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px;
        padding: 14px 16px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase;
           letter-spacing: .04em; }
.card .v { font-size: 22px; font-weight: 600; margin-top: 2px; }
.card .d { color: var(--muted); font-size: 12px; margin-top: 2px; }
.card.bad { border-color: #f3b8b3; background: var(--bad-bg); }
.card.bad .v { color: var(--bad); }
.card.ok { border-color: #b9dfbb; background: var(--ok-bg); }
.card.ok .v { color: var(--ok); }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line);
        border-radius: 10px; overflow: hidden; }
th, td { text-align: left; padding: 7px 12px; border-bottom: 1px solid var(--line); }
th { background: #fafbfc; font-weight: 600; font-size: 12px; color: var(--muted);
     text-transform: uppercase; letter-spacing: .04em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.drift td:first-child { border-left: 3px solid var(--bad); }
tr:last-child td { border-bottom: 0; }
a { color: inherit; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
         font-weight: 600; }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.skip { background: var(--skip-bg); color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 14px; }
.col { background: #fff; border: 1px solid var(--line); border-radius: 10px;
       padding: 14px 16px; }
.col.drift { border-top: 3px solid var(--bad); }
.col h3 { font-size: 15px; margin: 0; display: flex; gap: 8px; align-items: center;
          justify-content: space-between; }
.col h3 .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.meta { color: var(--muted); font-size: 12px; margin: 4px 0 8px; }
.stats { width: 100%; font-size: 12px; border: 0; margin-top: 6px; }
.stats th, .stats td { padding: 2px 6px; border: 0; background: none; text-transform: none;
                       letter-spacing: 0; }
.stats td { text-align: right; font-variant-numeric: tabular-nums; }
.notes { margin: 8px 0 0; padding-left: 18px; color: var(--muted); font-size: 12px; }
.legend { font-size: 12px; color: var(--muted); display: flex; gap: 14px; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px;
      vertical-align: -1px; }
svg text { font: 11px -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #687082; }
footer { color: var(--muted); font-size: 12px; margin-top: 36px; }
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _num(v: float | None, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if isinstance(v, float) and math.isnan(v):
        return "—"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e12 or a < 1e-3:
        return f"{v:.{digits - 1}e}"
    if a >= 10**digits:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _when(ns: float, *, short: bool | None = None) -> str:
    try:
        t = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return _num(ns)
    if short is None:
        short = bool(t.hour or t.minute)
    return t.strftime("%Y-%m-%d %H:%M") if short else t.strftime("%Y-%m-%d")


def _value(v: float | None, is_dt: bool) -> str:
    if v is None:
        return "—"
    return _when(v) if is_dt else _num(v)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pp(x: float) -> str:
    """A difference of shares in percentage points, signed."""
    v = 100 * x
    return "±0 pp" if abs(v) < 0.05 else f"{v:+.1f} pp"


# -- SVG --------------------------------------------------------------------------------------


def _histogram_svg(plot: Plot) -> str:
    w, h = 520, 170
    left, right, top, bottom = 44, 10, 8, 26
    pw, ph = w - left - right, h - top - bottom
    edges = plot.edges
    x0, x1 = edges[0], edges[-1]
    span = (x1 - x0) or 1.0
    ymax = max(max(plot.reference, default=0.0), max(plot.current, default=0.0)) or 1.0

    def sx(x: float) -> float:
        return left + (x - x0) / span * pw

    def sy(y: float) -> float:
        return top + ph - y / ymax * ph

    def area(values: tuple[float, ...]) -> str:
        pts = [f"M{sx(edges[0]):.1f},{sy(0):.1f}"]
        for i, v in enumerate(values):
            pts.append(f"L{sx(edges[i]):.1f},{sy(v):.1f}")
            pts.append(f"L{sx(edges[i + 1]):.1f},{sy(v):.1f}")
        pts.append(f"L{sx(edges[-1]):.1f},{sy(0):.1f}Z")
        return "".join(pts)

    parts = [f'<svg viewBox="0 0 {w} {h}" width="100%" role="img">']
    for frac in (0.0, 0.5, 1.0):
        y = sy(ymax * frac)
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef0f4"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_pct(ymax * frac)}</text>'
        )
    parts.append(
        f'<path d="{area(plot.reference)}" fill="{REF_COLOR}" fill-opacity="0.35" '
        f'stroke="{REF_COLOR}" stroke-width="1"/>'
        f'<path d="{area(plot.current)}" fill="{CUR_COLOR}" fill-opacity="0.30" '
        f'stroke="{CUR_COLOR}" stroke-width="1.4"/>'
        f'<line x1="{left}" x2="{w - right}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" stroke="#9aa1ad"/>'
    )
    for i in range(5):
        x = x0 + span * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        label = _when(x, short=span < 2 * 86_400e9) if plot.datetime else _num(x, 3)
        if plot.clipped and i in (0, 4):
            label = ("≤ " if i == 0 else "≥ ") + label
        parts.append(f'<text x="{sx(x):.1f}" y="{h - 8}" text-anchor="{anchor}">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(plot: Plot) -> str:
    n = len(plot.labels)
    row = 22
    w, left, right, top = 520, 130, 62, 4
    h = top + n * row + 6
    pw = w - left - right
    vmax = max(max(plot.reference, default=0.0), max(plot.current, default=0.0)) or 1.0
    parts = [f'<svg viewBox="0 0 {w} {h}" width="100%" role="img">']
    for i, (label, r, c) in enumerate(zip(plot.labels, plot.reference, plot.current, strict=True)):
        y = top + i * row
        short = label if len(label) <= 20 else label[:19] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y + 14}" text-anchor="end"><title>{_e(label)}</title>'
            f"{_e(short)}</text>"
            f'<rect x="{left}" y="{y + 2}" width="{max(r / vmax * pw, 0.5):.1f}" height="8" '
            f'fill="{REF_COLOR}" fill-opacity="0.8" rx="1.5"/>'
            f'<rect x="{left}" y="{y + 11}" width="{max(c / vmax * pw, 0.5):.1f}" height="8" '
            f'fill="{CUR_COLOR}" fill-opacity="0.8" rx="1.5"/>'
            f'<text x="{w - 4}" y="{y + 14}" text-anchor="end"><title>current minus '
            f"reference share</title>{_pp(c - r)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# -- page -------------------------------------------------------------------------------------


def _verdict(c: ColumnDrift) -> str:
    if not c.tested:
        return '<span class="badge skip">skipped</span>'
    if c.drifted:
        return '<span class="badge bad">drift</span>'
    return '<span class="badge ok">no drift</span>'


def _rule(c: ColumnDrift) -> str:
    if c.method is None or c.threshold is None:
        return ""
    from mloop.data._drift_methods import get_method

    test = get_method(c.method)
    if test.p_value:
        op = "≤" if c.method == "ks" else "<"
        return f"drift if p {op} {_num(c.threshold)}"
    return f"drift if ≥ {_num(c.threshold)}"


def _side_table(c: ColumnDrift) -> str:
    r, k = c.reference, c.current
    if r is None or k is None:
        return ""
    is_dt = c.kind == "datetime"
    rows: list[tuple[str, str, str]] = [
        ("rows", f"{r.rows:,}", f"{k.rows:,}"),
        ("nulls", f"{r.nulls:,}", f"{k.nulls:,}"),
    ]
    if r.n_inf or k.n_inf:
        rows.append(("infinite", f"{r.n_inf:,}", f"{k.n_inf:,}"))
    if r.mean is not None or k.mean is not None:
        rows.append(("mean", _value(r.mean, is_dt), _value(k.mean, is_dt)))
        rows.append(("std", _num(r.std), _num(k.std)) if not is_dt else ("std", "", ""))
        rows.append(("min", _value(r.min, is_dt), _value(k.min, is_dt)))
        rows.append(("max", _value(r.max, is_dt), _value(k.max, is_dt)))
    if r.distinct is not None or k.distinct is not None:
        rows.append(
            ("distinct", f"{r.distinct or 0:,}", f"{k.distinct or 0:,}"),
        )
    body = "".join(
        f"<tr><th>{_e(a)}</th><td>{_e(b)}</td><td>{_e(d)}</td></tr>" for a, b, d in rows if b or d
    )
    return (
        '<table class="stats"><tr><th></th>'
        f'<th style="text-align:right"><span class="sw" style="background:{REF_COLOR}"></span>'
        f"reference{' (profile)' if r.source == 'profile' else ''}</th>"
        f'<th style="text-align:right"><span class="sw" style="background:{CUR_COLOR}"></span>'
        f"current</th></tr>{body}</table>"
    )


def _card(c: ColumnDrift) -> str:
    plot = ""
    if c.plot is not None:
        plot = _histogram_svg(c.plot) if c.plot.kind == "histogram" else _bars_svg(c.plot)
    p = f" · p = {_num(c.p_value)}" if c.p_value is not None else ""
    notes = "".join(f"<li>{_e(n)}</li>" for n in c.notes)
    binning = f" · {_e(c.binning)}" if c.binning else ""
    return (
        f'<section class="col{" drift" if c.drifted else ""}" id="col-{_e(c.name)}">'
        f'<h3><span class="name">{_e(c.name)}</span>{_verdict(c)}</h3>'
        f'<div class="meta">{_e(c.kind)} · {_e(c.method)} = <b>{_num(c.statistic)}</b>{p} · '
        f"{_e(_rule(c))}{binning}</div>"
        f"{plot}{_side_table(c)}"
        f"{f'<ul class=notes>{notes}</ul>' if notes else ''}"
        "</section>"
    )


def render_html(result: DriftResult, *, title: str = "Drift report") -> str:
    """The whole page for ``result``."""
    tested = result.tested
    skipped = result.skipped
    verdict = "Drift detected" if result.dataset_drift else "No dataset drift"
    cls = "bad" if result.dataset_drift else "ok"
    cards = [
        f'<div class="card {cls}"><div class="k">dataset</div><div class="v">{verdict}</div>'
        f'<div class="d">drift when ≥ {_pct(result.share)} of tested columns drift</div></div>',
        f'<div class="card"><div class="k">drifted columns</div>'
        f'<div class="v">{result.n_drifted} of {len(tested)}</div>'
        f'<div class="d">{_pct(result.drifted_share)} of tested columns</div></div>',
        f'<div class="card"><div class="k">reference</div>'
        f'<div class="v">{result.reference_rows:,} rows</div>'
        f'<div class="d">from a {result.reference_source}</div></div>',
        f'<div class="card"><div class="k">current</div>'
        f'<div class="v">{result.current_rows:,} rows</div>'
        f'<div class="d">{len(skipped)} column(s) skipped</div></div>',
    ]
    mv = result.multivariate
    if mv is not None:
        if mv.status == "tested":
            mcls = "bad" if mv.drifted else "ok"
            cards.append(
                f'<div class="card {mcls}"><div class="k">multivariate (PCA)</div>'
                f'<div class="v">{"drift" if mv.drifted else "no drift"}</div>'
                f'<div class="d">error ratio {_num(mv.statistic, 4)} vs threshold '
                f"{_num(mv.threshold, 4)} · {mv.n_components} of {len(mv.columns)} components"
                "</div></div>"
            )
        else:
            cards.append(
                '<div class="card"><div class="k">multivariate (PCA)</div>'
                f'<div class="v">skipped</div><div class="d">{_e(mv.reason)}</div></div>'
            )

    rows = []
    for c in result.columns:
        stat = _num(c.statistic) if c.tested else ""
        pv = _num(c.p_value) if c.p_value is not None else ""
        detail = _e(c.method or "") if c.tested else _e(c.reason or "")
        link = f'<a href="#col-{_e(c.name)}">{_e(c.name)}</a>' if c.tested else _e(c.name)
        rows.append(
            f'<tr class="{"drift" if c.drifted else ""}"><td>{link}</td><td>{_e(c.kind)}</td>'
            f"<td>{detail}</td><td class=num>{stat}</td><td class=num>{pv}</td>"
            f"<td class=num>{_num(c.threshold) if c.tested else ''}</td><td>{_verdict(c)}</td></tr>"
        )
    table = (
        "<table><tr><th>column</th><th>kind</th><th>method / reason</th><th>statistic</th>"
        f"<th>p-value</th><th>threshold</th><th>verdict</th></tr>{''.join(rows)}</table>"
    )
    legend = (
        '<div class="legend">'
        f'<span><span class="sw" style="background:{REF_COLOR}"></span>reference</span>'
        f'<span><span class="sw" style="background:{CUR_COLOR}"></span>current</span></div>'
    )
    col_cards = "".join(_card(c) for c in tested)
    skipped_html = ""
    if skipped:
        items = "".join(f"<li><b>{_e(c.name)}</b>: {_e(c.reason)}</li>" for c in skipped)
        skipped_html = f"<h2>Skipped columns ({len(skipped)})</h2><ul>{items}</ul>"
    mv_html = ""
    if mv is not None and mv.status == "tested":
        mv_html = (
            "<h2>Multivariate drift</h2><div class='card'>"
            f"PCA on {len(mv.columns)} numeric columns kept {mv.n_components} component(s) "
            f"({_pct(mv.explained_variance or 0)} of the variance). Mean reconstruction error: "
            f"reference {_num(mv.reference_error)}, current {_num(mv.current_error)}; ratio "
            f"<b>{_num(mv.statistic)}</b>, threshold {_num(mv.threshold)} (99th percentile of "
            "bootstrap ratios on the reference, at least 1.1)."
            + "".join(f"<br><span class='d'>{_e(n)}</span>" for n in mv.notes)
            + "</div>"
        )
    now = dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1>"
        f'<div class="sub">mloop · {len(result.columns)} columns · generated {now} · '
        f"{result.elapsed_s:.2f} s</div>"
        f'<div class="cards">{"".join(cards)}</div>'
        f"<h2>Columns</h2>{table}{mv_html}"
        f'<h2 style="display:flex;justify-content:space-between;align-items:center">'
        f"Distributions {legend}</h2>"
        f'<div class="grid">{col_cards}</div>{skipped_html}'
        "<footer>Defaults follow Evidently 0.7: KS / chi-square / z-test (p &lt; 0.05) for a "
        "reference of at most 1,000 values; Wasserstein over the reference std and "
        "Jensen-Shannon (≥ 0.1) above. Shares are of non-null finite values.</footer>"
        "</main></body></html>"
    )


__all__ = ["render_html"]
