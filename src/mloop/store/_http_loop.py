"""The loop and deployment half of ``HttpStore``, over ``/api/v1/loops`` and
``/api/v1/registered-models/{name}/deployment``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from mloop.store._entities import (
    AlertDelivery,
    Deployment,
    LoopRecord,
    LoopTransition,
    MonitorResult,
)
from mloop.store._http_transport import seg


class HttpLoops:
    """Mixed into ``HttpStore``; uses its ``_request``."""

    _request: Callable[..., httpx.Response]

    # -- deployment records --------------------------------------------------------------------

    def _get_deployment(self, name: str) -> Deployment:
        response = self._request("GET", f"/registered-models/{seg(name)}/deployment")
        return Deployment.model_validate_json(response.content)

    def _set_deployment(
        self,
        name: str,
        spec: dict[str, Any],
        expected_generation: int | None,
        actor: str,
        reason: str,
    ) -> Deployment:
        body = {
            "spec": spec,
            "expected_generation": expected_generation,
            "actor": actor,
            "reason": reason,
        }
        response = self._request("PUT", f"/registered-models/{seg(name)}/deployment", json=body)
        return Deployment.model_validate_json(response.content)

    def _clear_deployment(
        self, name: str, expected_generation: int | None, actor: str, reason: str
    ) -> Deployment:
        params = {"actor": actor, "reason": reason}
        if expected_generation is not None:
            params["expected_generation"] = str(expected_generation)
        response = self._request(
            "DELETE", f"/registered-models/{seg(name)}/deployment", params=params
        )
        return Deployment.model_validate_json(response.content)

    # -- loops ---------------------------------------------------------------------------------

    def _ensure_loop(
        self, name: str, model_name: str, spec: dict[str, Any], now: int
    ) -> LoopRecord:
        body = {"model_name": model_name, "spec": spec, "now": now}
        response = self._request("PUT", f"/loops/{seg(name)}", json=body)
        return LoopRecord.model_validate_json(response.content)

    def _get_loop(self, name: str) -> LoopRecord:
        return LoopRecord.model_validate_json(self._request("GET", f"/loops/{seg(name)}").content)

    def _list_loops(self) -> list[LoopRecord]:
        response = self._request("GET", "/loops")
        return [LoopRecord.model_validate(r) for r in orjson.loads(response.content)]

    def _acquire_loop_lease(self, name: str, owner: str, ttl_ms: int, now: int) -> LoopRecord:
        body = {"owner": owner, "ttl_ms": ttl_ms, "now": now}
        response = self._request("POST", f"/loops/{seg(name)}/lease", json=body)
        return LoopRecord.model_validate_json(response.content)

    def _release_loop_lease(self, name: str, owner: str) -> None:
        self._request("DELETE", f"/loops/{seg(name)}/lease", params={"owner": owner})

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
        body = {
            "owner": owner,
            "expected_seq": expected_seq,
            "to_state": to_state,
            "context": context,
            "reason": reason,
            "evidence": evidence,
            "actor": actor,
            "now": now,
        }
        response = self._request("POST", f"/loops/{seg(name)}/transitions", json=body)
        return LoopTransition.model_validate_json(response.content)

    def _list_loop_transitions(self, name: str, after_seq: int, limit: int) -> list[LoopTransition]:
        response = self._request(
            "GET",
            f"/loops/{seg(name)}/transitions",
            params={"after_seq": str(after_seq), "limit": str(limit)},
        )
        return [LoopTransition.model_validate(r) for r in orjson.loads(response.content)]

    def _add_monitor_result(
        self, name: str, status: str, result: dict[str, Any], now: int
    ) -> MonitorResult:
        body = {"status": status, "result": result, "now": now}
        response = self._request("POST", f"/loops/{seg(name)}/monitor-results", json=body)
        return MonitorResult.model_validate_json(response.content)

    def _list_monitor_results(
        self, name: str, since: int | None, limit: int
    ) -> list[MonitorResult]:
        params = {"limit": str(limit)}
        if since is not None:
            params["since"] = str(since)
        response = self._request("GET", f"/loops/{seg(name)}/monitor-results", params=params)
        return [MonitorResult.model_validate(r) for r in orjson.loads(response.content)]

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
        body = {
            "condition": condition,
            "sink": sink,
            "status": status,
            "attempts": attempts,
            "error": error,
            "payload": payload,
            "now": now,
        }
        response = self._request("POST", f"/loops/{seg(name)}/alerts", json=body)
        return AlertDelivery.model_validate_json(response.content)

    def _list_alert_deliveries(self, name: str, limit: int) -> list[AlertDelivery]:
        response = self._request("GET", f"/loops/{seg(name)}/alerts", params={"limit": str(limit)})
        return [AlertDelivery.model_validate(r) for r in orjson.loads(response.content)]
