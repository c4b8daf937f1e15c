"""In-process counters of the loop controllers (alerts sent, transitions made), exported as
Prometheus metrics by ``mloop server --loop`` (the loop itself does not import
prometheus-client, which comes with the server extra)."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["ALERTS", "TRANSITIONS", "LabelledCounter"]


class LabelledCounter:
    """A counter per tuple of label values, safe across threads."""

    def __init__(self, name: str, help: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.help = help
        self.labelnames = labels
        self._values: Counter[tuple[str, ...]] = Counter()
        self._lock = threading.Lock()

    def labels(self, *values: str) -> _Bound:
        return _Bound(self, tuple(values))

    def samples(self) -> list[tuple[tuple[str, ...], float]]:
        with self._lock:
            return [(k, float(v)) for k, v in sorted(self._values.items())]


class _Bound:
    def __init__(self, counter: LabelledCounter, key: tuple[str, ...]) -> None:
        self._counter = counter
        self._key = key

    def inc(self, amount: int = 1) -> None:
        with self._counter._lock:
            self._counter._values[self._key] += amount


ALERTS = LabelledCounter(
    "mloop_loop_alerts", "Alerts of loop controllers, by outcome.", ("loop", "condition", "status")
)
TRANSITIONS = LabelledCounter(
    "mloop_loop_transitions", "Transitions made by loop controllers.", ("loop", "to_state")
)
