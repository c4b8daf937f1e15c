"""``explain``: which steps a run would execute, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mloop.pipeline._cache import KeyParts, cache_store
from mloop.pipeline._keys import KeyMaker
from mloop.pipeline._load import load_target
from mloop.pipeline._model import trace


@dataclass
class StepExplanation:
    """Whether a step would run, and why.

    Attributes:
        will_run: False when its result would be taken from the cache.
        reasons: ``["cached (key 3f2a9c01be77)"]``, ``["param alpha 0.1 -> 0.2"]``,
            ``["code of helper `featurize_col` changed"]``, ``["never ran"]``, ...
        cache_key: the key, when it can be known now (not when an upstream step re-runs).
    """

    name: str
    step_id: str
    will_run: bool
    reasons: list[str] = field(default_factory=list)
    cache_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return vars(self).copy()


def _label(key: str, step_name: str) -> str:
    if key == "<step>":
        return f"step `{step_name}`"
    if key.startswith("="):
        return f"constant `{key.rsplit(':', 1)[-1]}`"
    return f"helper `{key.rsplit(':', 1)[-1]}`"


def diff_parts(prev: KeyParts, cur: KeyParts, step_name: str, rerun: set[str]) -> list[str]:
    """What differs between the components of the last run and now, in words."""
    reasons: list[str] = []
    for k in sorted(set(prev.code) | set(cur.code), key=lambda k: (k != "<step>", k)):
        a, b = prev.code.get(k), cur.code.get(k)
        if a == b:
            continue
        label = _label(k, step_name)
        if a is None:
            reasons.append(f"now uses {label}")
        elif b is None:
            reasons.append(f"no longer uses {label}")
        else:
            reasons.append(f"code of {label} changed")
    for k in sorted(set(prev.params) | set(cur.params)):
        pa, pb = prev.params.get(k), cur.params.get(k)
        if pa is not None and pb is not None and pa["sha256"] == pb["sha256"]:
            continue
        if pa is None and pb is not None:
            reasons.append(f"param {k} added ({pb['repr']})")
        elif pb is None and pa is not None:
            reasons.append(f"param {k} removed")
        elif pa is not None and pb is not None:
            reasons.append(f"param {k} {pa['repr']} -> {pb['repr']}")
    for k in sorted(set(prev.inputs) | set(cur.inputs)):
        ia, ib = prev.inputs.get(k), cur.inputs.get(k)
        if ib is None:
            reasons.append(f"input `{k}` removed")
            continue
        sources = ", ".join(ib.get("from", []))
        if ib["sha256"] == "?":
            running = [s for s in ib.get("from", []) if s in rerun] or ib.get("from", [])
            which = (
                f"upstream step {running[0]} re-runs"
                if len(running) == 1
                else f"upstream steps {', '.join(running)} re-run"
            )
            reasons.append(f"input `{k}` changed ({which})")
        elif ia is None:
            reasons.append(f"input `{k}` added (from step {sources})")
        elif ia["sha256"] != ib["sha256"]:
            reasons.append(f"input `{k}` changed (step {sources} produced a different output)")
    for k in sorted(set(prev.packages) | set(cur.packages)):
        va, vb = prev.packages.get(k), cur.packages.get(k)
        if va != vb:
            reasons.append(f"package {k} {va or 'not installed'} -> {vb or 'not installed'}")
    return reasons


def explain(
    target: Any, params: Mapping[str, Any] | None = None, *, cache: bool = True
) -> list[StepExplanation]:
    """Say, for each step call, whether a run with these params would execute it and why,
    without running anything.

    A step whose upstream step re-runs is reported as re-running; at run time it is still
    reused if the upstream output turns out identical.

    Example::

        for e in mloop.pipeline.explain("flows/train.py:train", {"alpha": 0.2}):
            print(e.step_id, "runs" if e.will_run else "cached", "; ".join(e.reasons))
    """
    from mloop.tracking import current_settings

    pipe, _ = load_target(target)
    graph = trace(pipe, params)
    settings = current_settings()
    store = cache_store(settings.artifacts)
    keys = KeyMaker()
    id_of = {n.index: n.step_id for n in graph.nodes}
    outputs: dict[int, str] = {}
    rerun: set[str] = set()
    out: list[StepExplanation] = []
    by_index: dict[int, StepExplanation] = {}
    for i in graph.order:
        node = graph.nodes[i]
        parts = keys.parts(node, outputs, id_of)
        unknown = any(v["sha256"] == "?" for v in parts.inputs.values())
        key = None if unknown else parts.key()
        e = StepExplanation(node.step.name, node.step_id, True, [], key)
        meta = store.entry(key) if key is not None else None
        if key is not None and meta is not None and cache and node.step.options.cache:
            e.will_run = False
            e.reasons = [f"cached (key {key[:12]})"]
            outputs[i] = meta["result"]["sha256"]
        else:
            if not node.step.options.cache:
                e.reasons.append("cache=False")
            elif not cache:
                e.reasons.append("--no-cache")
            last = store.last_key(pipe.name, node.step_id)
            prev_meta = store.meta(str(last["key"])) if last and last.get("key") else None
            if prev_meta is None:
                if not e.reasons:
                    e.reasons.append("never ran")
            else:
                found = diff_parts(
                    KeyParts.from_dict(prev_meta.get("components", {})),
                    parts,
                    node.step.name,
                    rerun,
                )
                e.reasons.extend(r for r in found if r not in e.reasons)
                if not e.reasons:
                    e.reasons.append(
                        f"no cache entry for key {key[:12] if key else '?'} (deleted?)"
                    )
            rerun.add(node.step_id)
        by_index[i] = e
    out = [by_index[n.index] for n in graph.nodes]
    return out
