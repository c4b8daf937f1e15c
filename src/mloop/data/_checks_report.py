"""The outcome of declarative checks: :class:`CheckResult`, :class:`CheckReport`, and the words
the report uses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mloop.data._checks_frame import show

#: Example rows kept per failing check.
MAX_EXAMPLES = 5

PASSED, FAILED, ERROR = "passed", "failed", "error"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        check: the kind: ``present``, ``type``, ``nullable``, ``max_null_share``, ``min``,
            ``max``, ``finite``, ``allowed``, ``regex``, ``unique``, ``row_count``, ``strict``
            or ``custom``.
        column: the column, or None for table and custom checks.
        status: ``passed``, ``failed``, or ``error`` (the check could not run).
        expected: what the check asks, in words (``>= 0``, ``one of DE, FR, US``).
        message: one sentence saying what was found.
        failed_rows: rows that fail (None for checks of the whole table).
        total_rows: rows checked.
        examples: up to 5 failing rows, each ``{"row": n, "value": v}`` (``row`` counts from 0;
            ``index`` is added when the DataFrame had an index of its own).
        name: the name of a custom check.
    """

    check: str
    column: str | None
    status: str
    expected: str
    message: str
    failed_rows: int | None = None
    total_rows: int | None = None
    examples: tuple[dict[str, Any], ...] = ()
    name: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def subject(self) -> str:
        """``age`` or ``custom spend_is_consistent`` or ``table``."""
        if self.check == "custom":
            return f"custom {self.name}"
        return self.column if self.column is not None else "table"

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "column": self.column,
            "name": self.name,
            "status": self.status,
            "expected": self.expected,
            "message": self.message,
            "failed_rows": self.failed_rows,
            "total_rows": self.total_rows,
            "examples": [dict(e) for e in self.examples],
        }


@dataclass(frozen=True)
class CheckReport:
    """The outcome of every check on one table.

    ``passed`` is true when no check failed or errored. ``str(report)`` is a readable summary;
    :meth:`to_dict` and :meth:`to_json` give the same as data.

    Example::

        report = mloop.data.check("train.parquet", "checks.yaml")
        if not report.passed:
            print(report)
            for f in report.failures:
                print(f.column, f.check, f.failed_rows, f.examples)
    """

    data: str
    checks: str
    num_rows: int
    num_columns: int
    results: tuple[CheckResult, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(r.status == PASSED for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that failed or could not run."""
        return [r for r in self.results if r.status != PASSED]

    @property
    def summary(self) -> dict[str, int]:
        counts = {PASSED: 0, FAILED: 0, ERROR: 0}
        for r in self.results:
            counts[r.status] += 1
        return {"checks": len(self.results), **counts}

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "data": self.data,
            "checks": self.checks,
            "num_rows": self.num_rows,
            "num_columns": self.num_columns,
            "summary": self.summary,
            "failures": [r.to_dict() for r in self.failures],
            "results": [r.to_dict() for r in self.results],
            "notes": list(self.notes),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON (infinities written as ``"Infinity"``)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_text(self, *, verbose: bool = False) -> str:
        """A readable report: the verdict, each failing check with examples, then notes.

        Args:
            verbose: list the checks that passed too.
        """
        s = self.summary
        verdict = "PASSED" if self.passed else "FAILED"
        parts = [f"{s[FAILED]} failed"]
        if s[ERROR]:
            parts.append(f"{s[ERROR]} could not run")
        parts.append(f"{s[PASSED]} passed")
        lines = [
            f"{verdict}: {self.checks} on {self.data} ({self.num_rows} rows, "
            f"{self.num_columns} columns): {s['checks']} checks, {', '.join(parts)}"
        ]
        shown = self.results if verbose else tuple(self.failures)
        if shown:
            lines.append("")
            width = min(28, max(len(r.subject) for r in shown))
            kind_width = max(len(r.check) for r in shown)
            for r in shown:
                mark = {PASSED: "ok   ", FAILED: "FAIL ", ERROR: "ERROR"}[r.status]
                lines.append(f"  {mark} {r.subject:<{width}}  {r.check:<{kind_width}}  {r.message}")
                if r.examples:
                    lines.append(
                        " " * (12 + width + kind_width)
                        + "e.g. "
                        + ", ".join(_example_text(e) for e in r.examples)
                    )
        if self.notes:
            lines.append("")
            lines.append("notes:")
            lines.extend(f"  - {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _example_text(example: dict[str, Any]) -> str:
    where = f"row {example['row']}"
    if "index" in example:
        where += f" (index {show(example['index'])})"
    value = example.get("value")
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={show(v)}" for k, v in value.items())
        return f"{where}: {{{inner}}}"
    return f"{where}: {show(value)}"


# -- wording -----------------------------------------------------------------------------------


def pct(share: float) -> str:
    pct = share * 100
    if pct == 0 or pct >= 10:
        return f"{pct:.0f}%"
    if pct >= 1:
        return f"{pct:.1f}%"
    return f"{pct:.2g}%"


def one_of(values: Iterable[Any]) -> str:
    items = list(values)
    text = ", ".join(show(v) if not isinstance(v, str) else v for v in items[:10])
    more = f", ... ({len(items)} values)" if len(items) > 10 else ""
    return f"one of {text}{more}"


def passed_text(kind: str, expected: str) -> str:
    return {
        "nullable": "no nulls",
        "min": f"every value is {expected}",
        "max": f"every value is {expected}",
        "finite": "no infinite values",
        "allowed": f"every value is {expected}",
        "regex": f"every value {expected}",
        "unique": "no duplicated values",
    }.get(kind, "passed")


_FAILED_TEXT: dict[str, Callable[[str, str], str]] = {
    "nullable": lambda rows, e: f"{rows} are null",
    "min": lambda rows, e: f"{rows} are below the minimum {e.removeprefix('>= ')}",
    "max": lambda rows, e: f"{rows} are above the maximum {e.removeprefix('<= ')}",
    "finite": lambda rows, e: f"{rows} are infinite",
    "allowed": lambda rows, e: f"{rows} are not {e}",
    "regex": lambda rows, e: f"{rows} do not match {e.removeprefix('matches ')}",
}


def failed_text(
    kind: str, name: str, expected: str, count: int, total: int, row: int, value: Any
) -> str:
    rows = f"{count} of {total} rows"
    describe = _FAILED_TEXT.get(kind)
    text = describe(rows, expected) if describe else f"{rows} fail {kind} ({expected})"
    first = f"first at row {row}" if kind == "nullable" else f"first at row {row}: {show(value)}"
    return f"column {name!r}: {text} ({first})"
