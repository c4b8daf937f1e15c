"""The loop part of ``SqlStore``: loop state, transitions, leases, monitor results, alerts.

Every write that moves a loop locks its row first (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` already lets one writer in), then checks the lease and the expected
``seq`` and writes the new state and its transition in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa

from mloop.errors import Conflict, LoopLeaseHeld, LoopNotFound
from mloop.store import _schema as t
from mloop.store._entities import (
    AlertDelivery,
    Deployment,
    LoopRecord,
    LoopTransition,
    MonitorResult,
)
from mloop.store._sqldb import Database
from mloop.store._sqlregistry import SqlRegistry


def _loop_not_found(name: str) -> LoopNotFound:
    return LoopNotFound(
        f"no loop named {name!r}: start it with `mloop loop run loop.yaml`",
        details={"name": name},
    )


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _record(row: Any) -> LoopRecord:
    return LoopRecord(
        name=row.name,
        model_name=row.model_name,
        state=row.state,
        seq=row.seq,
        context=orjson.loads(row.context),
        spec=orjson.loads(row.spec),
        lease_owner=row.lease_owner,
        lease_expires=row.lease_expires,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _transition(row: Any) -> LoopTransition:
    return LoopTransition(
        transition_id=row.transition_id,
        loop_name=row.loop_name,
        seq=row.seq,
        from_state=row.from_state,
        to_state=row.to_state,
        reason=row.reason,
        evidence=orjson.loads(row.evidence),
        actor=row.actor,
        time=row.time,
    )


class SqlLoops:
    """Loops in the database ``db`` (``SqlStore`` delegates to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _row(self, conn: sa.Connection, name: str, *, lock: bool = False) -> Any:
        query = sa.select(t.loops).where(t.loops.c.name == name)
        if lock and not self.db.sqlite:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise _loop_not_found(name)
        return row

    def ensure(self, name: str, model_name: str, spec: dict[str, Any], now: int) -> LoopRecord:
        def fn(conn: sa.Connection) -> LoopRecord:
            stmt = self.db.insert(t.loops).values(
                name=name,
                model_name=model_name,
                state="IDLE",
                seq=0,
                context="{}",
                spec=orjson.dumps(spec).decode(),
                created_at=now,
                updated_at=now,
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"spec": stmt.excluded.spec, "model_name": stmt.excluded.model_name},
                )
            )
            return _record(self._row(conn, name))

        return self.db.write_retrying(f"registering the loop {name!r}", fn)

    def get(self, name: str) -> LoopRecord:
        with self.db.read("reading a loop") as conn:
            return _record(self._row(conn, name))

    def list_all(self) -> list[LoopRecord]:
        with self.db.read("listing loops") as conn:
            return [_record(r) for r in conn.execute(sa.select(t.loops).order_by(t.loops.c.name))]

    def acquire_lease(self, name: str, owner: str, ttl_ms: int, now: int) -> LoopRecord:
        def fn(conn: sa.Connection) -> LoopRecord:
            row = self._row(conn, name, lock=True)
            held = (
                row.lease_owner is not None
                and row.lease_owner != owner
                and row.lease_expires is not None
                and row.lease_expires > now
            )
            if held:
                raise LoopLeaseHeld(
                    f"loop {name!r} is run by another controller ({row.lease_owner}) until "
                    f"{_when(row.lease_expires)} at least; one controller runs a loop at a time",
                    details={
                        "name": name,
                        "owner": row.lease_owner,
                        "expires": row.lease_expires,
                    },
                )
            conn.execute(
                sa.update(t.loops)
                .where(t.loops.c.name == name)
                .values(lease_owner=owner, lease_expires=now + ttl_ms)
            )
            return _record(self._row(conn, name))

        return self.db.write(f"taking the lease of loop {name!r}", fn)

    def release_lease(self, name: str, owner: str) -> None:
        def fn(conn: sa.Connection) -> None:
            conn.execute(
                sa.update(t.loops)
                .where(t.loops.c.name == name, t.loops.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires=None)
            )

        self.db.write(f"releasing the lease of loop {name!r}", fn)

    def transition(
        self,
        name: str,
        owner: str,
        expected_seq: int,
        to_state: str,
        context: dict[str, Any],
        reason: str,
        evidence: dict[str, Any],
        actor: str,
        now: int,
    ) -> LoopTransition:
        def fn(conn: sa.Connection) -> LoopTransition:
            row = self._row(conn, name, lock=True)
            if row.lease_owner != owner or row.lease_expires is None or row.lease_expires <= now:
                raise LoopLeaseHeld(
                    f"controller {owner} does not hold the lease of loop {name!r} "
                    f"(held by {row.lease_owner or 'nobody'}); it must not move the loop",
                    details={"name": name, "owner": row.lease_owner},
                )
            if row.seq != expected_seq:
                raise Conflict(
                    f"loop {name!r} is at transition {row.seq}, not {expected_seq}: it moved "
                    "since it was read",
                    details={"name": name, "seq": row.seq, "expected_seq": expected_seq},
                )
            seq = expected_seq + 1
            conn.execute(
                sa.update(t.loops)
                .where(t.loops.c.name == name)
                .values(
                    state=to_state,
                    seq=seq,
                    context=orjson.dumps(context).decode(),
                    updated_at=now,
                )
            )
            tid = conn.execute(
                sa.insert(t.loop_transitions)
                .values(
                    loop_name=name,
                    seq=seq,
                    from_state=row.state,
                    to_state=to_state,
                    reason=reason,
                    evidence=orjson.dumps(evidence).decode(),
                    actor=actor,
                    time=now,
                )
                .returning(t.loop_transitions.c.transition_id)
            ).scalar_one()
            return LoopTransition(
                transition_id=tid,
                loop_name=name,
                seq=seq,
                from_state=row.state,
                to_state=to_state,
                reason=reason,
                evidence=evidence,
                actor=actor,
                time=now,
            )

        return self.db.write(f"moving loop {name!r} to {to_state}", fn)

    def list_transitions(self, name: str, after_seq: int, limit: int) -> list[LoopTransition]:
        lt = t.loop_transitions
        with self.db.read("reading a loop's history") as conn:
            self._row(conn, name)
            rows = conn.execute(
                sa.select(lt)
                .where(lt.c.loop_name == name, lt.c.seq > after_seq)
                .order_by(lt.c.seq)
                .limit(limit)
            ).all()
        return [_transition(r) for r in rows]

    def add_monitor_result(
        self, name: str, status: str, result: dict[str, Any], now: int
    ) -> MonitorResult:
        def fn(conn: sa.Connection) -> MonitorResult:
            self._row(conn, name)
            rid = conn.execute(
                sa.insert(t.loop_monitor_results)
                .values(
                    loop_name=name, time=now, status=status, result=orjson.dumps(result).decode()
                )
                .returning(t.loop_monitor_results.c.result_id)
            ).scalar_one()
            return MonitorResult(
                result_id=rid, loop_name=name, time=now, status=status, result=result
            )

        return self.db.write("storing a monitor result", fn)

    def list_monitor_results(self, name: str, since: int | None, limit: int) -> list[MonitorResult]:
        m = t.loop_monitor_results
        query = sa.select(m).where(m.c.loop_name == name)
        if since is not None:
            query = query.where(m.c.time >= since)
        with self.db.read("reading monitor results") as conn:
            self._row(conn, name)
            rows = conn.execute(
                query.order_by(m.c.time.desc(), m.c.result_id.desc()).limit(limit)
            ).all()
        return [
            MonitorResult(
                result_id=r.result_id,
                loop_name=r.loop_name,
                time=r.time,
                status=r.status,
                result=orjson.loads(r.result),
            )
            for r in rows
        ]

    def add_alert(
        self,
        name: str,
        condition: str,
        sink: str,
        status: str,
        attempts: int,
        error: str,
        payload: dict[str, Any],
        now: int,
    ) -> AlertDelivery:
        def fn(conn: sa.Connection) -> AlertDelivery:
            self._row(conn, name)
            aid = conn.execute(
                sa.insert(t.loop_alerts)
                .values(
                    loop_name=name,
                    condition=condition,
                    sink=sink,
                    status=status,
                    attempts=attempts,
                    error=error,
                    payload=orjson.dumps(payload).decode(),
                    time=now,
                )
                .returning(t.loop_alerts.c.alert_id)
            ).scalar_one()
            return AlertDelivery(
                alert_id=aid,
                loop_name=name,
                condition=condition,
                sink=sink,
                status=status,
                attempts=attempts,
                error=error,
                payload=payload,
                time=now,
            )

        return self.db.write("recording an alert", fn)

    def list_alerts(self, name: str, limit: int) -> list[AlertDelivery]:
        a = t.loop_alerts
        with self.db.read("reading alert deliveries") as conn:
            self._row(conn, name)
            rows = conn.execute(
                sa.select(a)
                .where(a.c.loop_name == name)
                .order_by(a.c.time.desc(), a.c.alert_id.desc())
                .limit(limit)
            ).all()
        return [
            AlertDelivery(
                alert_id=r.alert_id,
                loop_name=r.loop_name,
                condition=r.condition,
                sink=r.sink,
                status=r.status,
                attempts=r.attempts,
                error=r.error,
                payload=orjson.loads(r.payload),
                time=r.time,
            )
            for r in rows
        ]


