"""The closed loop: ``loop.yaml`` and the controller that monitors, alerts, retrains, gates,
rolls out and rolls back, with its state machine persisted in the metadata store."""

from __future__ import annotations

from mloop.loop._controller import STATES, Clock, Controller, Move, SystemClock
from mloop.loop._metrics import ALERTS as _ALERTS
from mloop.loop._metrics import TRANSITIONS as _TRANSITIONS
from mloop.loop._runner import LoopThreads
from mloop.loop._spec import LoopSpec, load_loop, parse_duration
from mloop.loop._status import loop_history, loop_status

#: The loop controllers' counters, exported by ``mloop server`` on /metrics.
LOOP_COUNTERS = (_TRANSITIONS, _ALERTS)

__all__ = [
    "LOOP_COUNTERS",
    "STATES",
    "Clock",
    "Controller",
    "LoopSpec",
    "LoopThreads",
    "Move",
    "SystemClock",
    "load_loop",
    "loop_history",
    "loop_status",
    "parse_duration",
]
