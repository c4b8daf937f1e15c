"""``gate``: evaluate a challenger (and a champion) on the same data and apply a policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mloop.evaluate._policy import GatePolicy, RuleResult, load_policy
from mloop.evaluate._result import EvaluationResult

__all__ = ["GateResult", "Promotion", "gate"]


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
        from mloop.evaluate._gate_report import gate_markdown

        return gate_markdown(self)

    def to_html(self) -> str:
        """A self-contained HTML report: the rules and both evaluations with their plots."""
        from mloop.evaluate._gate_report import gate_html

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


def _merged(*groups: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(c for group in groups for c in group))


def gate(
    challenger_uri: str,
    data: Any,
    policy: GatePolicy | str | Path | Sequence[str | Mapping[str, Any]],
    *,
    champion_uri: str | None = None,
    target: str,
    task: str = "classification",
    slices: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    log: bool = True,
) -> GateResult:
    """Evaluate the challenger (and the champion) on the same data and apply every rule.

    The slice and sensitive columns the rules name (``slice[region=eu].recall``,
    ``fairness[sex]...``) are added to ``slices`` and ``sensitive``; latency is measured only
    when a rule names a latency metric.

    Args:
        challenger_uri: the candidate model (a folder, ``runs:/``, ``models:/``).
        data: labelled data, as :func:`mloop.evaluate.evaluate` takes it; read once.
        policy: a :class:`GatePolicy`, a YAML file, or a list of rules.
        champion_uri: the model to compare against; needed by ``champion.`` rules.
        target, task, slices, sensitive: as :func:`mloop.evaluate.evaluate`.
        log: log both evaluations to runs.

    Returns:
        The :class:`GateResult`; ``result.passed`` is the verdict.

    Raises:
        PolicyError: the policy does not parse, names an unknown metric, or uses ``champion.``
            without a champion (checked before anything is evaluated).
        InvalidEvaluationInput, SignatureMismatch, ModelNotFound: as ``evaluate``.

    Example::

        result = gate("models:/churn@challenger", "test.parquet", "gate.yaml",
                      champion_uri="models:/churn@champion", target="churned")
        print(result.to_markdown())
    """
    policy = load_policy(policy)
    policy.require_champion(champion_uri is not None)
    return run_gate(
        challenger_uri,
        data,
        policy,
        champion_uri=champion_uri,
        target=target,
        task=task,
        slices=slices,
        sensitive=sensitive,
        log=log,
    )


def run_gate(
    challenger_uri: str,
    data: Any,
    policy: GatePolicy,
    *,
    champion_uri: str | None,
    target: str,
    task: str,
    slices: Sequence[str],
    sensitive: Sequence[str],
    log: bool,
) -> GateResult:
    """:func:`gate` once the champion question is settled: without a champion, ``champion.``
    rules fail as "not available" (what a forced promotion with no champion yet shows)."""
    from mloop.evaluate._evaluate import evaluate, read_data

    frame, _ = read_data(data)
    options: dict[str, Any] = {
        "target": target,
        "task": task,
        "slices": _merged(slices, policy.slice_columns()),
        "sensitive": _merged(sensitive, policy.sensitive_columns()),
        "log": log,
        "latency": policy.needs_latency,
    }
    challenger = evaluate(challenger_uri, frame, **options)
    champion = None if champion_uri is None else evaluate(champion_uri, frame, **options)
    policy.check_names(*(r for r in (challenger, champion) if r is not None))
    return GateResult(
        challenger_uri,
        champion_uri,
        policy,
        tuple(policy.apply(challenger, champion)),
        challenger,
        champion,
    )
