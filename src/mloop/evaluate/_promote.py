"""``promote``: gate a registered model's challenger against its champion, then move the alias."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop._core._tags import TAG_VERSION_GATE
from mloop.errors import InvalidArgument, ModelVersionNotFound
from mloop.evaluate._gate import GateResult, Promotion, run_gate
from mloop.evaluate._policy import GatePolicy, load_gate_policy

if TYPE_CHECKING:
    from mloop.registry import Registry

__all__ = ["GATE_TAG", "promote"]

#: The version tag that holds the last gate report of a version (its change is audited).
GATE_TAG = TAG_VERSION_GATE
#: The store's limit on an audit reason (``MAX_REASON`` of the registry store).
REASON_LIMIT = 4_096
#: The store's limit on a tag value.
TAG_LIMIT = 8_000


def _clip(text: str, limit: int) -> str:
    marker = "\n…(truncated)"
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def promote(
    name: str,
    *,
    from_alias: str = "challenger",
    to_alias: str = "champion",
    data: Any,
    target: str,
    policy: GatePolicy | str | Path | Sequence[str | Mapping[str, Any]],
    task: str = "classification",
    slices: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    force: bool = False,
    reason: str | None = None,
    registry: Registry | None = None,
    log: bool = True,
    progress: Callable[[str], None] | None = None,
) -> GateResult:
    """Gate ``name@from_alias`` against ``name@to_alias``; move ``to_alias`` only if it passes.

    The gate's Markdown summary is recorded either way: as the version tag ``mloop.gate.last``
    on the challenger (an audited change), and as the reason of the alias move when the alias
    moves. ``force`` (which needs ``reason``) moves the alias even when the gate fails; the
    audit reason then starts with ``FORCED:``.

    Args:
        name: the registered model.
        from_alias, to_alias: the challenger's alias, and the alias to move to it.
        data, target, task, slices, sensitive: as :func:`mloop.evaluate.gate`.
        policy: a :class:`GatePolicy`, a YAML file, or a list of rules.
        force: move the alias even if the gate fails.
        reason: why; required with ``force``, recorded in the audit log.
        registry: the registry; default the one the settings name.
        progress: as for :func:`mloop.evaluate.gate`.

    Returns:
        The :class:`GateResult`, with ``promotion`` saying whether the alias moved.

    Raises:
        InvalidArgument: ``force`` without a ``reason``, or the same alias twice.
        ModelVersionNotFound: ``from_alias`` points nowhere.
        PolicyError: ``champion.`` rules while ``to_alias`` does not exist (unless ``force``).

    Example::

        result = promote("churn", data="test.parquet", target="churned", policy="gate.yaml")
        result.promotion.moved
    """
    if force and not (reason and reason.strip()):
        raise InvalidArgument("--force needs a --reason: say why the gate is overridden")
    if from_alias == to_alias:
        raise InvalidArgument(f"from and to are the same alias {from_alias!r}")
    policy = load_gate_policy(policy)
    if registry is None:
        from mloop.registry import Registry

        registry = Registry()
    challenger = registry.resolve(f"models:/{name}@{from_alias}")
    try:
        champion = registry.resolve(f"models:/{name}@{to_alias}")
    except ModelVersionNotFound:
        champion = None
        if not force:
            policy.require_champion(False, why=f"{name}@{to_alias} does not exist yet")
    champion_uri = None if champion is None else f"models:/{name}/{champion.version}"
    result = run_gate(
        f"models:/{name}/{challenger.version}",
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
    moved = result.passed or force
    forced = force and not result.passed
    if forced:
        why = f"FORCED: {reason}"
    elif reason:
        why = reason
    else:
        why = "gate passed" if result.passed else "gate failed"
    promotion = Promotion(
        name,
        from_alias,
        to_alias,
        challenger.version,
        None if champion is None else champion.version,
        moved,
        forced,
        why,
    )
    result = dataclasses.replace(result, promotion=promotion)
    report = result.to_markdown()
    registry.store.set_model_version_tag(
        name, challenger.version, GATE_TAG, _clip(report, TAG_LIMIT), actor=registry.actor
    )
    if moved:
        registry.set_alias(
            name, to_alias, challenger.version, reason=_clip(f"{why}\n\n{report}", REASON_LIMIT)
        )
    return result
