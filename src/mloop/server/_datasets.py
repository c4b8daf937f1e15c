"""``/api/v1/datasets`` routes (dataset versions and their files) and run inputs (lineage)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from mloop._web._errors import ERROR_RESPONSES, FILE_ERROR_RESPONSES
from mloop.server._auth import IdentityDep, actor_of
from mloop.server._middleware import lift_body_limit
from mloop.server._streams import FileResponse, run_with_body
from mloop.server._tracking import StoreDep, _Body
from mloop.store import ArtifactInfo, DatasetCheck, DatasetColumn, DatasetVersion, RunInput

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

_BINARY = {"schema": {"type": "string", "format": "binary"}}


class CreateDatasetVersionBody(_Body):
    digest: str = Field(description="sha256 (hex) of the uploaded <digest>.parquet file")
    format: str = "parquet"
    num_rows: int
    num_columns: int
    columns: list[DatasetColumn]
    size_bytes: int
    description: str = ""
    tags: dict[str, str] | None = None


class RunInputItem(_Body):
    name: str
    version: int
    context: str = "train"


class LogInputsBody(_Body):
    inputs: list[RunInputItem]


class LogDatasetCheckBody(_Body):
    report: dict[str, Any] = Field(
        description="CheckReport.to_dict(): passed, checks, num_rows, summary (checks, failed,"
        " error) and failures; other keys are ignored"
    )
    run_id: str | None = Field(default=None, description="the run active when the checks ran")
    actor: str = Field(
        default="",
        description="ignored under --auth (the token names the actor); "
        "else recorded as unverified:<actor>",
    )


@router.get("/datasets", tags=["datasets"])
def list_datasets(store: StoreDep) -> list[DatasetVersion]:
    """The latest version of every dataset, by name."""
    return store.list_datasets()


@router.post("/datasets/{name}/versions", status_code=201, tags=["datasets"])
def create_dataset_version(
    name: str, body: CreateDatasetVersionBody, store: StoreDep
) -> DatasetVersion:
    """Register an uploaded file as the next version (the existing version when the content is
    registered already); numbers have no gaps."""
    return store.create_dataset_version(
        name,
        digest=body.digest,
        format=body.format,
        num_rows=body.num_rows,
        num_columns=body.num_columns,
        columns=body.columns,
        size_bytes=body.size_bytes,
        description=body.description,
        tags=body.tags,
    )


@router.get("/datasets/{name}/versions", tags=["datasets"])
def list_dataset_versions(
    name: str,
    store: StoreDep,
    digest_prefix: Annotated[
        str | None, Query(description="only versions whose digest starts so (8+ hex characters)")
    ] = None,
) -> list[DatasetVersion]:
    """Every version, newest first; or the versions whose digest starts with a prefix."""
    if digest_prefix is None:
        return store.list_dataset_versions(name)
    return store.find_dataset_versions(name, digest_prefix)


@router.get("/datasets/{name}/versions/{version}", tags=["datasets"])
def get_dataset_version(name: str, version: int, store: StoreDep) -> DatasetVersion:
    return store.get_dataset_version(name, version)


@router.get("/datasets/{name}/latest", tags=["datasets"])
def get_latest_dataset_version(name: str, store: StoreDep) -> DatasetVersion:
    """The newest version."""
    return store.get_latest_dataset_version(name)


@router.post("/datasets/{name}/versions/{version}/checks", status_code=201, tags=["datasets"])
def log_dataset_check(
    name: str, version: int, body: LogDatasetCheckBody, store: StoreDep, identity: IdentityDep
) -> DatasetCheck:
    """Store the outcome of data checks run on this version (``mloop data check`` sends it)."""
    return store.log_dataset_check(
        name, version, body.report, run_id=body.run_id, actor=actor_of(identity, body.actor)
    )


@router.get("/datasets/{name}/checks", tags=["datasets"])
def list_dataset_checks(
    name: str,
    store: StoreDep,
    version: Annotated[int | None, Query(description="only this version's checks")] = None,
    max_results: Annotated[int, Query(description="at most this many (1 to 1,000)")] = 100,
) -> list[DatasetCheck]:
    """Stored check results of the dataset, newest first."""
    return store.list_dataset_checks(name, version, max_results=max_results)


@router.put(
    "/datasets/{name}/files/{filename}",
    status_code=201,
    tags=["datasets"],
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/octet-stream": _BINARY}}
    },
)
async def put_dataset_file(
    name: str, filename: str, request: Request, store: StoreDep
) -> ArtifactInfo:
    """Store ``<digest>.parquet`` (refused unless its bytes have that sha256) or
    ``<digest>.profile.bin`` (streamed; no size limit)."""
    lift_body_limit(request.scope)

    def put(reader: Any) -> ArtifactInfo:
        return store.put_dataset_file(name, filename, reader)

    info: ArtifactInfo = await run_with_body(request.stream(), put)
    return info


@router.get(
    "/datasets/{name}/files/{filename}",
    tags=["datasets"],
    response_class=FileResponse,
    responses={
        **FILE_ERROR_RESPONSES,
        200: {"content": {"application/octet-stream": _BINARY}, "description": "the file"},
    },
)
def get_dataset_file(name: str, filename: str, store: StoreDep) -> FileResponse:
    """The bytes of one dataset file, streamed."""
    return FileResponse(store.open_dataset_file(name, filename))


@router.post("/runs/{run_id}/inputs", status_code=204, tags=["runs"])
def log_inputs(run_id: str, body: LogInputsBody, store: StoreDep) -> Response:
    """Record the dataset versions a run read (idempotent)."""
    store.log_inputs(run_id, [(i.name, i.version, i.context) for i in body.inputs])
    return Response(status_code=204)


@router.get("/runs/{run_id}/inputs", tags=["runs"])
def get_run_inputs(run_id: str, store: StoreDep) -> list[RunInput]:
    """The dataset versions a run read."""
    return store.get_run_inputs(run_id)
