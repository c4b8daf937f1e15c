"""The screen views of ``HttpStore``, over ``/api/v1/runs/table``, ``/api/v1/runs/keys`` and
``/api/v1/metrics/histories`` (see :mod:`._views_base`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from mloop.store._entities import ModelVersion, ViewType
from mloop.store._http_transport import seg as _seg
from mloop.store._views_base import MetricSeries, RunKeys, RunTable, XAxis


class HttpViews:
    """Mixed into ``HttpStore``; uses its ``_request``."""

    _request: Callable[..., httpx.Response]

    def _search_run_table(
        self,
        experiment_ids: list[str],
        filter: str,
        order_by: list[str],
        metrics: list[str],
        params: list[str],
        tags: list[str],
        max_results: int,
        page_token: str | None,
        view: ViewType,
    ) -> RunTable:
        body = {
            "experiment_ids": experiment_ids,
            "filter": filter,
            "order_by": order_by,
            "columns": {"metrics": metrics, "params": params, "tags": tags},
            "max_results": max_results,
            "page_token": page_token,
            "view": view.value,
        }
        response = self._request("POST", "/runs/table", json=body)
        return RunTable.model_validate_json(response.content)

    def _list_run_keys(self, experiment_ids: list[str], view: ViewType) -> RunKeys:
        body = {"experiment_ids": experiment_ids, "view": view.value}
        response = self._request("POST", "/runs/keys", json=body)
        return RunKeys.model_validate_json(response.content)

    def _get_metric_histories(
        self,
        run_ids: list[str],
        keys: list[str],
        max_points: int | None,
        x_axis: XAxis,
        x_min: int | None,
        x_max: int | None,
    ) -> list[MetricSeries]:
        body: dict[str, Any] = {"run_ids": run_ids, "keys": keys, "x_axis": x_axis.value}
        for name, value in (("max_points", max_points), ("x_min", x_min), ("x_max", x_max)):
            if value is not None:
                body[name] = value
        response = self._request("POST", "/metrics/histories", json=body)
        return [MetricSeries.from_json_dict(s) for s in orjson.loads(response.content)["series"]]

    def _get_run_outputs(self, run_id: str) -> list[ModelVersion]:
        response = self._request("GET", f"/runs/{_seg(run_id)}/outputs")
        return [ModelVersion.model_validate(v) for v in orjson.loads(response.content)]
