"""``/api/v1`` views for screens (the web UI, notebooks, dashboards): a runs table of chosen
columns, the keys runs were logged with, metric series of many runs thinned for a chart, and the
model versions a run produced. Each answers in one request what would otherwise take one per run.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from mloop._web._errors import ERROR_RESPONSES, JsonResponse
from mloop.server._auth import IdentityDep, check_run_scope, scoped_experiment_ids
from mloop.server._tracking import IdStr, StoreDep, _Body
from mloop.store import ModelVersion, RunKeys, RunTable, ViewType, XAxis

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

_ATTRIBUTES = (
    "run_id",
    "run_name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "experiment_id",
    "user",
)


class TableColumns(_Body):
    metrics: list[str] = Field(default_factory=list, examples=[["auc", "loss"]])
    params: list[str] = Field(default_factory=list, examples=[["model"]])
    tags: list[str] = Field(default_factory=list)


class RunTableBody(_Body):
    experiment_ids: list[IdStr] = Field(default_factory=list)
    filter: str = Field(default="", examples=["metrics.auc > 0.9 and params.model = 'lgbm'"])
    order_by: list[str] = Field(default_factory=list, examples=[["metrics.auc desc"]])
    columns: TableColumns = Field(default_factory=TableColumns)
    max_results: int = 1_000
    page_token: str | None = None
    view: ViewType = ViewType.ACTIVE


class RunKeysBody(_Body):
    experiment_ids: list[IdStr] = Field(default_factory=list)
    view: ViewType = ViewType.ACTIVE


class HistoriesBody(_Body):
    run_ids: list[str]
    keys: list[str] | None = Field(
        default=None,
        description="the metric keys; null: the keys the runs logged, sorted, the first"
        " max_keys of them (a page can ask before it has read the run)",
    )
    max_keys: int = Field(
        default=100, ge=1, le=100, description="with keys null: at most this many keys"
    )
    max_points: int | None = Field(
        default=None,
        description="thin each series for a chart this many pixels wide (min and max per"
        " x bucket); a series of at most 2 * max_points points comes whole; null: every point",
    )
    x_axis: XAxis = XAxis.STEP
    x_min: int | None = Field(default=None, description="only points with x >= x_min")
    x_max: int | None = Field(default=None, description="only points with x <= x_max")


_SERIES_SCHEMA = {
    "type": "object",
    "properties": {
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "run_id": {"type": "string"},
                    "key": {"type": "string"},
                    "steps": {"type": "array", "items": {"type": "integer"}},
                    "timestamps": {"type": "array", "items": {"type": "integer"}},
                    "values": {"type": "array", "items": {}},
                    "total": {"type": "integer"},
                    "sampled": {"type": "boolean"},
                },
            },
        }
    },
}


@router.post("/runs/table", tags=["views"], response_model=RunTable)
def search_run_table(body: RunTableBody, store: StoreDep, identity: IdentityDep) -> Response:
    """The runs a search finds (the filter language, order and page tokens of
    ``/runs/search``), columnar, with only the metric, param and tag columns asked for.
    Metric values NaN and infinities are the strings "NaN", "Infinity", "-Infinity"."""
    ids = scoped_experiment_ids(identity, body.experiment_ids)
    if ids is None:  # a token scoped to other experiments: no run, the same columns
        table = RunTable(
            attributes={name: [] for name in _ATTRIBUTES},
            metrics={key: [] for key in body.columns.metrics},
            params={key: [] for key in body.columns.params},
            tags={key: [] for key in body.columns.tags},
        )
        return Response(table.model_dump_json(), media_type="application/json")
    table = store.search_run_table(
        ids,
        body.filter,
        body.order_by,
        metrics=body.columns.metrics,
        params=body.columns.params,
        tags=body.columns.tags,
        max_results=body.max_results,
        page_token=body.page_token,
        view=body.view,
    )
    # Serialized by the record itself, so NaN metrics are written as "NaN", not refused.
    return Response(table.model_dump_json(), media_type="application/json")


@router.post("/runs/keys", tags=["views"])
def list_run_keys(body: RunKeysBody, store: StoreDep, identity: IdentityDep) -> RunKeys:
    """Every metric, param and tag key of the runs of some experiments (all when none named)."""
    ids = scoped_experiment_ids(identity, body.experiment_ids)
    if ids is None:
        return RunKeys(metrics=[], params=[], tags=[])
    return store.list_run_keys(ids, body.view)


@router.post(
    "/metrics/histories",
    tags=["views"],
    response_class=JsonResponse,
    responses={200: {"content": {"application/json": {"schema": _SERIES_SCHEMA}}}},
)
def get_metric_histories(
    body: HistoriesBody, store: StoreDep, identity: IdentityDep
) -> JsonResponse:
    """Metric series of several runs and keys in one request, each thinned for a chart of
    ``max_points`` pixels and cut to ``[x_min, x_max]`` when asked; a run that did not log a key
    is left out. Without ``keys``, the keys the runs logged (the first ``max_keys``, sorted)."""
    for run_id in body.run_ids:
        check_run_scope(identity, store, run_id)
    keys = body.keys
    if keys is None:
        logged = {key for run_id in body.run_ids for key in store.get_run(run_id).data.metrics}
        keys = sorted(logged)[: body.max_keys]
        if body.run_ids and not keys:  # runs without metrics (no runs: the store refuses)
            return JsonResponse({"series": []})
    series = store.get_metric_histories(
        body.run_ids,
        keys,
        max_points=body.max_points,
        x_axis=body.x_axis,
        x_min=body.x_min,
        x_max=body.x_max,
    )
    return JsonResponse({"series": [s.to_json_dict(arrays=True) for s in series]})


@router.get("/runs/{run_id}/outputs", tags=["views"])
def get_run_outputs(run_id: str, store: StoreDep) -> list[ModelVersion]:
    """The model versions registered from a run."""
    return store.get_run_outputs(run_id)
