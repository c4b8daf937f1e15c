"""Request ids: the header both servers read and echo, and the ids they accept from callers."""

from __future__ import annotations

import re
import uuid

__all__ = ["REQUEST_ID_HEADER", "REQUEST_ID_PATTERN", "request_id_of"]

REQUEST_ID_HEADER = "X-Request-ID"
#: An id a caller may choose; anything else is replaced by a fresh one.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_of(given: str | None) -> str:
    """The caller's id when it is acceptable, else a fresh one."""
    return given if given and REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex
