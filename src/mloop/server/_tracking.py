"""``/api/v1`` routes of experiment tracking: experiments, runs, metrics, search, artifacts.

A thin adapter: parse the request, call the store (which validates), return its records. Route
functions are synchronous (FastAPI runs them in its thread pool; stores are thread-safe), except
the artifact upload, which drives the body stream and runs the store call in a worker thread.
"""

from __future__ import annotations

import math
import os
import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mloop._web._errors import (
    CONFLICT_RESPONSE,
    ERROR_RESPONSES,
    FILE_ERROR_RESPONSES,
    TOO_LARGE_RESPONSE,
    JsonResponse,
)
from mloop.errors import InvalidArgument, UnsafeArtifactPath
from mloop.server._auth import IdentityDep, check_experiment_scope, scoped_experiment_ids
from mloop.server._links import EXPERIMENT_LINKS, RUN_LINKS, linked
from mloop.server._middleware import lift_body_limit
from mloop.server._rules import ENTITY_NAME, TAGS
from mloop.server._streams import FileResponse, run_with_body
from mloop.store import (
    ArtifactInfo,
    Experiment,
    Run,
    RunInfo,
    RunsPage,
    RunStatus,
    Store,
    ViewType,
)
from mloop.store._base import MAX_BATCH_METRICS


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


async def _experiment_scope(request: Request, identity: IdentityDep) -> None:
    """404 for an experiment outside the token's scopes (so scopes do not leak names)."""
    experiment_id = request.path_params.get("experiment_id")
    if isinstance(experiment_id, str):
        check_experiment_scope(identity, experiment_id)


router = APIRouter(
    prefix="/api/v1", responses=ERROR_RESPONSES, dependencies=[Depends(_experiment_scope)]
)


def _id_text(value: Any) -> Any:
    # Ids are strings; accept JSON integers too (MLflow-style clients send them).
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


IdStr = Annotated[str, BeforeValidator(_id_text)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateExperimentBody(_Body):
    name: str = Field(json_schema_extra=ENTITY_NAME)
    tags: dict[str, str] | None = Field(default=None, json_schema_extra=TAGS)
    artifact_location: str | None = None


class RenameExperimentBody(_Body):
    name: str = Field(json_schema_extra=ENTITY_NAME)


class TagValueBody(_Body):
    value: str


class CreateRunBody(_Body):
    experiment_id: IdStr
    run_id: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{32}$",
        description="an id chosen by the client (a run created offline and replayed); "
        "creating an existing run of the experiment returns it unchanged",
    )
    run_name: str | None = Field(
        default=None,
        json_schema_extra={"anyOf": [{"type": "string", **ENTITY_NAME}, {"type": "null"}]},
    )
    parent_run_id: str | None = None
    start_time: int | None = Field(
        default=None,
        description="ms since the Unix epoch",
        json_schema_extra={
            "anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**63 - 1}, {"type": "null"}]
        },
    )
    tags: dict[str, str] | None = Field(default=None, json_schema_extra=TAGS)
    user: str = ""


class UpdateRunBody(_Body):
    status: RunStatus | None = None
    end_time: int | None = Field(default=None, description="ms since the Unix epoch")
    run_name: str | None = None


class SearchRunsBody(_Body):
    experiment_ids: list[IdStr] = Field(default_factory=list)
    filter: str = Field(default="", examples=["metrics.auc > 0.9 and params.model = 'lgbm'"])
    order_by: list[str] = Field(default_factory=list, examples=[["metrics.auc desc"]])
    max_results: int = 100
    page_token: str | None = None
    view: ViewType = ViewType.ACTIVE


_FLOAT: dict[str, Any] = {
    "anyOf": [{"type": "number"}, {"type": "null"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]
}


class MetricHistoryBody(BaseModel):
    """A metric's points, columnar; NaN and infinities as strings."""

    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float | str | None] = Field(json_schema_extra={"items": _FLOAT})


_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "metrics": {
            "type": "array",
            "description": "metric points as [key, value, step, timestamp (ms)]; a value may be"
            ' a number, null (NaN) or "NaN", "Infinity", "-Infinity"',
            "items": {
                "type": "array",
                "prefixItems": [
                    {"type": "string"},
                    _FLOAT,
                    {"type": "integer"},
                    {"type": "integer"},
                ],
                "minItems": 4,
                "maxItems": 4,
            },
            "example": [["loss", 0.25, 1, 1700000000000], ["loss", "NaN", 2, 1700000000100]],
        },
        "params": {"type": "object", "additionalProperties": {"type": "string"}},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "batch_id": {
            "type": "string",
            "maxLength": 64,
            "description": "an idempotency key: a batch sent again with the same id (a retry"
            " after a timeout, a replayed spool) is acknowledged and not written twice",
        },
    },
}

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_BATCH_KEYS = frozenset(("metrics", "params", "tags", "batch_id"))


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def _parse_json(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(
            f"the request body is not valid JSON: {exc.msg} at position {exc.pos}",
            details={"position": exc.pos},
        ) from None


#: A JSON string, escapes included (the unrolled form: no backtracking).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _refuse_too_many_points(body: bytes) -> None:
    """Refuse a batch of more than ``MAX_BATCH_METRICS`` points before it is parsed.

    Every point is a JSON array and a valid batch holds no other array than ``metrics``, so
    the ``[`` outside strings, less one, count the points; counting bytes costs a fraction
    of parsing and allocates nothing (the common batch has fewer ``[`` than the limit at
    all, and is not looked at further). A body that is not a valid batch is refused either
    way."""
    opens = body.count(b"[")
    if opens <= MAX_BATCH_METRICS + 1:
        return
    # One string at a time (no copy of the body): the '[' inside keys and values.
    inside = sum(found.group().count(b"[") for found in _JSON_STRING.finditer(body))
    points = opens - inside - 1
    if points > MAX_BATCH_METRICS:
        raise InvalidArgument(
            f"a batch holds at most {MAX_BATCH_METRICS} metric points, got {points}; "
            "send several batches (refused before parsing)",
            details={"max_points": MAX_BATCH_METRICS},
        )


def parse_batch(body: bytes) -> tuple[list[Any], Any, Any, Any]:
    """Metrics, params and tags of a batch body, with metric values decoded to floats (the store
    validates everything else); a batch over the point limit is refused before it is
    parsed."""
    _refuse_too_many_points(body)
    data = _parse_json(body)
    if not isinstance(data, dict):
        raise InvalidArgument("the batch body must be a JSON object with metrics, params, tags")
    unknown = data.keys() - _BATCH_KEYS
    if unknown:
        raise InvalidArgument(
            f"unknown field(s) in the batch body: {', '.join(sorted(unknown))};"
            " expected metrics, params, tags, batch_id",
            details={"fields": sorted(unknown)},
        )
    metrics = data.get("metrics") or []
    if not isinstance(metrics, list):
        raise InvalidArgument("metrics must be a list of [key, value, step, timestamp]")
    if len(metrics) > MAX_BATCH_METRICS:  # before a value is looked at
        raise InvalidArgument(
            f"a batch holds at most {MAX_BATCH_METRICS} metric points, got {len(metrics)}; "
            "send several batches"
        )
    special = _SPECIAL_FLOATS
    for point in metrics:
        if type(point) is list and len(point) == 4:
            value = point[1]
            if type(value) is not float and type(value) is not int:
                if value is None:
                    point[1] = math.nan
                elif type(value) is str and value in special:
                    point[1] = special[value]
    return metrics, _json_params(data.get("params")), data.get("tags"), data.get("batch_id")


def _json_params(params: Any) -> Any:
    """Param values as the JSON text of what was sent: a string as it is, a number or a
    boolean as JSON writes it (``true``, ``0.5``); null, objects and arrays are refused (a
    Python ``str()`` would store ``None`` or a Python repr)."""
    if not isinstance(params, dict):
        return params  # the store says what is wrong
    out: dict[Any, str] = {}
    for key, value in params.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
            out[key] = orjson.dumps(value).decode()
        else:
            raise InvalidArgument(
                f"param {key!r:.80} must be a string, a number or a boolean, got "
                f"{'null' if value is None else type(value).__name__}",
                details={"param": key},
            )
    return out


def _artifact_path(path: str) -> str:
    # The store checks too; refusing here as well keeps a traversal attempt away from any store.
    parts = path.replace("\\", "/").split("/")
    if "\x00" in path or path.startswith(("/", "\\")) or ".." in parts:
        raise UnsafeArtifactPath(
            f"artifact path {path!r} must be relative and stay inside the run's artifact root"
            " (no '..' segment, no leading '/')",
            details={"path": path},
        )
    return path


# -- experiments ---------------------------------------------------------------------------------


@router.post(
    "/experiments",
    status_code=201,
    tags=["experiments"],
    responses={
        **CONFLICT_RESPONSE,
        **TOO_LARGE_RESPONSE,
        **linked(201, "The experiment", EXPERIMENT_LINKS),
    },
)
def create_experiment(body: CreateExperimentBody, store: StoreDep) -> Experiment:
    """Create an experiment (409 when the name is taken, also by a deleted one). An
    ``artifact_location`` must lie inside the server's artifact root (422 otherwise): the
    server decides where uploads land."""
    location = body.artifact_location
    if location:
        location = confined_location(location, getattr(store, "artifacts_uri", None))
    return store.create_experiment(body.name, tags=body.tags, artifact_location=location)


def confined_location(location: str, root: str | None) -> str:
    """``location`` when it lies inside the artifact root ``root``, normalized.

    Raises:
        InvalidArgument: outside the root, another scheme, or a server without a root.
    """
    refused = InvalidArgument(
        "artifact_location must lie inside the server's artifact root (or be left out, and "
        "the server chooses)",
        details={"artifact_location": location},
    )
    if not root or "\x00" in location:
        raise refused
    if "://" in root:  # an object store: the same scheme and bucket, under the prefix
        parts = location.split("/")
        if ".." in parts or "." in parts or not location.startswith(root.rstrip("/") + "/"):
            raise refused
        return location
    if "://" in location and not location.startswith("file://"):
        raise refused
    path = os.path.realpath(location.removeprefix("file://"))
    base = os.path.realpath(root)
    if os.path.commonpath([path, base]) != base or path == base:
        raise refused
    return path


@router.get("/experiments", tags=["experiments"])
def list_experiments(
    store: StoreDep, identity: IdentityDep, view: ViewType = ViewType.ACTIVE
) -> list[Experiment]:
    """Experiments ordered by name (those of the token's scopes)."""
    scopes = identity.scopes
    return [e for e in store.list_experiments(view) if scopes.allows_experiment(e.experiment_id)]


@router.get("/experiments/by-name/{name:path}", tags=["experiments"])
def get_experiment_by_name(name: str, store: StoreDep, identity: IdentityDep) -> Experiment:
    found = store.get_experiment_by_name(name)
    check_experiment_scope(identity, found.experiment_id)
    return found


@router.get("/experiments/{experiment_id}", tags=["experiments"])
def get_experiment(experiment_id: str, store: StoreDep) -> Experiment:
    return store.get_experiment(experiment_id)


@router.patch("/experiments/{experiment_id}", tags=["experiments"], responses=CONFLICT_RESPONSE)
def rename_experiment(
    experiment_id: str, body: RenameExperimentBody, store: StoreDep
) -> Experiment:
    return store.rename_experiment(experiment_id, body.name)


@router.delete("/experiments/{experiment_id}", status_code=204, tags=["experiments"])
def delete_experiment(experiment_id: str, store: StoreDep) -> Response:
    """Soft-delete: the experiment and its runs are hidden until restored."""
    store.delete_experiment(experiment_id)
    return Response(status_code=204)


@router.post("/experiments/{experiment_id}/restore", status_code=204, tags=["experiments"])
def restore_experiment(experiment_id: str, store: StoreDep) -> Response:
    store.restore_experiment(experiment_id)
    return Response(status_code=204)


@router.put("/experiments/{experiment_id}/tags/{key:path}", status_code=204, tags=["experiments"])
def set_experiment_tag(
    experiment_id: str, key: str, body: TagValueBody, store: StoreDep
) -> Response:
    store.set_experiment_tag(experiment_id, key, body.value)
    return Response(status_code=204)


# -- runs ----------------------------------------------------------------------------------------


@router.post("/runs", status_code=201, tags=["runs"], responses=linked(201, "The run", RUN_LINKS))
def create_run(body: CreateRunBody, store: StoreDep, identity: IdentityDep) -> Run:
    """Start a run in state RUNNING (under ``--auth`` its user is the token's identity)."""
    check_experiment_scope(identity, body.experiment_id)
    return store.create_run(
        body.experiment_id,
        run_name=body.run_name,
        parent_run_id=body.parent_run_id,
        start_time=body.start_time,
        tags=body.tags,
        user=identity.name if identity.authenticated else body.user,
        run_id=body.run_id,
    )


@router.post("/runs/{run_id}/heartbeat", status_code=204, tags=["runs"])
def heartbeat(run_id: str, store: StoreDep) -> Response:
    """The run's process is alive (clients send one every 30 s while a run is active)."""
    store.heartbeat(run_id)
    return Response(status_code=204)


class SweepBody(_Body):
    timeout_ms: int = Field(ge=1000, lt=2**63, description="silence after which a run is dead")


class SweepResult(BaseModel):
    killed: list[str]


@router.post("/runs/sweep", tags=["runs"])
def sweep_dead_runs(body: SweepBody, store: StoreDep) -> SweepResult:
    """Mark KILLED the RUNNING runs whose last heartbeat is older than ``timeout_ms``."""
    return SweepResult(killed=store.sweep_dead_runs(body.timeout_ms))


@router.post("/runs/search", tags=["runs"])
def search_runs(body: SearchRunsBody, store: StoreDep, identity: IdentityDep) -> RunsPage:
    """Find runs with the filter language; pass ``next_page_token`` back for the next page
    (a token scoped to experiments searches those only)."""
    ids = scoped_experiment_ids(identity, body.experiment_ids)
    if ids is None:
        return RunsPage(runs=[], next_page_token=None)
    return store.search_runs(
        ids,
        body.filter,
        body.order_by,
        body.max_results,
        body.page_token,
        body.view,
    )


@router.get("/runs/{run_id}", tags=["runs"])
def get_run(run_id: str, store: StoreDep) -> Run:
    return store.get_run(run_id)


@router.patch("/runs/{run_id}", tags=["runs"])
def update_run(run_id: str, body: UpdateRunBody, store: StoreDep) -> RunInfo:
    """Change a run's status, end time or name."""
    return store.update_run(
        run_id, status=body.status, end_time=body.end_time, run_name=body.run_name
    )


@router.delete("/runs/{run_id}", status_code=204, tags=["runs"])
def delete_run(run_id: str, store: StoreDep) -> Response:
    store.delete_run(run_id)
    return Response(status_code=204)


@router.post("/runs/{run_id}/restore", status_code=204, tags=["runs"])
def restore_run(run_id: str, store: StoreDep) -> Response:
    store.restore_run(run_id)
    return Response(status_code=204)


@router.delete("/runs/{run_id}/tags/{key:path}", status_code=204, tags=["runs"])
def delete_run_tag(run_id: str, key: str, store: StoreDep) -> Response:
    store.delete_tag(run_id, key)
    return Response(status_code=204)


@router.post(
    "/runs/{run_id}/batch",
    status_code=204,
    tags=["runs"],
    responses={**CONFLICT_RESPONSE, **TOO_LARGE_RESPONSE},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BATCH_SCHEMA}},
        }
    },
)
def log_batch(run_id: str, body: RawBody, store: StoreDep) -> Response:
    """Log metric points, params and tags in one transaction (params are immutable: 409 when
    one exists with another value, and nothing of the batch is written)."""
    metrics, params, tags, batch_id = parse_batch(body)
    store.log_batch(run_id, metrics=metrics, params=params, tags=tags, batch_id=batch_id)
    return Response(status_code=204)


