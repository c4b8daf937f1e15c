"""A gate's result (:class:`GateResult`, with the :class:`Promotion` that may follow it) and
its reports: Markdown for a CI comment, and a self-contained HTML page."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

from mloop.evaluate._policy import GatePolicy, RuleResult
from mloop.evaluate._result import EvaluationResult

__all__ = ["GateResult", "Promotion", "gate_html", "gate_markdown"]


@dataclass(frozen=True)
class Promotion:
    """What :func:`mloop.evaluate.promote` did with the alias after the gate."""

    name: str
    from_alias: str
    to_alias: str
    version: int
    previous_version: int | None
    moved: bool
    forced: bool
    reason: str = ""

    def summary(self) -> str:
        target = f"`{self.name}@{self.to_alias}`"
        before = "" if self.previous_version is None else f" (was v{self.previous_version})"
        if self.moved and self.forced:
            return f"**FORCED**: {target} moved to v{self.version}{before} despite the gate."
        if self.moved:
            return f"{target} moved to v{self.version}{before}."
        return f"{target} not moved: v{self.version} stays `{self.from_alias}`{before}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from_alias": self.from_alias,
            "to_alias": self.to_alias,
            "version": self.version,
            "previous_version": self.previous_version,
            "moved": self.moved,
            "forced": self.forced,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class GateResult:
    """Every rule of a policy applied to a challenger's (and a champion's) evaluation.

    Attributes:
        passed: every rule passed.
        rules: one :class:`RuleResult` per rule, in the policy's order.
        challenger, champion: the evaluations (``champion`` is None without a champion).
        promotion: what :func:`promote` did, when the gate ran for it.
    """

    challenger_uri: str
    champion_uri: str | None
    policy: GatePolicy
    rules: tuple[RuleResult, ...]
    challenger: EvaluationResult
    champion: EvaluationResult | None = None
    promotion: Promotion | None = field(default=None)

    @property
    def passed(self) -> bool:
        return all(rule.passed for rule in self.rules)

    @property
    def failed_rules(self) -> list[RuleResult]:
        return [rule for rule in self.rules if not rule.passed]

    def to_markdown(self) -> str:
        """A summary for a pull-request comment: the verdict and one table row per rule."""
        return gate_markdown(self)

    def to_html(self) -> str:
        """A self-contained HTML report: the rules and both evaluations with their plots."""
        return gate_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "passed": self.passed,
            "challenger_uri": self.challenger_uri,
            "champion_uri": self.champion_uri,
            "policy": self.policy.source,
            "rules": [rule.to_dict() for rule in self.rules],
            "challenger": self.challenger.to_dict(),
            "champion": None if self.champion is None else self.champion.to_dict(),
            "promotion": None if self.promotion is None else self.promotion.to_dict(),
        }


# -- the reports ------------------------------------------------------------------------------

PASS, FAIL = "✅", "❌"
#: Metrics shown side by side under the rules, at most this many.
MAX_METRICS = 40


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _headline(result: GateResult) -> str:
    passed = sum(r.passed for r in result.rules)
    verdict = f"{PASS} Model gate passed" if result.passed else f"{FAIL} Model gate failed"
    return f"{verdict}: {passed} of {len(result.rules)} rules passed"


def _metric_rows(
    challenger: EvaluationResult, champion: EvaluationResult | None
) -> list[tuple[str, float | None, float | None]]:
    names = list(challenger.metrics)
    if champion is not None:
        names += [n for n in champion.metrics if n not in challenger.metrics]
    return [
        (
            name,
            challenger.metrics.get(name),
            None if champion is None else champion.metrics.get(name),
        )
        for name in names[:MAX_METRICS]
    ]


def gate_markdown(result: GateResult) -> str:
    """The verdict, one table row per rule, and the metrics side by side (folded)."""
    lines = [f"### {_headline(result)}", ""]
    against = (
        f" against champion `{result.champion_uri}`" if result.champion_uri is not None else ""
    )
    lines.append(
        f"Challenger `{result.challenger_uri}`{against} on {result.challenger.n_rows} rows "
        f"of {result.challenger.data or 'data'}."
    )
    if result.promotion is not None:
        lines += ["", result.promotion.summary()]
    lines += [
        "",
        "| | Rule | Challenger | Champion | Threshold | Reason |",
        "|---|---|---:|---:|---:|---|",
    ]
    for rule in result.rules:
        shown = f"`{rule.rule}`" if rule.name == rule.rule else f"**{rule.name}**: `{rule.rule}`"
        lines.append(
            f"| {PASS if rule.passed else FAIL} | {_cell(shown)} | {_num(rule.challenger)} | "
            f"{_num(rule.champion)} | {_num(rule.threshold)} | {_cell(rule.reason)} |"
        )
    rows = _metric_rows(result.challenger, result.champion)
    if rows:
        lines += [
            "",
            "<details><summary>Metrics</summary>",
            "",
            "| Metric | Challenger | Champion |",
            "|---|---:|---:|",
            *(f"| {_cell(n)} | {_num(a)} | {_num(b)} |" for n, a, b in rows),
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fdecea; } tr.pass td { background: #edf7ed; }
h1.fail { color: #b71c1c; } h1.pass { color: #1b5e20; }
iframe { width: 100%; height: 1400px; border: 1px solid #ddd; }
"""


def _inline_markdown(text: str) -> str:
    """Escaped HTML of a line of Markdown's inline code and bold (what summaries use)."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def gate_html(result: GateResult) -> str:
    """The verdict, the rules, and both evaluations' reports (with their plots) embedded."""
    from mloop.evaluate._html import render_evaluation_html

    esc = html.escape
    state = "pass" if result.passed else "fail"
    rows = "".join(
        f'<tr class="{"pass" if r.passed else "fail"}"><td>{PASS if r.passed else FAIL}</td>'
        f"<td>{esc(r.name)}</td><td><code>{esc(r.rule)}</code></td>"
        f'<td class="num">{_num(r.challenger)}</td><td class="num">{_num(r.champion)}</td>'
        f'<td class="num">{_num(r.threshold)}</td><td>{esc(r.reason)}</td></tr>'
        for r in result.rules
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Model gate: {esc(result.challenger_uri)}</title><style>{_STYLE}</style>",
        "</head><body>",
        f'<h1 class="{state}">{esc(_headline(result))}</h1>',
        f"<p>Challenger <code>{esc(result.challenger_uri)}</code>",
    ]
    if result.champion_uri is not None:
        parts.append(f" against champion <code>{esc(result.champion_uri)}</code>")
    data = result.challenger.data or "data"
    parts.append(f" on {result.challenger.n_rows} rows of <code>{esc(data)}</code>.</p>")
    if result.promotion is not None:
        parts.append(f"<p>{_inline_markdown(result.promotion.summary())}</p>")
    parts += [
        "<h2>Rules</h2><table><tr><th></th><th>Name</th><th>Rule</th><th>Challenger</th>",
        "<th>Champion</th><th>Threshold</th><th>Reason</th></tr>",
        rows,
        "</table>",
    ]
    for title, evaluation in (("Challenger", result.challenger), ("Champion", result.champion)):
        if evaluation is None:
            continue
        doc = render_evaluation_html(evaluation)
        parts.append(
            f"<h2>{title}: <code>{esc(evaluation.model_uri)}</code></h2>"
            f'<iframe title="{title} evaluation" srcdoc="{esc(doc, quote=True)}"></iframe>'
        )
    parts.append("</body></html>")
    return "".join(parts)
