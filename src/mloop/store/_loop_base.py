"""The loop half of the ``Store`` interface: the state of each closed loop (``loop.yaml``), its
transitions, its lease, its monitor results and its alert deliveries.

A loop moves only by :meth:`LoopStore.transition_loop`: a compare-and-set on the loop's ``seq``
(the number of transitions made), allowed only to the controller holding the lease, that writes
the new state, its context and the transition (reason and evidence) in one transaction. A
controller killed at any point finds the loop either before or after a transition, never between.

Times are given by the caller (``now``, milliseconds since the epoch): the controller's clock,
so that leases, holds and cooldowns are tested with an injected clock.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import orjson

from mloop.errors import InvalidArgument
from mloop.store._checks import MAX_ACTOR, check_int, check_text
from mloop.store._entities import AlertDelivery, LoopRecord, LoopTransition, MonitorResult

__all__ = ["LoopStore", "validate_loop_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_STATE = re.compile(r"^[A-Z][A-Z_]{0,31}$")
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_REASON = 4_096
#: The most rows one listing returns.
MAX_LIST = 10_000


def validate_loop_name(name: Any) -> str:
    """Loop names: letters, digits, ``_ . -``, at most 128 characters."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(
            f"loop name {name!r:.80} must start with a letter or digit and hold only letters, "
            "digits, '_', '.' and '-' (at most 128 characters)"
        )
    return name


def _state(state: Any) -> str:
    if not isinstance(state, str) or not _STATE.match(state):
        raise InvalidArgument(f"a loop state is an upper-case word such as IDLE, got {state!r:.40}")
    return state


