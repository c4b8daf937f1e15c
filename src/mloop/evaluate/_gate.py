"""``gate``: evaluate a challenger (and a champion) on the same data and apply a policy."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mloop.evaluate._gate_report import GateResult, Promotion
from mloop.evaluate._policy import GatePolicy, load_gate_policy
from mloop.evaluate._result import EvaluationResult

__all__ = ["GateResult", "Promotion", "gate"]


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
    progress: Callable[[str], None] | None = None,
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
        progress: called with a line as each phase starts and as each model is done
            (``challenger evaluated in 2.1 s``), for a spinner.

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
    policy = load_gate_policy(policy)
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
        progress=progress,
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
    progress: Callable[[str], None] | None = None,
) -> GateResult:
    """:func:`gate` once the champion question is settled: without a champion, ``champion.``
    rules fail as "not available" (what a forced promotion with no champion yet shows)."""
    from mloop.evaluate._evaluate import evaluate, read_data

    frame, label = read_data(data)
    options: dict[str, Any] = {
        "target": target,
        "task": task,
        "slices": _merged(slices, policy.slice_columns()),
        "sensitive": _merged(sensitive, policy.sensitive_columns()),
        "log": log,
        "latency": policy.needs_latency,
    }
    say = progress or (lambda _: None)

    def one(role: str, uri: str) -> EvaluationResult:
        start = time.perf_counter()
        # Both models see the frame read once; the reports name what it was read from.
        result = evaluate(
            uri, frame, data_label=label, progress=lambda line: say(f"{role}: {line}"), **options
        )
        say(f"{role} evaluated in {time.perf_counter() - start:.1f} s")
        return result

    challenger = one("challenger", challenger_uri)
    champion = None if champion_uri is None else one("champion", champion_uri)
    policy.check_names(*(r for r in (challenger, champion) if r is not None))
    return GateResult(
        challenger_uri,
        champion_uri,
        policy,
        tuple(policy.apply(challenger, champion)),
        challenger,
        champion,
    )
