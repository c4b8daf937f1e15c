"""A self-contained HTML report of one evaluation: tables and inline SVG charts, no scripts."""

from __future__ import annotations

import html
from collections.abc import Sequence

from mloop.evaluate._result import EvaluationResult

__all__ = ["render_evaluation_html"]

_W, _H, _PAD = 320, 240, 36
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}figure{margin:0}
figcaption{font-weight:600;margin-bottom:.25rem}.note{color:#666}
"""


def render_evaluation_html(result: EvaluationResult, *, title: str | None = None) -> str:
    """The report as one HTML document: metrics, per-class and per-slice tables, fairness, and
    SVG charts (ROC, precision-recall, calibration, confusion matrix, per-slice bars)."""
    e = html.escape
    head = title or f"Evaluation of {result.model_uri}"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(head)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{e(head)}</h1>",
        f"<p>{e(result.task)} on {e(result.data or 'data')}, {result.n_rows} rows"
        + (f", run <code>{e(result.run_id)}</code>" if result.run_id else "")
        + "</p>",
        evaluation_body(result),
        "</body></html>",
    ]
    return "".join(parts)


def evaluation_body(result: EvaluationResult) -> str:
    """The report without the page around it (for embedding in a larger report)."""
    e = html.escape
    out = [
        "<h2>Metrics</h2>",
        _table(["metric", "value"], [[k, _f(v)] for k, v in result.metrics.items()]),
    ]
    charts: list[str] = []
    roc = result.curves.get("roc")
    if roc:
        charts.append(
            _line_chart(
                "ROC",
                roc["fpr"],
                roc["tpr"],
                "false positive rate",
                "true positive rate",
                diagonal=True,
            )
        )
    pr = result.curves.get("pr")
    if pr:
        charts.append(
            _line_chart("Precision-recall", pr["recall"], pr["precision"], "recall", "precision")
        )
    cal = result.curves.get("calibration")
    if cal:
        charts.append(
            _line_chart(
                "Calibration",
                cal["prob_pred"],
                cal["prob_true"],
                "mean predicted",
                "fraction positive",
                diagonal=True,
            )
        )
    if result.confusion_matrix is not None:
        charts.append(_confusion(result.confusion_matrix.labels, result.confusion_matrix.matrix))
    main = "accuracy" if result.task == "classification" else "mae"
    for column, values in result.slices.items():
        bars = [(label, s.metrics.get(main)) for label, s in values.items()]
        charts.append(_bars(f"{main} by {column}", bars))
    if charts:
        out.append("<h2>Charts</h2><div class='charts'>" + "".join(charts) + "</div>")
    if result.per_class:
        names = sorted({k for v in result.per_class.values() for k in v})
        rows = [[label, *(_f(m.get(n)) for n in names)] for label, m in result.per_class.items()]
        out += ["<h2>Per class</h2>", _table(["class", *names], rows)]
    for column, values in result.slices.items():
        names = sorted({k for s in values.values() for k in s.metrics})
        rows = [
            [label, str(s.n_rows), *(_f(s.metrics.get(n)) for n in names)]
            for label, s in values.items()
        ]
        out += [f"<h2>Slices by {e(column)}</h2>", _table([column, "n_rows", *names], rows)]
    for column, f in result.fairness.items():
        rows = [
            ["demographic parity difference", _f(f.demographic_parity_difference)],
            ["demographic parity ratio", _f(f.demographic_parity_ratio)],
            ["equalized odds difference", _f(f.equalized_odds_difference)],
            *([f"selection rate [{g}]", _f(r)] for g, r in f.selection_rate.items()),
        ]
        out += [f"<h2>Fairness over {e(column)}</h2>", _table(["measure", "value"], rows)]
    if result.notes:
        out.append(
            "<h2>Notes</h2><ul>"
            + "".join(f"<li class='note'>{e(n)}</li>" for n in result.notes)
            + "</ul>"
        )
    return "".join(out)


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(title: str, svg: str) -> str:
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' "
        f"role='img' aria-label='{html.escape(title)}'>{svg}</svg></figure>"
    )


def _axes(xlabel: str, ylabel: str) -> str:
    e = html.escape
    x0, y0, x1, y1 = _PAD, _H - _PAD, _W - 10, 10
    return (
        f"<rect x='{x0}' y='{y1}' width='{x1 - x0}' height='{y0 - y1}' fill='none' "
        f"stroke='#999'/><text x='{(x0 + x1) / 2}' y='{_H - 6}' font-size='11' "
        f"text-anchor='middle'>{e(xlabel)}</text><text x='12' y='{(y0 + y1) / 2}' "
        f"font-size='11' text-anchor='middle' transform='rotate(-90 12 {(y0 + y1) / 2})'>"
        f"{e(ylabel)}</text>"
    )


def _xy(x: float, y: float) -> str:
    px = _PAD + x * (_W - 10 - _PAD)
    py = (_H - _PAD) - y * (_H - _PAD - 10)
    return f"{px:.1f},{py:.1f}"


def _line_chart(
    title: str,
    xs: Sequence[float],
    ys: Sequence[float],
    xlabel: str,
    ylabel: str,
    *,
    diagonal: bool = False,
) -> str:
    svg = _axes(xlabel, ylabel)
    if diagonal:
        svg += (
            f"<polyline points='{_xy(0, 0)} {_xy(1, 1)}' fill='none' stroke='#bbb' "
            "stroke-dasharray='4 3'/>"
        )
    points = " ".join(
        _xy(min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)) for x, y in zip(xs, ys, strict=False)
    )
    svg += f"<polyline points='{points}' fill='none' stroke='#1f77b4' stroke-width='2'/>"
    return _figure(title, svg)


def _confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    e = html.escape
    n = max(len(labels), 1)
    size = (min(_W, _H) - _PAD - 10) / n
    top = max((v for row in matrix for v in row), default=0) or 1
    cells = []
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            x, y = _PAD + j * size, 10 + i * size
            shade = int(255 - 200 * v / top)
            ink = "#fff" if v / top > 0.6 else "#000"
            cells.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{size:.1f}' height='{size:.1f}' "
                f"fill='rgb({shade},{shade},255)' stroke='#fff'/><text "
                f"x='{x + size / 2:.1f}' y='{y + size / 2 + 4:.1f}' font-size='11' "
                f"text-anchor='middle' fill='{ink}'>{v}</text>"
            )
    for k, label in enumerate(labels):
        cells.append(
            f"<text x='{_PAD - 4}' y='{10 + (k + 0.5) * size + 4:.1f}' font-size='10' "
            f"text-anchor='end'>{e(label)}</text><text x='{_PAD + (k + 0.5) * size:.1f}'"
            f" y='{10 + n * size + 12:.1f}' font-size='10' text-anchor='middle'>"
            f"{e(label)}</text>"
        )
    return _figure("Confusion matrix (rows: true, columns: predicted)", "".join(cells))


def _bars(title: str, bars: Sequence[tuple[str, float | None]]) -> str:
    e = html.escape
    values = [v for _, v in bars if v is not None]
    top = max(values, default=0.0) or 1.0
    width = (_W - _PAD - 10) / max(len(bars), 1)
    out = [_axes("", "")]
    for k, (label, v) in enumerate(bars):
        x = _PAD + k * width
        if v is None:
            out.append(
                f"<text x='{x + width / 2:.1f}' y='{_H - _PAD - 4}' font-size='10' "
                "text-anchor='middle'>no rows</text>"
            )
        else:
            h = (_H - _PAD - 10) * max(v, 0.0) / top
            out.append(
                f"<rect x='{x + 2:.1f}' y='{_H - _PAD - h:.1f}' width='{width - 4:.1f}' "
                f"height='{h:.1f}' fill='#2ca02c'><title>{e(label)}: {v:.4g}</title>"
                "</rect>"
            )
        out.append(
            f"<text x='{x + width / 2:.1f}' y='{_H - _PAD + 12}' font-size='9' "
            f"text-anchor='middle'>{e(label[:14])}</text>"
        )
    return _figure(title, "".join(out))
