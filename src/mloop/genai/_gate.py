"""Gating and promoting a prompt (or an LLM application) as a model is: the same policy rules
(``answer_similarity >= champion.answer_similarity - 0.02``), the same audited alias move."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mloop._core import current_user
from mloop._core._tags import TAG_VERSION_GATE
from mloop.errors import InvalidArgument, ModelVersionNotFound, PolicyError
from mloop.evaluate._policy import GatePolicy, RuleResult, load_gate_policy
from mloop.genai._evaluate import GenAIEvalResult, evaluate
from mloop.genai._prompts import resolve_prompt_version
from mloop.store._context import current

_REASON_LIMIT = 4_096


@dataclass(frozen=True)
class PromptGateResult:
    """Every rule applied to the challenger's (and the champion's) LLM evaluation."""

    challenger: GenAIEvalResult
    champion: GenAIEvalResult | None
    rules: tuple[RuleResult, ...]
    moved: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules)

    def to_markdown(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        against = f" against `{self.champion.target}`" if self.champion else ""
        lines = [
            f"### Gate {verdict}",
            "",
            f"Challenger `{self.challenger.target}`{against}, "
            f"{int(self.challenger.metrics['n_rows'])} rows.",
            "",
            "| | Rule | Challenger | Champion | Reason |",
            "|---|---|---:|---:|---|",
        ]
        for r in self.rules:
            lines.append(
                f"| {'pass' if r.passed else 'FAIL'} | `{r.rule}` | {_num(r.challenger)} | "
                f"{_num(r.champion)} | {r.reason} |"
            )
        return "\n".join(lines + self.notes)


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def _check_names(policy: GatePolicy, *results: GenAIEvalResult) -> None:
    known = set(results[0].metrics)
    for rule in policy.rules:
        for ref in rule.refs:
            if ref.name not in known:
                close = difflib.get_close_matches(ref.name, sorted(known), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise PolicyError(
                    f"rule {rule.text!r}: unknown metric {ref.name!r}{hint} (the evaluation "
                    f"measured {', '.join(sorted(known))})"
                )


def gate(
    challenger: Any,
    data: Any,
    policy: GatePolicy | str | Path | Sequence[str | Mapping[str, Any]],
    *,
    scorers: Sequence[Any],
    champion: Any = None,
    endpoint: Any = None,
    log: bool = True,
) -> PromptGateResult:
    """Evaluate the challenger (and the champion) on the same rows and apply every rule.

    ``challenger`` and ``champion`` are what :func:`evaluate` takes as a target: prompt URIs
    (with ``endpoint``) or callables.

    Raises:
        PolicyError: the policy does not parse, names a metric no scorer gives, or uses
            ``champion.`` without a champion.

    Example::

        result = mloop.genai.gate("prompts:/qa@challenger", rows,
                                  ["answer_similarity >= champion.answer_similarity - 0.02"],
                                  champion="prompts:/qa@champion",
                                  scorers=[scorers.answer_similarity()], endpoint=ep)
    """
    pol = load_gate_policy(policy)
    pol.require_champion(champion is not None)
    ch = evaluate(challenger, data, scorers, endpoint=endpoint, log=log)
    champ = (
        None if champion is None else evaluate(champion, data, scorers, endpoint=endpoint, log=log)
    )
    _check_names(pol, ch)
    return PromptGateResult(ch, champ, tuple(pol.apply(ch, champ)))


def promote(
    name: str,
    data: Any,
    policy: GatePolicy | str | Path | Sequence[str | Mapping[str, Any]],
    *,
    scorers: Sequence[Any],
    endpoint: Any,
    from_alias: str = "challenger",
    to_alias: str = "champion",
    force: bool = False,
    reason: str | None = None,
) -> PromptGateResult:
    """Gate ``prompts:/name@from_alias`` against ``@to_alias``; move ``to_alias`` if it passes.

    As :func:`mloop.evaluate.promote` for models: the gate's summary becomes the version tag
    ``mloop.gate.last`` (an audited change) and the reason of the alias move; ``force`` (with a
    ``reason``) moves it even when the gate fails, recorded as ``FORCED:``. With no champion yet
    the ``champion.`` rules fail as not available.

    Raises:
        InvalidArgument: ``force`` without ``reason``, or the same alias twice.
        ModelVersionNotFound: ``from_alias`` points nowhere.
    """
    if force and not (reason and reason.strip()):
        raise InvalidArgument("force needs a reason: say why the gate is overridden")
    if from_alias == to_alias:
        raise InvalidArgument(f"from_alias and to_alias are both {from_alias!r}")
    store = current().store
    cand = resolve_prompt_version(f"prompts:/{name}@{from_alias}", store)
    try:
        champ_uri: str | None = resolve_prompt_version(
            f"prompts:/{name}@{to_alias}", store
        ).uri.replace("models:/", "prompts:/")
    except ModelVersionNotFound:
        champ_uri = None
    pol = load_gate_policy(policy)
    ch = evaluate(f"prompts:/{name}/{cand.version}", data, scorers, endpoint=endpoint)
    champ = None if champ_uri is None else evaluate(champ_uri, data, scorers, endpoint=endpoint)
    _check_names(pol, ch)
    result = PromptGateResult(ch, champ, tuple(pol.apply(ch, champ)))
    summary = result.to_markdown()
    actor = current_user()
    store.set_model_version_tag(name, cand.version, TAG_VERSION_GATE, summary[:8000], actor=actor)
    if result.passed or force:
        why = summary if result.passed else f"FORCED: {reason}\n\n{summary}"
        store.set_alias(name, to_alias, cand.version, actor=actor, reason=why[:_REASON_LIMIT])
        return PromptGateResult(ch, champ, result.rules, moved=True)
    return result
