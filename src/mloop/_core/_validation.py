"""Validation of names, keys and values at the API boundary, shared by every store."""

from __future__ import annotations

import math
import re
from collections.abc import Set as AbstractSet
from typing import Any

from mloop.errors import InvalidArgument, PayloadTooLarge

MAX_KEY = 250
MAX_ENTITY_NAME = 256
MAX_PARAM_VALUE = 8_000
MAX_TAG_VALUE = 8_000

# Keys may hold letters, digits, and _ - . / space: safe in URLs, filters and file names.
_KEY = re.compile(r"^[\w\-. /]+$")
_valid_keys: set[str] = set()


def validate_key(key: Any, what: str = "key") -> str:
    """Check a param, metric or tag key and return it.

    Raises:
        InvalidArgument: not a string, empty, too long, or with characters outside ``[\\w-. /]``.
    """
    if type(key) is str and key in _valid_keys:  # hot path: the same few keys again and again
        return key
    if not isinstance(key, str):
        raise InvalidArgument(f"{what} must be a string, got {type(key).__name__}: {key!r}")
    if not key:
        raise InvalidArgument(f"{what} must not be empty")
    if len(key) > MAX_KEY:
        raise InvalidArgument(f"{what} {key[:40]!r}... is {len(key)} characters; at most {MAX_KEY}")
    if not _KEY.match(key) or key.startswith("/") or ".." in key.split("/"):
        raise InvalidArgument(
            f"{what} {key!r} may only contain letters, digits, '_', '-', '.', ' ' and '/'"
            " (not leading '/', no '..' segment)"
        )
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def known_keys() -> AbstractSet[str]:
    """The keys :func:`validate_key` has already accepted (read-only by contract): a loop over
    many points checks ``type(key) is str and key in known`` inline and calls
    :func:`validate_key` only for the rest."""
    return _valid_keys


def _validate_name(name: Any, what: str) -> str:
    if not isinstance(name, str):
        raise InvalidArgument(f"{what} must be a string, got {type(name).__name__}")
    stripped = name.strip()
    if not stripped:
        raise InvalidArgument(f"{what} must not be empty")
    if len(stripped) > MAX_ENTITY_NAME:
        raise InvalidArgument(f"{what} is {len(stripped)} characters; at most {MAX_ENTITY_NAME}")
    if any(ord(c) < 32 for c in stripped):
        raise InvalidArgument(f"{what} {stripped!r} contains control characters")
    return stripped


def validate_experiment_name(name: Any) -> str:
    """Return a stripped, non-empty experiment name of at most 256 characters."""
    return _validate_name(name, "experiment name")


def validate_run_name(name: Any) -> str:
    """Return a stripped, non-empty run name of at most 256 characters."""
    return _validate_name(name, "run name")


def _stringify(value: Any, what: str, limit: int) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float) or value is None:
        text = str(value)
    else:
        text = str(value)
    if len(text) > limit:
        raise PayloadTooLarge(f"{what} is {len(text)} characters; at most {limit}")
    if "\x00" in text:  # PostgreSQL text cannot hold it, and no reader expects it
        raise InvalidArgument(f"{what} holds a NUL character (\\x00), which text values may not")
    return text


def validate_param_value(key: str, value: Any) -> str:
    """Params are stored as strings: convert, and check the length."""
    return _stringify(value, f"value of param {key!r}", MAX_PARAM_VALUE)


def validate_tag_value(key: str, value: Any) -> str:
    """Tags are stored as strings: convert, and check the length."""
    return _stringify(value, f"value of tag {key!r}", MAX_TAG_VALUE)


def validate_metric_value(key: str, value: Any) -> float:
    """Metric values are floats; NaN and infinities are allowed, strings are not."""
    if type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np

            if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
                return float(value)
        except ImportError:  # pragma: no cover - numpy is a dependency
            pass
        raise InvalidArgument(
            f"metric {key!r} must be a number, got {type(value).__name__}: {value!r:.60}"
        )
    out = float(value)
    if math.isnan(out):
        return math.nan
    return out


# Names that appear in URIs (models:/<name>/<version>, datasets:/<name>/<version>) and paths.
_URI_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")


def validate_uri_name(name: Any, what: str) -> str:
    """A name used in ``<scheme>:/<name>/<version>`` URIs: letters, digits, ``_ . -``."""
    if not isinstance(name, str) or not _URI_NAME.match(name):
        raise InvalidArgument(
            f"{what} {name!r:.80} must start with a letter or digit and hold only letters, "
            "digits, '_', '.' and '-' (at most 256 characters)"
        )
    return name


def validate_version_number(version: Any, what: str) -> int:
    """A version number: a positive 32-bit integer (digits in a string are accepted)."""
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
        raise InvalidArgument(f"a {what} is a positive integer, got {version!r:.40}")
    return version
