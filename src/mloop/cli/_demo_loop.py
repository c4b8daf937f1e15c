"""The loop steps of ``mloop demo`` around training: validate the data, gate the best model into
``@champion``, and preview drift monitoring against the champion's reference profile.

Each step prints one line of progress on stderr and returns a JSON-ready summary.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop._core._tags import TAG_SOURCE
from mloop.errors import ModelVersionNotFound, RegisteredModelNotFound

if TYPE_CHECKING:
    from rich.console import Console

    from mloop.evaluate import GateResult
    from mloop.registry import Registry

TRAIN_DATASET = "demo-train"
HOLDOUT_DATASET = "demo-holdout"
MODEL_NAME = "demo-classifier"
#: The closed loop the demo runs on MODEL_NAME (``_demo_closed_loop``).
LOOP_NAME = "demo-loop"
TARGET = "target"
#: The built-in promotion policy: no accuracy loss beyond a point, no AUC regression, fast.
POLICY = (
    "accuracy >= champion.accuracy - 0.01",
    "roc_auc >= champion.roc_auc",
    "p99_latency_ms <= 250",
)
#: The feature the monitoring preview shifts, and by how much.
SHIFTED_FEATURE = "mean radius"
SHIFT_FACTOR = 1.3
DRIFT_REPORT = "drift.html"


@contextmanager
def step(err: Console, description: str) -> Iterator[dict[str, str]]:
    """One line of progress: a spinner while the step runs, then ``done`` with a check mark and
    the time it took (printed, not live, so that a long line wraps instead of being cut)."""
    started = time.perf_counter()
    line = {"done": description}
    with err.status(description):
        yield line
    err.print(
        f"[green]✓[/] {line['done']} [dim]{time.perf_counter() - started:.1f} s[/]",
        soft_wrap=True,
        highlight=False,
    )


# -- 1. validate data --------------------------------------------------------------------------


def validate_data(data: dict[str, Any], err: Console) -> dict[str, Any]:
    """Register both splits as datasets, draft checks on train and run them on the holdout."""
    from mloop.data import check, infer_checks, register

    with step(err, "validating data: registering datasets, drafting checks") as line:
        tags = {"source": "sklearn.datasets.load_breast_cancer", TAG_SOURCE: "mloop demo"}
        train = register(
            data["train_frame"], TRAIN_DATASET, description="mloop demo: train split", tags=tags
        )
        holdout = register(
            data["holdout_frame"],
            HOLDOUT_DATASET,
            description="mloop demo: holdout split",
            tags=tags,
        )
        checks = infer_checks(data["train_frame"])
        report = check(data["holdout_frame"], checks)
        failed = report.failures
        n_pass = len(report.results) - len(failed)
        line["done"] = (
            f"validated data: {train.uri} ({train.num_rows} rows), {holdout.uri} "
            f"({holdout.num_rows} rows); checks drafted on train: {n_pass}/{len(report.results)} "
            "pass on holdout"
        )
    return {
        "train": train,
        "holdout": holdout,
        "checks": {
            "total": len(report.results),
            "passed": n_pass,
            "failed": len(failed),
            "failures": [
                {
                    "column": f.column,
                    "check": f.check,
                    "expected": f.expected,
                    "failed_rows": f.failed_rows,
                }
                for f in failed
            ],
        },
    }


def dataset_json(ds: Any) -> dict[str, Any]:
    return {"uri": ds.uri, "version": ds.version, "digest": ds.digest, "rows": ds.num_rows}


# -- 3. register + gate ------------------------------------------------------------------------


def _alias_version(registry: Registry, alias: str) -> int | None:
    try:
        return registry.resolve(f"models:/{MODEL_NAME}@{alias}").version
    except (ModelVersionNotFound, RegisteredModelNotFound):
        return None


def _trained_by_loop(registry: Registry, version: int | None) -> bool:
    if version is None:
        return False
    mv = registry.resolve(f"models:/{MODEL_NAME}/{version}")
    return mv.tags.get("mloop.loop") == LOOP_NAME


def register_and_gate(
    registry: Registry,
    baseline_version: int,
    best_version: int,
    holdout: Any,
    err: Console,
) -> dict[str, Any]:
    """Make the baseline ``@champion`` if there is none, then promote the best run's version
    from ``@challenger`` to ``@champion`` behind :data:`POLICY`."""
    from mloop.evaluate import promote

    with step(err, f"gating {MODEL_NAME} v{best_version} against @champion") as line:
        champion_before = _alias_version(registry, "champion")
        # A champion an earlier demo's loop retrained on drifted traffic: start from the
        # bundled data again, so that this demo's loop finds the drift again.
        replaced = champion_before if _trained_by_loop(registry, champion_before) else None
        baseline_set = champion_before is None or replaced is not None
        if baseline_set:
            registry.set_alias(
                MODEL_NAME,
                "champion",
                baseline_version,
                reason="mloop demo: the baseline (the first model trained) starts as champion"
                + (
                    f" in place of v{replaced}, retrained by the demo's loop on drifted traffic"
                    if replaced is not None
                    else ""
                ),
            )
            champion_before = baseline_version
        registry.set_alias(
            MODEL_NAME,
            "challenger",
            best_version,
            reason="mloop demo: the best run of this demo by roc_auc",
        )
        result = promote(
            MODEL_NAME,
            data=holdout,
            target=TARGET,
            policy=list(POLICY),
            reason=None,
            registry=registry,
            log=False,
        )
        promotion = result.promotion
        moved = promotion is not None and promotion.moved
        champion_after = _alias_version(registry, "champion")
        verdict = "passed" if result.passed else "failed"
        line["done"] = (
            f"gated {MODEL_NAME} v{best_version} (@challenger) against v{champion_before} "
            f"(@champion): {sum(r.passed for r in result.rules)}/{len(result.rules)} rules "
            f"{verdict}, @champion "
            + (
                f"moved to v{champion_after}"
                if moved and champion_after != champion_before
                else f"stays v{champion_after}"
            )
        )
    return {
        "name": MODEL_NAME,
        "baseline_version": baseline_version,
        "baseline_set_as_champion": baseline_set,
        "replaced_loop_champion": replaced,
        "challenger_version": best_version,
        "champion_before": champion_before,
        "champion": champion_after,
        "moved": moved,
        "gate": _gate_json(result),
    }


def _gate_json(result: GateResult) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "policy": list(POLICY),
        "rules": [
            {
                "rule": r.rule,
                "passed": r.passed,
                "challenger": r.challenger,
                "champion": r.champion,
                "threshold": r.threshold,
                "reason": r.reason,
            }
            for r in result.rules
        ],
        "promotion": None if result.promotion is None else result.promotion.to_dict(),
    }


# -- 4. monitor (a preview) --------------------------------------------------------------------


def monitor_preview(
    champion_version: int, holdout_features: Any, home: Path, err: Console
) -> dict[str, Any]:
    """Compare the champion's stored reference profile with a shifted copy of the holdout."""
    from mloop.data import drift
    from mloop.models import load

    uri = f"models:/{MODEL_NAME}/{champion_version}"
    with step(err, f"monitoring preview: drift of a shifted holdout against {uri}") as line:
        reference = load(uri).reference_profile()
        if reference is None:  # pragma: no cover - the demo always stores one
            raise RuntimeError(f"{uri} has no reference profile")
        current = holdout_features.copy()
        current[SHIFTED_FEATURE] = current[SHIFTED_FEATURE] * SHIFT_FACTOR
        result = drift(reference, current)
        home.mkdir(parents=True, exist_ok=True)
        report = home / DRIFT_REPORT
        result.to_html(report, title=f"mloop demo: drift against {uri}")
        drifted = result.drifted_columns
        line["done"] = (
            f"monitoring preview: {len(drifted)} of {len(result.tested)} columns drift "
            f"({SHIFTED_FEATURE!r} scaled by {SHIFT_FACTOR}) -> {report}"
        )
    return {
        "model_uri": uri,
        "shift": {"column": SHIFTED_FEATURE, "factor": SHIFT_FACTOR},
        "columns_tested": len(result.tested),
        "drifted_columns": drifted,
        "dataset_drift": result.dataset_drift,
        "report": str(report),
    }


