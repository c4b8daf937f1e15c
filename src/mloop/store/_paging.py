"""Page tokens for searches: an offset, bound to the search that issued it."""

from __future__ import annotations

import base64
import hashlib

import orjson

from mloop.errors import InvalidArgument
from mloop.store._entities import ViewType


def fingerprint(exp_pks: list[int], filter: str, order_by: list[str], view: ViewType) -> str:
    # repr, not JSON: any id or text the search was given (a 70-bit id, a lone surrogate) has
    # one, and the search itself refuses what it cannot run.
    raw = repr((sorted(exp_pks), filter, order_by, view.value))
    return hashlib.sha256(raw.encode("utf-8", "backslashreplace")).hexdigest()[:16]


def encode_token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"o": offset, "f": fingerprint})).decode()


def decode_token(token: str, fingerprint: str) -> int:
    try:
        body = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(body["o"])
        fp = body["f"]
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidArgument(f"page token {token[:40]!r} is not valid") from None
    if not 0 <= offset < 2**63:
        raise InvalidArgument(f"page token {token[:40]!r} is not valid")
    if fp != fingerprint:
        raise InvalidArgument(
            "page token belongs to another search: pass the same experiments, filter, "
            "order-by and view as the search that returned it"
        )
    return offset
