"""Identifiers and timestamps."""

from __future__ import annotations

import time
import uuid


def new_run_id() -> str:
    """A new run id: 32 lowercase hex characters (a random UUID4)."""
    return uuid.uuid4().hex


def now_ms() -> int:
    """Milliseconds since the Unix epoch, the unit of every stored timestamp."""
    return time.time_ns() // 1_000_000
