"""``/api/v1/loops`` routes: the closed loops, their state, history, monitor results and alerts.

The reads are what ``mloop loop status|history`` and the web UI show; the writes are what a
controller that talks to a shared server (``MLOOP_TRACKING_URI=http://...``) uses to move its
loop: every one is the same compare-and-set the SQL store makes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from mloop._web._errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from mloop.server._links import LOOP_LINKS, linked
from mloop.server._rules import LOOP_NAME
from mloop.server._tracking import StoreDep, _Body
from mloop.store import AlertDelivery, LoopRecord, LoopTransition, MonitorResult

router = APIRouter(prefix="/api/v1/loops", tags=["loops"], responses=ERROR_RESPONSES)
#: The schema states the name rule (so generated names are valid); the store checks it.
LoopName = Annotated[str, Path(json_schema_extra=LOOP_NAME)]


class EnsureLoopBody(_Body):
    model_name: str
    spec: dict[str, Any] = Field(description="the loop.yaml as JSON")
    now: int = Field(description="the controller's clock, milliseconds since the epoch")


class LeaseBody(_Body):
    owner: str
    ttl_ms: int
    now: int


class TransitionBody(_Body):
    owner: str
    expected_seq: int
    to_state: str
    context: dict[str, Any]
    reason: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    actor: str = ""
    now: int


class MonitorResultBody(_Body):
    status: str
    result: dict[str, Any]
    now: int


class AlertBody(_Body):
    condition: str
    sink: str
    status: str
    attempts: int
    error: str = ""
    payload: dict[str, Any]
    now: int


@router.get("")
def list_loops(store: StoreDep) -> list[LoopRecord]:
    """Every loop, by name."""
    return store.list_loops()


@router.get("/{name}")
def get_loop(name: LoopName, store: StoreDep) -> LoopRecord:
    """A loop's state, transition count, context and lease."""
    return store.get_loop(name)


@router.get("/{name}/status")
def get_status(name: LoopName, store: StoreDep) -> dict[str, Any]:
    """What ``mloop loop status`` shows: the state, the rollout step, the last monitor result,
    the next action and when it is due."""
    from mloop.loop import loop_status

    return loop_status(store, name)


@router.put("/{name}", responses=linked(200, "The loop", LOOP_LINKS))
def ensure_loop(name: LoopName, body: EnsureLoopBody, store: StoreDep) -> LoopRecord:
    """Create the loop in state IDLE, or replace its spec (its state is kept)."""
    return store.ensure_loop(name, body.model_name, body.spec, now=body.now)


@router.post("/{name}/lease", responses=CONFLICT_RESPONSE)
def acquire_lease(name: LoopName, body: LeaseBody, store: StoreDep) -> LoopRecord:
    """Take or renew the lease (409 ``LOOP_LEASE_HELD`` when another controller holds it)."""
    return store.acquire_loop_lease(name, body.owner, ttl_ms=body.ttl_ms, now=body.now)


@router.delete("/{name}/lease", status_code=204)
def release_lease(name: LoopName, owner: str, store: StoreDep) -> Response:
    store.release_loop_lease(name, owner)
    return Response(status_code=204)


@router.post("/{name}/transitions", status_code=201, responses=CONFLICT_RESPONSE)
def transition(name: LoopName, body: TransitionBody, store: StoreDep) -> LoopTransition:
    """Move the loop, as one transaction (409 for a lost lease or a stale ``expected_seq``)."""
    return store.transition_loop(
        name,
        owner=body.owner,
        expected_seq=body.expected_seq,
        to_state=body.to_state,
        context=body.context,
        reason=body.reason,
        evidence=body.evidence,
        actor=body.actor,
        now=body.now,
    )


@router.get("/{name}/transitions")
def list_transitions(
    name: LoopName,
    store: StoreDep,
    after_seq: Annotated[int, Query(description="only transitions after this one")] = 0,
    limit: Annotated[int, Query(description="the most to return")] = 10_000,
) -> list[LoopTransition]:
    """Every transition with its reason and evidence, oldest first."""
    return store.list_loop_transitions(name, after_seq=after_seq, limit=limit)


@router.post("/{name}/monitor-results", status_code=201)
def add_monitor_result(name: LoopName, body: MonitorResultBody, store: StoreDep) -> MonitorResult:
    return store.add_monitor_result(name, status=body.status, result=body.result, now=body.now)


@router.get("/{name}/monitor-results")
def list_monitor_results(
    name: LoopName,
    store: StoreDep,
    since: Annotated[int | None, Query(description="from this time on (ms)")] = None,
    limit: Annotated[int, Query(description="the most to return")] = 1_000,
) -> list[MonitorResult]:
    """Monitor results, newest first: a time series of counts, drift per column, verdicts."""
    return store.list_monitor_results(name, since=since, limit=limit)


@router.post("/{name}/alerts", status_code=201)
def add_alert(name: LoopName, body: AlertBody, store: StoreDep) -> AlertDelivery:
    return store.add_alert_delivery(
        name,
        condition=body.condition,
        sink=body.sink,
        status=body.status,
        attempts=body.attempts,
        error=body.error,
        payload=body.payload,
        now=body.now,
    )


@router.get("/{name}/alerts")
def list_alerts(
    name: LoopName,
    store: StoreDep,
    limit: Annotated[int, Query(description="the most to return")] = 1_000,
) -> list[AlertDelivery]:
    """Alert deliveries, newest first."""
    return store.list_alert_deliveries(name, limit=limit)
