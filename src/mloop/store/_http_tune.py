"""The tuning half of ``HttpStore``, over ``/api/v1/tune/journals/{key}/logs``.

Each log travels as its JSON text (a string inside the JSON body), so the non-finite floats
Optuna may write (``NaN``, ``Infinity``) cross the wire unchanged; strict JSON has no such values.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson

from mloop.store._http_transport import seg


class HttpTune:
    """Mixed into ``HttpStore``; uses its ``_request``."""

    _request: Callable[..., httpx.Response]

    def _append_tune_journal(self, key: str, texts: list[str]) -> int:
        response = self._request("POST", f"/tune/journals/{seg(key)}/logs", json={"logs": texts})
        return int(orjson.loads(response.content)["first_index"])

    def _read_tune_journal(self, key: str, start: int, limit: int) -> list[tuple[int, str]]:
        response = self._request(
            "GET",
            f"/tune/journals/{seg(key)}/logs",
            params={"start": str(start), "limit": str(limit)},
        )
        return [(int(e["index"]), e["log"]) for e in orjson.loads(response.content)["logs"]]
