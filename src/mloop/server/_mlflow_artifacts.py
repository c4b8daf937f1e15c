"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/...``) on mloop's store.

MLflow clients address a run's files as ``mlflow-artifacts:/<experiment id>/<run id>/artifacts/
<path>`` (the ``artifact_uri`` the MLflow API reports for every run and logged model), which the
client sends here as ``<experiment id>/<run id>/artifacts/<path>``. Uploads are streamed to the
store, downloads streamed from it; paths are checked by the store (no ``..``, no absolute path).
"""

from __future__ import annotations

import posixpath
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mloop._web._errors import JsonResponse
from mloop.errors import ArtifactNotFound, InvalidArgument, RunNotFound, UnsafeArtifactPath
from mloop.server._middleware import lift_body_limit
from mloop.server._mlflow_common import (
    ARTIFACTS_PREFIX,
    MLFLOW_ERROR_RESPONSES,
    MlflowRoute,
    not_implemented,
    query_args,
)
from mloop.server._scoped import scoped_store
from mloop.server._streams import FileResponse, run_with_body
from mloop.store import ArtifactInfo, Store

router = APIRouter(
    prefix=ARTIFACTS_PREFIX,
    route_class=MlflowRoute,
    responses=MLFLOW_ERROR_RESPONSES,
    tags=["mlflow"],
)


def _store(request: Request) -> Store:
    # Narrowed to the caller's experiment scopes: a run or experiment outside them is 404.
    return scoped_store(request)


def split_path(path: str) -> tuple[str, str, str | None]:
    """``<experiment id>/<run id>/artifacts/<rel>`` as (experiment id, run id, rel); rel is None
    for ``<experiment id>/<run id>`` itself.

    Raises:
        UnsafeArtifactPath: a ``..`` segment, an absolute path or a backslash.
        InvalidArgument: the path does not name a run's artifacts.
    """
    if "\\" in path or "\x00" in path or path.startswith("/") or ".." in path.split("/"):
        raise UnsafeArtifactPath(
            f"artifact path {path!r:.100} must be relative and stay inside the artifact root",
            details={"path": path[:100]},
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if len(parts) < 2 or (len(parts) >= 3 and parts[2] != "artifacts"):
        raise InvalidArgument(
            f"artifact path {path!r:.100} does not name a run's artifacts: expected "
            "<experiment id>/<run id>/artifacts/<path>"
        )
    rel = "/".join(parts[3:]) if len(parts) >= 3 else None
    return parts[0], parts[1], rel


def _check_run(store: Store, experiment_id: str, run_id: str) -> None:
    run = store.get_run(run_id)
    if run.info.experiment_id != experiment_id:
        raise RunNotFound(f"no run {run_id!r} in experiment {experiment_id!r}")


def _file_json(info: ArtifactInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": posixpath.basename(info.path), "is_dir": info.is_dir}
    if info.size is not None:
        entry["file_size"] = info.size
    return entry


@router.get("/artifacts")
def list_artifacts(request: Request) -> JsonResponse:
    """ListArtifacts: the files directly under ``path`` (names only, as MLflow answers)."""
    store = _store(request)
    path = str(query_args(request).get("path") or "")
    exp_id, run_id, rel = split_path(path)
    _check_run(store, exp_id, run_id)
    if rel is None:
        return JsonResponse({"files": [{"path": "artifacts", "is_dir": True}]})
    try:
        infos = store.list_artifacts(run_id, rel)
    except ArtifactNotFound:
        infos = []
    return JsonResponse({"files": [_file_json(i) for i in infos]})


@router.get("/artifacts/{path:path}")
def download_artifact(path: str, request: Request) -> Response:
    store = _store(request)
    exp_id, run_id, rel = split_path(path)
    if not rel:
        raise InvalidArgument("name a file to download, not the artifact root")
    _check_run(store, exp_id, run_id)
    return FileResponse(store.open_artifact(run_id, rel))


@router.put("/artifacts/{path:path}")
async def upload_artifact(path: str, request: Request) -> JsonResponse:
    """Store the request body as the file ``path`` (streamed; no size limit)."""
    lift_body_limit(request.scope)
    store = _store(request)
    exp_id, run_id, rel = split_path(path)
    if not rel:
        raise InvalidArgument("name a file to upload to, not the artifact root")

    def put(reader: Any) -> ArtifactInfo:
        _check_run(store, exp_id, run_id)
        return store.put_artifact(run_id, rel, reader)

    await run_with_body(request.stream(), put)
    return JsonResponse({})


@router.delete("/artifacts/{path:path}")
def delete_artifact(path: str) -> JsonResponse:
    return not_implemented("deleting artifacts", " (a run's artifacts are kept with its record)")


@router.api_route("/mpu/{rest:path}", methods=["POST"], include_in_schema=False)
def multipart(rest: str) -> JsonResponse:
    return not_implemented(
        "multipart artifact uploads",
        "; unset MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD (uploads are streamed)",
    )
