"""What ``mloop loop status`` shows: the state, the rollout step, the last monitor result, and
the next action with when it is due."""

from __future__ import annotations

from typing import Any

from mloop.loop._spec import parse_duration
from mloop.store import Store

__all__ = ["loop_history", "loop_status"]


def _next_action(state: str, ctx: dict[str, Any], spec: dict[str, Any]) -> tuple[str, int | None]:
    if state == "IDLE":
        return "monitor run", int(ctx.get("next_monitor_at", 0))
    if state == "ROLLING_OUT":
        rollout = spec.get("rollout") or {}
        hold = parse_duration(rollout["hold"]) if rollout.get("hold") else 0
        started = int(ctx.get("step_started_at", 0))
        return "analyse the canary step", started + hold
    actions = {
        "MONITORING": "finish the monitor run",
        "RETRAINING": "train the challenger",
        "GATING": "gate the challenger",
        "PROMOTED": "move @champion and clear the deployment record",
        "ROLLED_BACK": "clear the deployment record",
        "GATE_FAILED": "back to IDLE",
        "RETRAIN_FAILED": "back to IDLE",
    }
    return actions.get(state, "back to IDLE"), None


def loop_status(store: Store, name: str) -> dict[str, Any]:
    """The status of loop ``name`` as JSON.

    Raises:
        LoopNotFound: no such loop.
    """
    record = store.get_loop(name)
    ctx = record.context
    results = store.list_monitor_results(name, limit=1)
    action, due = _next_action(record.state, ctx, record.spec)
    out: dict[str, Any] = {
        "name": record.name,
        "model": record.model_name,
        "state": record.state,
        "transitions": record.seq,
        "updated_at": record.updated_at,
        "lease": {"owner": record.lease_owner, "expires": record.lease_expires},
        "next_action": action,
        "next_action_at": due,
        "cooldown_until": ctx.get("cooldown_until"),
        "champion": ctx.get("champion"),
        "challenger": ctx.get("challenger"),
        "last_monitor": results[0].model_dump(mode="json") if results else None,
    }
    if record.state == "ROLLING_OUT":
        steps = (record.spec.get("rollout") or {}).get("steps") or []
        step = int(ctx.get("step", 0))
        out["step"] = {"index": step, "weight": steps[step] if step < len(steps) else None}
    return out


def loop_history(store: Store, name: str) -> list[dict[str, Any]]:
    """Every transition of loop ``name`` with its evidence, oldest first."""
    return [t.model_dump(mode="json") for t in store.list_loop_transitions(name)]
