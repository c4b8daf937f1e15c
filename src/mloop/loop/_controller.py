"""The loop controller: a state machine per loop, persisted in the metadata store.

::

    IDLE -> MONITORING -> IDLE                          (nothing fired, or skipped: no data)
                       -> RETRAINING -> RETRAIN_FAILED -> IDLE          (alert, cooldown)
                                     -> GATING -> GATE_FAILED -> IDLE   (alert, cooldown)
                                               -> ROLLING_OUT (step i, hold, analysis)
                                                    -> PROMOTED -> IDLE
                                                    -> ROLLED_BACK -> IDLE   (alert)

Each transition is one transaction in the store (:meth:`Store.transition_loop`: a
compare-and-set on the loop's transition count, allowed only to the lease holder) with its
reason and evidence. Every action is either done before the transition that records it and
found again on resume (datasets are content-addressed, pipeline steps cached, registrations
tagged with the transition that made them), or done after the transition that decided it and
idempotent (moving an alias to where it points, writing a deployment record that already says
so). A controller killed in any state therefore resumes where it was, with no duplicate
retrain, registration or alias move.

Durations (``every``, ``hold``, ``cooldown``) are read from an injected clock, so tests tick the
loop without sleeping.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mloop.errors import LoopLeaseHeld, MloopError, StepFailed, StoreUnavailable
from mloop.loop._spec import LoopSpec
from mloop.store import ArtifactStore, LoopTransition, Store

__all__ = ["STATES", "Clock", "Controller", "Move", "SystemClock"]

logger = logging.getLogger("mloop.loop")

STATES = (
    "IDLE",
    "MONITORING",
    "RETRAINING",
    "RETRAIN_FAILED",
    "GATING",
    "GATE_FAILED",
    "ROLLING_OUT",
    "PROMOTED",
    "ROLLED_BACK",
)
#: Transitions one tick makes at most (a tick stops earlier at a wait, such as a hold, and
#: once back in IDLE).
MAX_MOVES_PER_TICK = 16


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time in milliseconds since the epoch."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


@dataclass
class Move:
    """A decided transition: where to, why, with what evidence and new context."""

    to: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    #: An alert to send once the transition is stored: (condition, text).
    alert: tuple[str, str] | None = None


class _Heartbeat:
    """Renews the controller's lease every third of its time to live while a tick runs; a
    renewal that fails (the store is away, another controller took the loop) is logged, and
    the transition that follows is refused by the store if the lease was lost."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mloop-loop-lease", daemon=True)

    def _run(self) -> None:
        interval = self.controller.lease_ttl_ms / 3000
        while not self._stop.wait(interval):
            try:
                self.controller._renew()
            except MloopError as exc:
                name = self.controller.spec.name
                logger.warning("loop %s: renewing the lease failed: %s", name, exc)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Controller:
    """Runs one loop against a store.

    Args:
        spec: the loop (:func:`mloop.loop.load_loop`).
        store: the metadata store; default the current one.
        artifacts: where the prediction log is; default the current store's.
        clock: the time source (``now_ms()``); default the wall clock.
        owner: this controller's lease identity; default host:pid:random.
        lease_ttl_ms: how long a lease lasts without renewal; every tick renews it.
        on_transition: called with each transition made (the CLI prints them).
        ray_address: the Ray cluster of monitor runs with ``monitor.engine: ray``; default the
            settings' ``ray_address`` (``MLOOP_RAY_ADDRESS``), else the Ray of this process or
            a local one.

    Example::

        controller = Controller(load_loop("loop.yaml"))
        controller.tick()   # one step of the loop, as `mloop loop run --once` does
    """

    def __init__(
        self,
        spec: LoopSpec,
        *,
        store: Store | None = None,
        artifacts: ArtifactStore | None = None,
        clock: Clock | None = None,
        owner: str | None = None,
        lease_ttl_ms: int = 120_000,
        on_transition: Callable[[LoopTransition], None] | None = None,
        actor: str = "mloop-loop",
        ray_address: str | None = None,
    ) -> None:
        from mloop.store import current

        ctx = None
        if store is None or artifacts is None:
            ctx = current()
        if ray_address is None and ctx is not None:
            ray_address = ctx.settings.ray_address
        self.ray_address = ray_address or None
        self.spec = spec
        self.store = store if store is not None else ctx.store  # type: ignore[union-attr]
        self.artifacts = artifacts if artifacts is not None else ctx.artifacts  # type: ignore[union-attr]
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_ttl_ms = lease_ttl_ms
        self.on_transition = on_transition
        self.actor = actor
        self._registered = False

    # -- driving -------------------------------------------------------------------------------

    def tick(self) -> list[LoopTransition]:
        """Take (or renew) the lease and move the loop as far as it can go now.

        Returns:
            The transitions made.

        Raises:
            LoopLeaseHeld: another controller runs this loop.
        """
        now = self.clock.now_ms()
        if not self._registered:
            self.store.ensure_loop(self.spec.name, self.spec.model, self.spec.to_json(), now=now)
            self._registered = True
        self.store.acquire_loop_lease(self.spec.name, self.owner, ttl_ms=self.lease_ttl_ms, now=now)
        # Actions can outlast the lease (a pipeline may train for hours): renew it meanwhile.
        with _Heartbeat(self):
            return self._moves()

    def _renew(self) -> None:
        self.store.acquire_loop_lease(
            self.spec.name, self.owner, ttl_ms=self.lease_ttl_ms, now=self.clock.now_ms()
        )

    def _moves(self) -> list[LoopTransition]:
        made: list[LoopTransition] = []
        for _ in range(MAX_MOVES_PER_TICK):
            record = self.store.get_loop(self.spec.name)
            move = self._decide(record.state, dict(record.context))
            if move is None:
                break
            transition = self.store.transition_loop(
                self.spec.name,
                owner=self.owner,
                expected_seq=record.seq,
                to_state=move.to,
                context=move.context,
                reason=move.reason,
                evidence=move.evidence,
                actor=self.actor,
                now=self.clock.now_ms(),
            )
            from mloop.loop._metrics import TRANSITIONS

            TRANSITIONS.labels(self.spec.name, move.to).inc()
            logger.info(
                "loop %s: %s -> %s (%s)",
                self.spec.name,
                transition.from_state,
                transition.to_state,
                move.reason,
            )
            made.append(transition)
            if self.on_transition is not None:
                self.on_transition(transition)
            if move.alert is not None and self.spec.alerts:
                from mloop.loop._alerts import send_alert

                condition, text = move.alert
                send_alert(
                    self.spec,
                    self.store,
                    condition=condition,
                    text=text,
                    details={"transition": transition.seq, **move.evidence},
                    now_ms=self.clock.now_ms(),
                )
            if move.to == "IDLE":
                break  # one cycle per tick: the next monitor run is the next tick's
        return made

    def run(
        self,
        *,
        interval_s: float = 5.0,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """Tick every ``interval_s`` until ``should_stop()``; a store that is unreachable for a
        while, or a lease another controller holds, is waited for (logged once), then the loop
        resumes where it was."""
        outage: str | None = None
        try:
            while not should_stop():
                try:
                    self.tick()
                    if outage is not None:
                        logger.info("loop %s: running again", self.spec.name)
                        outage = None
                except LoopLeaseHeld as exc:
                    # Another controller runs the loop: wait to take over when it stops.
                    if outage != "lease":
                        logger.warning("loop %s: %s; waiting", self.spec.name, exc)
                    outage = "lease"
                except StoreUnavailable as exc:
                    if outage is None:
                        logger.warning(
                            "loop %s: the store is unreachable (%s); waiting", self.spec.name, exc
                        )
                    outage = str(exc)
                sleep(interval_s)
        finally:
            try:
                self.store.release_loop_lease(self.spec.name, self.owner)
            except MloopError:
                pass

    # -- the state machine ---------------------------------------------------------------------

    def _decide(self, state: str, ctx: dict[str, Any]) -> Move | None:
        handler = getattr(self, f"_on_{state.lower()}", None)
        if handler is None:
            return Move("IDLE", f"unknown state {state}: back to IDLE", context=ctx)
        move: Move | None = handler(ctx)
        return move

    def _now(self) -> int:
        return self.clock.now_ms()

    def _expire(self, before_ms: int) -> dict[str, Any]:
        """Retention: the model's log days that ended before ``before_ms`` and their partials
        are removed. A failure is reported in the result and retried by the next run."""
        from mloop.monitor import expire_predictions

        try:
            done = expire_predictions(self.artifacts, before_ms / 1000, model=self.spec.model)
        except StoreUnavailable:
            raise
        except MloopError as exc:
            logger.warning("loop %s: retention failed: %s", self.spec.name, exc)
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"days": len(done.days), "segments": done.segments, "partials": done.partials}

    def _on_idle(self, ctx: dict[str, Any]) -> Move | None:
        due = int(ctx.get("next_monitor_at", 0))
        if self._now() < due:
            return None
        return Move("MONITORING", "monitor run due", {"due": due}, ctx)

    def _on_monitoring(self, ctx: dict[str, Any]) -> Move:
        from mloop.loop._monitor import run_monitor

        spec, now = self.spec, self._now()
        try:
            status, result, triggers = run_monitor(
                spec,
                store=self.store,
                artifacts=self.artifacts,
                now_ms=now,
                ray_address=self.ray_address,
            )
        except StoreUnavailable:
            raise
        except MloopError as exc:  # a model without a reference, bad checks: recorded, retried
            status, triggers = "error", []
            result = {"window_end": now, "error": f"{type(exc).__name__}: {exc}"}
            result["reason"] = f"monitor run failed: {exc}"
        if spec.monitor.retention_ms is not None:
            result["expired"] = self._expire(now - spec.monitor.retention_ms)
        stored = self.store.add_monitor_result(spec.name, status=status, result=result, now=now)
        ctx = {
            **ctx,
            "next_monitor_at": now + spec.monitor.every_ms,
            "last_monitor": stored.result_id,
        }
        evidence: dict[str, Any] = {"monitor_result_id": stored.result_id, "status": status}
        retrain = spec.retrain
        if retrain is not None and "schedule" in retrain.on and retrain.schedule_ms is not None:
            last = int(ctx.get("last_retrain_at", 0))
            if now - last >= retrain.schedule_ms and status != "skipped":
                triggers = [*triggers, "schedule"]
        if status in ("skipped", "error"):
            return Move("IDLE", result.get("reason", "skipped"), evidence, ctx)
        fired = [t for t in triggers if retrain is not None and t in retrain.on]
        alert = None
        if "drift" in triggers:
            share = result.get("drift", {}).get("drifted_share", 0.0)
            alert = ("drift", f"drift on {spec.model}: {share:.0%} of the columns drifted")
        if not fired:
            reason = (
                "monitor: " + ", ".join(triggers) + " (no retrain configured for it)"
                if triggers
                else "monitor: no trigger fired"
            )
            return Move("IDLE", reason, {**evidence, "triggers": triggers}, ctx, alert)
        cooldown_until = int(ctx.get("cooldown_until", 0))
        if now < cooldown_until:
            return Move(
                "IDLE",
                f"monitor: {', '.join(fired)} fired, but retraining cools down for "
                f"{(cooldown_until - now) / 60_000:.0f} more min",
                {**evidence, "triggers": fired, "cooldown_until": cooldown_until},
                ctx,
                alert,
            )
        assert retrain is not None
        window_end = now
        ctx = {
            **ctx,
            "retrain": {
                "key": f"{spec.name}:{uuid.uuid4().hex[:12]}",
                "window_start": now - spec.monitor.window_ms,
                "window_end": window_end,
                "triggers": fired,
            },
        }
        return Move(
            "RETRAINING",
            f"monitor: {', '.join(fired)} fired: retrain",
            {**evidence, "triggers": fired},
            ctx,
            alert,
        )

    def _on_retraining(self, ctx: dict[str, Any]) -> Move:
        from mloop.loop._retrain import (
            find_registered,
            labelled_window,
            register_challenger,
            register_window,
            run_pipeline,
        )

        spec, now = self.spec, self._now()
        job = dict(ctx.get("retrain") or {})
        key = str(job.get("key", ""))
        reason = f"loop {spec.name}: retrain {key}"
        registered = find_registered(self.store, spec.model, key) if key else None
        try:
            if registered is None and "holdout" not in job:
                frame = labelled_window(
                    spec, self.artifacts, int(job["window_start"]), int(job["window_end"])
                )
                perf = spec.monitor.performance
                need = perf.min_labels if perf is not None else 10
                if len(frame) < need:
                    ctx = {k: v for k, v in ctx.items() if k != "retrain"}
                    return Move(
                        "IDLE",
                        f"skipped: not enough data to retrain ({len(frame)} labelled rows in "
                        f"the window, need {need})",
                        {"rows": len(frame)},
                        ctx,
                    )
                train_uri, holdout_uri = register_window(spec, self.store, frame, reason=reason)
                job.update(train=train_uri, holdout=holdout_uri, rows=len(frame))
                # Recorded before training: a resumed controller trains on exactly these.
                return Move(
                    "RETRAINING",
                    f"labelled window registered ({len(frame)} rows): training",
                    {"train": train_uri, "holdout": holdout_uri, "rows": len(frame)},
                    {**ctx, "retrain": job},
                )
            if registered is None:
                run_id, source = run_pipeline(spec, job["train"])
                job.update(run_id=run_id, source=source)
                registered = register_challenger(
                    spec,
                    self.store,
                    source=source,
                    run_id=run_id,
                    key=key,
                    actor=self.actor,
                    reason=reason,
                )
            else:  # registered before a crash: point @challenger at it again (idempotent)
                register_challenger(
                    spec,
                    self.store,
                    source=registered.source,
                    run_id=registered.run_id,
                    key=key,
                    actor=self.actor,
                    reason=reason,
                )
        except StepFailed as exc:
            return self._cool(
                ctx,
                "RETRAIN_FAILED",
                f"the retrain pipeline failed: {exc}",
                {"step": exc.step, "traceback": exc.traceback[-8_000:]},
            )
        except StoreUnavailable:
            raise
        except MloopError as exc:
            return self._cool(
                ctx,
                "RETRAIN_FAILED",
                f"retraining failed: {exc}",
                {"error": f"{type(exc).__name__}: {exc}"},
            )
        job["version"] = registered.version
        champion = self._champion()
        ctx = {**ctx, "retrain": job, "challenger": registered.version, "champion": champion}
        return Move(
            "GATING",
            f"v{registered.version} registered as @challenger",
            {
                "run_id": job.get("run_id") or registered.run_id,
                "version": registered.version,
                "train": job.get("train"),
                "holdout": job.get("holdout"),
            },
            {**ctx, "last_retrain_at": now},
        )

    def _champion(self) -> int | None:
        from mloop.errors import ModelVersionNotFound, RegisteredModelNotFound

        try:
            return self.store.get_model_version_by_alias(self.spec.model, "champion").version
        except (ModelVersionNotFound, RegisteredModelNotFound):
            return None

    def _on_gating(self, ctx: dict[str, Any]) -> Move:
        from mloop.loop._retrain import run_gate

        job = ctx.get("retrain") or {}
        challenger = int(ctx["challenger"])
        champion = ctx.get("champion")
        try:
            passed, report = run_gate(
                self.spec,
                challenger=challenger,
                champion=None if champion is None else int(champion),
                holdout_uri=str(job["holdout"]),
                store=self.store,
            )
        except StoreUnavailable:
            raise
        except MloopError as exc:
            return self._cool(
                ctx, "GATE_FAILED", f"the gate could not run: {exc}", {"error": str(exc)}
            )
        if not passed:
            failed = [r["rule"] for r in report["rules"] if not r["passed"]]
            return self._cool(
                ctx,
                "GATE_FAILED",
                f"v{challenger} failed the gate: {'; '.join(failed)}",
                {"gate": report},
            )
        if champion is None:  # nothing serves yet: the gate alone decides
            return Move(
                "PROMOTED", f"v{challenger} passed the gate; no champion yet", {"gate": report}, ctx
            )
        steps = self.spec.rollout.steps
        return Move(
            "ROLLING_OUT",
            f"v{challenger} passed the gate: canary at {steps[0]:g}%",
            {"gate": report},
            {**ctx, "step": 0, "step_started_at": self._now()},
        )

    def _desired_split(self, ctx: dict[str, Any], weight: float) -> dict[str, Any]:
        champion, challenger = int(ctx["champion"]), int(ctx["challenger"])
        if weight >= 100:
            return {"canary": [{"version": challenger, "weight": 100.0}]}
        return {
            "canary": [
                {"version": champion, "weight": float(100 - weight)},
                {"version": challenger, "weight": float(weight)},
            ]
        }

    def _apply_split(self, spec: dict[str, Any], reason: str) -> int:
        """Write the deployment record unless it already says ``spec`` (idempotent)."""
        from mloop.registry import Registry

        registry = Registry(self.store, actor=self.actor)
        record = registry.get_deployment(self.spec.model)
        if record.spec == spec:
            return record.generation
        return registry.set_deployment(
            self.spec.model, spec, expected_generation=record.generation, reason=reason
        ).generation

    def _on_rolling_out(self, ctx: dict[str, Any]) -> Move | None:
        from mloop.loop._analysis import analyse, evaluate_rules

        rollout, now = self.spec.rollout, self._now()
        step = int(ctx.get("step", 0))
        weight = rollout.steps[step]
        seq = self.store.get_loop(self.spec.name).seq
        generation = self._apply_split(
            self._desired_split(ctx, weight),
            f"loop {self.spec.name} transition {seq}: canary v{ctx['challenger']} at {weight:g}%",
        )
        started = int(ctx.get("step_started_at", now))
        if now < started + rollout.hold_ms:
            return None  # holding
        analysis = analyse(
            self.artifacts,
            self.spec.model,
            champion=int(ctx["champion"]),
            challenger=int(ctx["challenger"]),
            start_ms=started,
            end_ms=now,
            endpoints=rollout.endpoints,
        )
        rows = int(analysis["canary"].get("rows") or 0)
        if rows < rollout.min_rows and weight < 100:
            ctx_hold = ctx.get("held_for_data")
            if ctx_hold != step:
                logger.info(
                    "loop %s: step %d has %d canary rows, needs %d: holding",
                    self.spec.name,
                    step,
                    rows,
                    rollout.min_rows,
                )
            return None
        if not int(analysis["champion"].get("rows") or 0) and ctx.get("champion_values"):
            # At 100% the champion answers nothing: compare with its values of the last step.
            analysis["champion"] = {**ctx["champion_values"], "from_step": step - 1}
        results = evaluate_rules(rollout.analysis, analysis)
        failed = [r for r in results if not r["passed"]]
        evidence = {
            "step": step,
            "weight": weight,
            "generation": generation,
            "analysis": analysis,
            "rules": results,
        }
        if failed and rollout.on_fail == "rollback":
            return Move(
                "ROLLED_BACK",
                f"canary v{ctx['challenger']} failed at {weight:g}%: "
                + "; ".join(f"{r['rule']} ({r['reason']})" for r in failed),
                evidence,
                ctx,
                ("rollback", f"rolled back v{ctx['challenger']} of {self.spec.model}"),
            )
        if failed:
            return None  # on_fail: hold
        if step + 1 >= len(rollout.steps):
            return Move("PROMOTED", f"v{ctx['challenger']} healthy at 100%", evidence, ctx)
        nxt = rollout.steps[step + 1]
        return Move(
            "ROLLING_OUT",
            f"v{ctx['challenger']} healthy at {weight:g}%: canary at {nxt:g}%",
            evidence,
            {
                **ctx,
                "step": step + 1,
                "step_started_at": now,
                "champion_values": analysis["champion"],
            },
        )

    def _on_promoted(self, ctx: dict[str, Any]) -> Move:
        from mloop.registry import Registry

        registry = Registry(self.store, actor=self.actor)
        challenger = int(ctx["challenger"])
        seq = self.store.get_loop(self.spec.name).seq
        reason = f"loop {self.spec.name} transition {seq}: promote v{challenger}"
        registry.set_alias(self.spec.model, "champion", challenger, reason=reason)
        if registry.get_deployment(self.spec.model).spec is not None:
            registry.clear_deployment(self.spec.model, reason=reason)
        return self._cool(
            {**ctx, "champion": challenger},
            "IDLE",
            f"v{challenger} is @champion",
            {"champion": challenger},
            alert=False,
        )

    def _on_rolled_back(self, ctx: dict[str, Any]) -> Move:
        from mloop.registry import Registry

        registry = Registry(self.store, actor=self.actor)
        seq = self.store.get_loop(self.spec.name).seq
        reason = f"loop {self.spec.name} transition {seq}: roll back v{ctx.get('challenger')}"
        record = registry.get_deployment(self.spec.model)
        if record.spec is not None:
            registry.clear_deployment(self.spec.model, reason=reason)
        return self._cool(
            ctx, "IDLE", "rollback applied; @challenger kept for inspection", {}, alert=False
        )

    def _on_gate_failed(self, ctx: dict[str, Any]) -> Move:
        return Move("IDLE", "after a failed gate: the champion keeps serving", {}, ctx)

    def _on_retrain_failed(self, ctx: dict[str, Any]) -> Move:
        return Move("IDLE", "after a failed retrain: the champion keeps serving", {}, ctx)

    def _cool(
        self,
        ctx: dict[str, Any],
        to: str,
        reason: str,
        evidence: dict[str, Any],
        *,
        alert: bool = True,
    ) -> Move:
        """A move that ends a retrain attempt: the cooldown starts now."""
        cooldown = self.spec.retrain.cooldown_ms if self.spec.retrain is not None else 0
        ctx = {
            k: v
            for k, v in ctx.items()
            if k not in ("step", "step_started_at", "held_for_data", "champion_values")
        }
        ctx["cooldown_until"] = self._now() + cooldown
        condition = to.lower()
        return Move(to, reason, evidence, ctx, (condition, reason) if alert else None)
