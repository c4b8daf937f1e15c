"""Argument checks and limits shared by the parts of the ``Store`` interface (runs, registry,
datasets): every store, SQL or HTTP, validates alike and says the same thing when it refuses."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from mloop._core import validate_key, validate_tag_value
from mloop.errors import InvalidArgument

__all__ = [
    "MAX_ACTOR",
    "MAX_DESCRIPTION",
    "check_count",
    "check_id",
    "check_int",
    "check_mapping",
    "check_tags",
    "check_text",
]

#: The longest description of a registered model, a version or a dataset version.
MAX_DESCRIPTION = 50_000
#: The longest actor name recorded in the audit log.
MAX_ACTOR = 256
_INT64 = 2**63


def check_id(value: Any, what: str) -> str:
    """An id: a non-empty string of at most 64 characters."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidArgument(f"{what} must be a non-empty string of at most 64 characters")
    return value


_RUN_ID = re.compile(r"[0-9a-f]{32}")


def check_run_id(value: Any) -> str:
    """A run id chosen by a client: 32 lowercase hex characters (a UUID4's hex)."""
    if not isinstance(value, str) or _RUN_ID.fullmatch(value) is None:
        raise InvalidArgument(
            f"run id must be 32 lowercase hex characters (a UUID4's hex), got {value!r:.40}"
        )
    return value


def check_int(value: Any, what: str) -> int:
    """A 64-bit integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        raise InvalidArgument(f"{what} must be a 64-bit integer, got {value!r:.40}")
    return value


def check_count(value: Any, what: str) -> int:
    """A non-negative 64-bit integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _INT64:
        raise InvalidArgument(f"{what} must be a non-negative integer, got {value!r:.40}")
    return value


def check_text(value: Any, what: str, limit: int) -> str:
    """A string of at most ``limit`` characters; ``None`` is ``""``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidArgument(f"{what} is {len(value)} characters; at most {limit}")
    return value


def check_mapping(
    items: Mapping[str, Any] | None,
    what: str,
    check_value: Callable[[str, Any], str],
    limit: int | None = None,
) -> dict[str, str]:
    """``{key: value}`` with every key checked (``validate_key``) and every value by
    ``check_value(key, value)``; at most ``limit`` items."""
    if not items:
        return {}
    if not isinstance(items, Mapping):
        raise InvalidArgument(f"{what}s must be a mapping of key to value")
    if limit is not None and len(items) > limit:
        raise InvalidArgument(f"a batch holds at most {limit} {what}s, got {len(items)}")
    return {validate_key(k, f"{what} key"): check_value(k, v) for k, v in items.items()}


def check_tags(tags: Mapping[str, Any] | None, limit: int | None = None) -> dict[str, str]:
    """Tags: keys checked, values turned into strings and checked."""
    return check_mapping(tags, "tag", validate_tag_value, limit)