def _json(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{what} must be a JSON object, got {type(value).__name__}")
    try:
        text = orjson.dumps(dict(value), option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise InvalidArgument(f"{what} must be JSON: {exc}") from None
    if len(text) > MAX_JSON_BYTES:
        raise InvalidArgument(f"{what} is at most {MAX_JSON_BYTES} bytes as JSON")
    loaded: dict[str, Any] = orjson.loads(text)
    return loaded


def _owner(owner: Any) -> str:
    if not isinstance(owner, str) or not owner or len(owner) > 256:
        raise InvalidArgument("a lease owner is a non-empty string of at most 256 characters")
    return owner


def _limit(limit: Any) -> int:
    value = int(check_int(limit, "limit"))
    if not 1 <= value <= MAX_LIST:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIST}, got {value}")
    return value


class LoopStore(ABC):
    """Loops, their transitions and lease, monitor results and alert deliveries."""

    def ensure_loop(
        self, name: str, model_name: str, spec: Mapping[str, Any], *, now: int
    ) -> LoopRecord:
        """The loop ``name``, created in state ``IDLE`` if new; its ``spec`` (the loop.yaml as
        JSON) is replaced by the one given. The state is never changed here."""
        return self._ensure_loop(
            validate_loop_name(name),
            check_text(model_name, "model name", 256),
            _json(spec, "a loop spec"),
            check_int(now, "now"),
        )

    def get_loop(self, name: str) -> LoopRecord:
        """Raises: LoopNotFound."""
        return self._get_loop(validate_loop_name(name))

    def list_loops(self) -> list[LoopRecord]:
        """Every loop, by name."""
        return self._list_loops()

    def acquire_loop_lease(self, name: str, owner: str, *, ttl_ms: int, now: int) -> LoopRecord:
        """Take or renew the lease of a loop until ``now + ttl_ms``.

        Raises:
            LoopNotFound: no such loop.
            LoopLeaseHeld: another owner holds an unexpired lease; the message says who and
                until when.
        """
        ttl_ms = check_int(ttl_ms, "ttl_ms")
        if ttl_ms <= 0:
            raise InvalidArgument("ttl_ms must be positive")
        return self._acquire_loop_lease(
            validate_loop_name(name), _owner(owner), ttl_ms, check_int(now, "now")
        )

    def release_loop_lease(self, name: str, owner: str) -> None:
        """Give the lease up if ``owner`` holds it (otherwise nothing happens)."""
        self._release_loop_lease(validate_loop_name(name), _owner(owner))

    def transition_loop(
        self,
        name: str,
        *,
        owner: str,
        expected_seq: int,
        to_state: str,
        context: Mapping[str, Any],
        reason: str,
        evidence: Mapping[str, Any] | None = None,
        actor: str = "",
        now: int,
    ) -> LoopTransition:
        """Move a loop to ``to_state`` with its new ``context``, and record the transition, in
        one transaction.

        Raises:
            LoopNotFound: no such loop.
            LoopLeaseHeld: ``owner`` does not hold an unexpired lease on the loop.
            Conflict: the loop is no longer at ``expected_seq`` (another transition was made).
        """
        return self._transition_loop(
            validate_loop_name(name),
            _owner(owner),
            check_int(expected_seq, "expected_seq"),
            _state(to_state),
            _json(context, "a loop context"),
            check_text(reason, "reason", MAX_REASON),
            _json(evidence or {}, "transition evidence"),
            check_text(actor, "actor", MAX_ACTOR),
            check_int(now, "now"),
        )

    def list_loop_transitions(
        self, name: str, *, after_seq: int = 0, limit: int = MAX_LIST
    ) -> list[LoopTransition]:
        """The transitions of a loop, oldest first. Raises: LoopNotFound."""
        return self._list_loop_transitions(
            validate_loop_name(name), check_int(after_seq, "after_seq"), _limit(limit)
        )

    def add_monitor_result(
        self, name: str, *, status: str, result: Mapping[str, Any], now: int
    ) -> MonitorResult:
        """Store one monitor run's result. Raises: LoopNotFound."""
        return self._add_monitor_result(
            validate_loop_name(name),
            check_text(status, "status", 32),
            _json(result, "a monitor result"),
            check_int(now, "now"),
        )

    def list_monitor_results(
        self, name: str, *, since: int | None = None, limit: int = 1_000
    ) -> list[MonitorResult]:
        """Monitor results of a loop, newest first (``since``: from this time on)."""
        return self._list_monitor_results(
            validate_loop_name(name),
            None if since is None else check_int(since, "since"),
            _limit(limit),
        )

    def add_alert_delivery(
        self,
        name: str,
        *,
        condition: str,
        sink: str,
        status: str,
        attempts: int,
        error: str = "",
        payload: Mapping[str, Any],
        now: int,
    ) -> AlertDelivery:
        """Record an alert and what became of it. Raises: LoopNotFound."""
        return self._add_alert_delivery(
            validate_loop_name(name),
            check_text(condition, "condition", 256),
            check_text(sink, "sink", 4_096),
            check_text(status, "status", 16),
            check_int(attempts, "attempts"),
            check_text(error, "error", 16_384),
            _json(payload, "an alert payload"),
            check_int(now, "now"),
        )

    def list_alert_deliveries(self, name: str, *, limit: int = 1_000) -> list[AlertDelivery]:
        """Alert deliveries of a loop, newest first."""
        return self._list_alert_deliveries(validate_loop_name(name), _limit(limit))

    # -- hooks ---------------------------------------------------------------------------------

    @abstractmethod
    def _ensure_loop(
        self, name: str, model_name: str, spec: dict[str, Any], now: int
    ) -> LoopRecord: ...

    @abstractmethod
    def _get_loop(self, name: str) -> LoopRecord: ...

    @abstractmethod
    def _list_loops(self) -> list[LoopRecord]: ...

    @abstractmethod
    def _acquire_loop_lease(self, name: str, owner: str, ttl_ms: int, now: int) -> LoopRecord: ...

    @abstractmethod
    def _release_loop_lease(self, name: str, owner: str) -> None: ...

    @abstractmethod
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
    ) -> LoopTransition: ...

    @abstractmethod
    def _list_loop_transitions(
        self, name: str, after_seq: int, limit: int
    ) -> list[LoopTransition]: ...

    @abstractmethod
    def _add_monitor_result(
        self, name: str, status: str, result: dict[str, Any], now: int
    ) -> MonitorResult: ...

    @abstractmethod
    def _list_monitor_results(
        self, name: str, since: int | None, limit: int
    ) -> list[MonitorResult]: ...

    @abstractmethod
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
    ) -> AlertDelivery: ...

    @abstractmethod
    def _list_alert_deliveries(self, name: str, limit: int) -> list[AlertDelivery]: ...