@router.get(
    "/runs/{run_id}/metrics/{key:path}/history",
    tags=["runs"],
    response_class=JsonResponse,
    responses={200: {"model": MetricHistoryBody, "description": "every point, columnar"}},
)
def get_metric_history(run_id: str, key: str, store: StoreDep) -> JsonResponse:
    """Every point of one metric, ordered by step then timestamp."""
    return JsonResponse(store.get_metric_history(run_id, key).to_json_dict(arrays=True))


# -- artifacts -----------------------------------------------------------------------------------


@router.get("/runs/{run_id}/artifacts", tags=["artifacts"])
def list_artifacts(
    run_id: str,
    store: StoreDep,
    path: Annotated[str, Query(description="a folder under the run's artifact root")] = "",
) -> list[ArtifactInfo]:
    """Files and folders directly under ``path``."""
    return store.list_artifacts(run_id, _artifact_path(path) if path else "")


@router.put(
    "/runs/{run_id}/artifacts/{path:path}",
    status_code=201,
    tags=["artifacts"],
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/octet-stream": _BINARY}}
    },
)
async def put_artifact(run_id: str, path: str, request: Request, store: StoreDep) -> ArtifactInfo:
    """Store the raw request body as the file ``path`` (streamed; no size limit)."""
    lift_body_limit(request.scope)

    def put(reader: Any) -> ArtifactInfo:
        return store.put_artifact(run_id, _artifact_path(path), reader)

    info: ArtifactInfo = await run_with_body(request.stream(), put)
    return info


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    tags=["artifacts"],
    response_class=FileResponse,
    responses={
        **FILE_ERROR_RESPONSES,
        200: {"content": {"application/octet-stream": _BINARY}, "description": "the file"},
    },
)
def get_artifact(run_id: str, path: str, store: StoreDep) -> FileResponse:
    """The bytes of one artifact file, streamed."""
    return FileResponse(store.open_artifact(run_id, _artifact_path(path)))
