"""Alerts of a loop: a JSON POST to each webhook (with a Slack-compatible ``text`` field),
deduplicated per condition, retried with a bounded timeout, recorded in the store, logged.

An alert never stalls or fails the loop: a webhook that hangs costs at most ``timeout`` per
attempt, and a delivery that fails is recorded as ``failed`` with the error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from mloop.errors import MloopError
from mloop.loop._spec import AlertSpec, LoopSpec
from mloop.store import Store

__all__ = ["AlertSink", "WebhookSink", "send_alert"]

logger = logging.getLogger("mloop.loop")


class AlertSink:
    """Where an alert goes. ``send`` returns ``(delivered, attempts, error)``."""

    def __init__(self, spec: AlertSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.webhook

    def send(self, payload: dict[str, Any]) -> tuple[bool, int, str]:
        return self._send(payload)

    def _send(self, payload: dict[str, Any]) -> tuple[bool, int, str]:
        raise NotImplementedError


class WebhookSink(AlertSink):
    """A JSON POST, retried ``retries`` times with a short backoff; 2xx is delivered."""

    def __init__(self, spec: AlertSpec, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(spec)
        self._sleep = sleep

    def _send(self, payload: dict[str, Any]) -> tuple[bool, int, str]:
        import httpx

        error = ""
        timeout = self.spec.timeout_ms / 1000
        attempts = 0
        for attempt in range(self.spec.retries + 1):
            attempts = attempt + 1
            try:
                response = httpx.post(self.spec.webhook, json=payload, timeout=timeout)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    return True, attempts, ""
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break  # the hook refuses this body: retrying will not help
            if attempt < self.spec.retries:
                self._sleep(min(0.2 * 2**attempt, 2.0))
        return False, attempts, error


def send_alert(
    spec: LoopSpec,
    store: Store,
    *,
    condition: str,
    text: str,
    details: dict[str, Any],
    now_ms: int,
    sinks: list[AlertSink] | None = None,
) -> list[str]:
    """Send an alert on ``condition`` to every sink, unless the same condition was delivered
    within the sink's dedup window; returns the statuses recorded (delivered, failed,
    deduplicated). Never raises for a sink or store failure: the loop goes on."""
    from mloop.loop._metrics import ALERTS

    logger.warning("loop %s: %s", spec.name, text)
    sinks = sinks if sinks is not None else [WebhookSink(a) for a in spec.alerts]
    payload = {
        "text": f"[mloop loop {spec.name}] {text}",
        "loop": spec.name,
        "model": spec.model,
        "condition": condition,
        "time": now_ms,
        "details": details,
    }
    statuses: list[str] = []
    for sink in sinks:
        try:
            recent = [
                d
                for d in store.list_alert_deliveries(spec.name, limit=200)
                if d.condition == condition
                and d.sink == sink.name
                and d.status == "delivered"
                and d.time > now_ms - sink.spec.dedup_ms
            ]
        except MloopError as exc:
            logger.error("loop %s: cannot read alert deliveries: %s", spec.name, exc)
            recent = []
        if recent:
            status, attempts, error = "deduplicated", 0, ""
        else:
            try:
                delivered, attempts, error = sink.send(payload)
            except Exception as exc:  # a sink's bug must not stop the loop
                delivered, attempts, error = False, 1, f"{type(exc).__name__}: {exc}"
            status = "delivered" if delivered else "failed"
            if not delivered:
                logger.error(
                    "loop %s: alert to %s failed after %d attempt(s): %s",
                    spec.name,
                    sink.name,
                    attempts,
                    error,
                )
        ALERTS.labels(spec.name, condition, status).inc()
        try:
            store.add_alert_delivery(
                spec.name,
                condition=condition,
                sink=sink.name,
                status=status,
                attempts=attempts,
                error=error,
                payload=payload,
                now=now_ms,
            )
        except MloopError as exc:
            logger.error("loop %s: cannot record an alert delivery: %s", spec.name, exc)
        statuses.append(status)
    return statuses