# -- the summary -------------------------------------------------------------------------------


def print_loop_summary(
    console: Console, validation: Mapping[str, Any], gate: Mapping[str, Any], monitor: Any
) -> None:
    """The checks' verdict, the gate's rule table and the alias move, the drifted columns."""
    from rich.table import Table

    from mloop.cli._output import fmt_number

    checks = validation["checks"]
    console.print(
        f"\ndata: {validation['train'].uri}, {validation['holdout'].uri}; "
        f"{checks['passed']}/{checks['total']} drafted checks pass on the holdout",
        soft_wrap=True,
    )
    for failure in checks["failures"][:3]:
        console.print(
            f"  [yellow]✗[/] {failure['column'] or 'table'}: {failure['check']} "
            f"{failure['expected']} fails in {failure['failed_rows']} row(s)",
            soft_wrap=True,
        )
    if len(checks["failures"]) > 3:
        console.print(f"  [dim]... and {len(checks['failures']) - 3} more[/]")

    report = gate["gate"]
    if gate["replaced_loop_champion"] is not None:
        console.print(
            f"{gate['name']}'s @champion v{gate['replaced_loop_champion']} was retrained by "
            f"the demo's loop on drifted traffic: the baseline v{gate['baseline_version']} "
            "(the first model trained) took its place",
            soft_wrap=True,
        )
    elif gate["baseline_set_as_champion"]:
        console.print(
            f"{gate['name']} had no @champion: the baseline v{gate['baseline_version']} "
            "(the first model trained) became it"
        )
    table = Table(
        title=(
            f"gate: {gate['name']} v{gate['challenger_version']} (@challenger) vs "
            f"v{gate['champion_before']} (@champion)"
        ),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for column, justify in (
        ("", "left"),
        ("rule", "left"),
        ("challenger", "right"),
        ("champion", "right"),
        ("threshold", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for rule in report["rules"]:
        table.add_row(
            "[green]✓[/]" if rule["passed"] else "[red]✗[/]",
            rule["rule"],
            *(
                "-" if rule[k] is None else fmt_number(rule[k], 4)
                for k in ("challenger", "champion", "threshold")
            ),
        )
    console.print(table)
    if gate["challenger_version"] == gate["champion_before"]:
        console.print(f"@champion stays v{gate['champion']}: the best run is the champion")
    elif gate["moved"]:
        console.print(
            f"[bold green]@champion moved[/]: v{gate['champion_before']} -> v{gate['champion']}"
        )
    else:
        console.print(
            f"[bold yellow]@champion not moved[/]: stays v{gate['champion']}, "
            f"v{gate['challenger_version']} stays @challenger"
        )
    drifted = monitor["drifted_columns"]
    console.print(
        f"drift preview ({monitor['shift']['column']!r} x{monitor['shift']['factor']}): "
        + (", ".join(repr(c) for c in drifted) if drifted else "no column")
        + f" drifted of {monitor['columns_tested']} against {monitor['model_uri']}'s "
        "reference profile",
        soft_wrap=True,
    )
