"""The store's rules for names, keys and tag values, stated in the OpenAPI schema.

The store checks every value (and answers 422 with its own message); these fragments tell
clients and schema-driven fuzzers what it accepts, so that generated valid data is valid. They
are schema only (``json_schema_extra``): the store's check stays the one that decides.
"""

from __future__ import annotations

from typing import Any, Final

from mloop._core._validation import MAX_ENTITY_NAME, MAX_KEY, MAX_TAG_VALUE

__all__ = ["ENTITY_NAME", "KEY", "LOOP_NAME", "TAGS", "URI_NAME"]

#: An experiment or run name: a non-blank text without control characters (surrounding
#: spaces are stripped).
ENTITY_NAME: Final[dict[str, Any]] = {
    "pattern": r"^[^\x00-\x1f]*[^\x00-\x20][^\x00-\x1f]*$",
    "maxLength": MAX_ENTITY_NAME,
}
#: A registered model's name (it appears in ``models:/<name>/...`` URIs).
URI_NAME: Final[dict[str, Any]] = {"pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$"}
#: A loop's name.
LOOP_NAME: Final[dict[str, Any]] = {"pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"}
#: A param, metric or tag key.
KEY: Final[dict[str, Any]] = {
    "pattern": r"^[\w\-. ][\w\-. /]*$",
    "maxLength": MAX_KEY,
}
#: A tag map: keys as :data:`KEY`, values without NUL.
TAGS: Final[dict[str, Any]] = {
    "anyOf": [
        {
            "type": "object",
            "propertyNames": KEY,
            "additionalProperties": {
                "type": "string",
                "pattern": r"^[^\x00]*$",
                "maxLength": MAX_TAG_VALUE,
            },
        },
        {"type": "null"},
    ]
}
