"""Request ids: the header both servers read and echo, and the ids they accept from callers."""

from __future__ import annotations

import re

__all__ = ["REQUEST_ID_HEADER", "REQUEST_ID_PATTERN"]

REQUEST_ID_HEADER = "X-Request-ID"
#: An id a caller may choose; anything else is replaced by a fresh one.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
