"""A model under a closed loop, written through the store API: two versions, a deployment
record, a loop with its transitions (and their evidence), monitor results with drift per column,
realized and estimated performance, and alerts. Times are fixed, so nothing depends on the
clock."""

from __future__ import annotations

from typing import Any

from mloop.registry import deployment_spec
from mloop.store import Store

MODEL = "fraud"
LOOP = "fraud-loop"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
COLUMNS = ("amount", "country", "device", "hour")
#: (column, monitor run) pairs that drifted: "amount" from the fourth run on
DRIFTED = {("amount", 3), ("amount", 4), ("amount", 5), ("country", 5)}
RUNS = 6
#: the states the loop went through, with why
PATH = [
    ("MONITORING", "monitor run due"),
    ("RETRAINING", "drift on amount: 50% of the columns drifted"),
    ("GATING", "retrained: version 2"),
    ("ROLLING_OUT", "gate passed"),
]


def _result(i: int) -> dict[str, Any]:
    columns = {
        c: {
            "drifted": (c, i) in DRIFTED,
            "method": "ks" if c in ("amount", "hour") else "chi2",
            "statistic": 0.05 + 0.1 * i if c == "amount" else 0.02 * (k + 1),
            "p_value": 0.001 if (c, i) in DRIFTED else 0.4,
            "status": "ok",
        }
        for k, c in enumerate(COLUMNS)
    }
    drifted = sum(1 for c in COLUMNS if (c, i) in DRIFTED)
    return {
        "window_start": T0 + (i - 1) * HOUR,
        "window_end": T0 + i * HOUR,
        "rows": 500,
        "labels": 200,
        "label_coverage": 0.4,
        "drift": {
            "dataset_drift": drifted / len(COLUMNS) >= 0.5,
            "drifted_share": drifted / len(COLUMNS),
            "share": 0.5,
            "columns": columns,
        },
        "performance": {
            "metric": "accuracy",
            "labels": 200,
            "realized": 0.9 - 0.02 * i,
            "baseline": 0.9,
        },
        "estimated": {"method": "cbpe", "rows": 500, "estimated": 0.89 - 0.015 * i, "metrics": {}},
    }


def fill(store: Store) -> dict[str, Any]:
    """Write the model and its loop's history; returns what a test checks against."""
    store.create_registered_model(MODEL, description="card fraud")
    for v in (1, 2):
        store.create_model_version(MODEL, f"/models/fraud/{v}", reason=f"version {v}")
    store.set_alias(MODEL, "champion", 1, reason="first")
    store.set_alias(MODEL, "challenger", 2, reason="retrained")
    policy = {"canary": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]}
    store.set_deployment(MODEL, deployment_spec(MODEL, policy), reason="canary v2 at 10%")
    store.ensure_loop(LOOP, MODEL, {"model": MODEL, "monitor": {"every": "1h"}}, now=T0)
    store.acquire_loop_lease(LOOP, "controller-1", ttl_ms=10 * HOUR, now=T0)
    for i in range(RUNS):
        result = _result(i)
        status = "alert" if result["drift"]["dataset_drift"] else "ok"
        store.add_monitor_result(LOOP, status=status, result=result, now=T0 + i * HOUR)
    for k, (state, reason) in enumerate(PATH):
        evidence = {"monitor_result": RUNS} if state == "RETRAINING" else {}
        if state == "GATING":
            evidence = {"run_id": "a" * 32, "version": 2}
        store.transition_loop(
            LOOP,
            owner="controller-1",
            expected_seq=k,
            to_state=state,
            context={"challenger": 2} if k >= 2 else {},
            reason=reason,
            evidence=evidence,
            actor="loop:fraud-loop",
            now=T0 + (RUNS + k) * HOUR,
        )
    store.add_alert_delivery(
        LOOP,
        condition="drift",
        sink="webhook",
        status="delivered",
        attempts=1,
        payload={"text": "drift on fraud: 50% of the columns drifted"},
        now=T0 + 4 * HOUR,
    )
    store.add_alert_delivery(
        LOOP,
        condition="performance",
        sink="webhook",
        status="failed",
        attempts=3,
        error="HTTP 503 from the hook",
        payload={"text": "accuracy fell"},
        now=T0 + 5 * HOUR,
    )
    return {
        "model": MODEL,
        "loop": LOOP,
        "columns": list(COLUMNS),
        "runs": RUNS,
        "drifted": len(DRIFTED),
        "transitions": len(PATH),
        "alerts": 2,
        "state": PATH[-1][0],
    }


TRACE_ID = "7" * 32


def fill_trace(store: Store) -> dict[str, str]:
    """A GenAI trace of four spans (a chain, a retriever, an LLM call, a failing tool), made
    in a run; returns the trace and run ids."""
    us = T0 * 1000
    experiment = store.create_experiment("assistant")
    run = store.create_run(experiment.experiment_id, run_name="rag-eval", start_time=T0)
    run_id = run.info.run_id

    def span(
        sid: str, parent: str | None, name: str, kind: str, start_ms: int, end_ms: int, **more: Any
    ) -> dict[str, Any]:
        return {
            "trace_id": TRACE_ID,
            "span_id": sid * 16,
            "parent_id": None if parent is None else parent * 16,
            "name": name,
            "kind": kind,
            "start_us": us + start_ms * 1000,
            "end_us": us + end_ms * 1000,
            "model_name": MODEL,
            "run_id": run_id,
            **more,
        }

    store.log_spans(
        [
            span("b", "a", "retrieve", "retriever", 50, 350, outputs='["doc-1", "doc-2"]'),
            span(
                "c",
                "a",
                "chat",
                "llm",
                400,
                1100,
                inputs='{"prompt": "Is this card payment fraud?"}',
                outputs='{"answer": "no"}',
                prompt_tokens=120,
                completion_tokens=8,
                cost=0.0004,
            ),
            span("d", "c", "parse", "tool", 900, 1000, status="ERROR", error="ValueError: no JSON"),
            span("a", None, "answer", "chain", 0, 1200, inputs='{"question": "fraud?"}'),
        ]
    )
    return {"trace": TRACE_ID, "trace_run": run_id}