class SqlLoopHooks:
    """The loop and deployment hooks of ``SqlStore`` (mixed in; delegates to its parts)."""

    _loops: SqlLoops
    _registry: SqlRegistry

    def _get_deployment(self, name: str) -> Deployment:
        return self._registry.get_deployment(name)

    def _set_deployment(
        self,
        name: str,
        spec: dict[str, Any],
        expected_generation: int | None,
        actor: str,
        reason: str,
    ) -> Deployment:
        return self._registry.set_deployment(name, spec, expected_generation, actor, reason)

    def _clear_deployment(
        self, name: str, expected_generation: int | None, actor: str, reason: str
    ) -> Deployment:
        return self._registry.clear_deployment(name, expected_generation, actor, reason)

    def _ensure_loop(
        self, name: str, model_name: str, spec: dict[str, Any], now: int
    ) -> LoopRecord:
        return self._loops.ensure(name, model_name, spec, now)

    def _get_loop(self, name: str) -> LoopRecord:
        return self._loops.get(name)

    def _list_loops(self) -> list[LoopRecord]:
        return self._loops.list_all()

    def _acquire_loop_lease(self, name: str, owner: str, ttl_ms: int, now: int) -> LoopRecord:
        return self._loops.acquire_lease(name, owner, ttl_ms, now)

    def _release_loop_lease(self, name: str, owner: str) -> None:
        self._loops.release_lease(name, owner)

    def _transition_loop(
        self,
        name: str,
        owner: str,
        expected_seq: int,
        to_state: str,
        context: dict[str, Any],
        reason: str,
        evidence: dict[str, Any],
        actor: str,
        now: int,
    ) -> LoopTransition:
        return self._loops.transition(
            name, owner, expected_seq, to_state, context, reason, evidence, actor, now
        )

    def _list_loop_transitions(self, name: str, after_seq: int, limit: int) -> list[LoopTransition]:
        return self._loops.list_transitions(name, after_seq, limit)

    def _add_monitor_result(
        self, name: str, status: str, result: dict[str, Any], now: int
    ) -> MonitorResult:
        return self._loops.add_monitor_result(name, status, result, now)

    def _list_monitor_results(
        self, name: str, since: int | None, limit: int
    ) -> list[MonitorResult]:
        return self._loops.list_monitor_results(name, since, limit)

    def _add_alert_delivery(
        self,
        name: str,
        condition: str,
        sink: str,
        status: str,
        attempts: int,
        error: str,
        payload: dict[str, Any],
        now: int,
    ) -> AlertDelivery:
        return self._loops.add_alert(name, condition, sink, status, attempts, error, payload, now)

    def _list_alert_deliveries(self, name: str, limit: int) -> list[AlertDelivery]:
        return self._loops.list_alerts(name, limit)
