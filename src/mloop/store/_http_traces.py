"""The traces half of ``HttpStore``, over ``/api/v1/genai/spans`` and ``/api/v1/genai/traces``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from mloop.store._http_transport import seg
from mloop.store._traces_base import Trace


class HttpTraces:
    """Mixed into ``HttpStore``; uses its ``_request``."""

    _request: Callable[..., httpx.Response]

    def _log_spans(self, spans: list[dict[str, Any]]) -> None:
        self._request("POST", "/genai/spans", json={"spans": spans})

    def _search_traces(self, where: dict[str, Any], limit: int) -> list[Trace]:
        where = dict(where)
        for key in ("min", "max"):
            us = where.pop(f"{key}_us", None)
            if us is not None:
                where[f"{key}_duration_ms"] = us / 1000.0
        params = {k: str(v) for k, v in where.items() if v is not None}
        params["limit"] = str(limit)
        response = self._request("GET", "/genai/traces", params=params)
        return [Trace(**d) for d in orjson.loads(response.content)["traces"]]

    def _get_trace(self, trace_id: str) -> Trace:
        response = self._request("GET", f"/genai/traces/{seg(trace_id)}")
        return Trace(**orjson.loads(response.content))
