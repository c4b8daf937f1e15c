"""``HttpStore``: the :class:`Store` interface over the REST API of a shared ``mloop server``.

One ``httpx.Client`` (keep-alive, safe to share between threads) carries every call. Error
responses are turned back into the exception the server's store raised, by the ``code`` of the
JSON error body; a server that cannot be reached raises :class:`StoreUnavailable`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import orjson

from mloop.errors import (
    ArtifactNotFound,
    StoreUnavailable,
)
from mloop.store._base import Store
from mloop.store._entities import (
    ArtifactInfo,
    Experiment,
    Metric,
    MetricHistory,
    Run,
    RunInfo,
    RunsPage,
    RunStatus,
    ViewType,
    encode_float,
)
from mloop.store._http_datasets import HttpDatasets
from mloop.store._http_loop import HttpLoops
from mloop.store._http_registry import HttpRegistry
from mloop.store._http_tokens import HttpTokens
from mloop.store._http_traces import HttpTraces
from mloop.store._http_transport import (
    CHUNK,
    error_from_response,
    open_stream,
    path_of,
    seg,
    unreachable,
)
from mloop.store._http_tune import HttpTune
from mloop.store._http_views import HttpViews
from mloop.store._localfs import make_dirs_inside, safe_relpath, upload_plan, write_local_atomic


def _metric_rows(metrics: list[Metric]) -> list[list[Any]]:
    isfinite = math.isfinite
    return [[m[0], m[1] if isfinite(m[1]) else encode_float(m[1]), m[2], m[3]] for m in metrics]


class HttpStore(
    HttpRegistry, HttpLoops, HttpDatasets, HttpTune, HttpTraces, HttpViews, HttpTokens, Store
):
    """A store behind an mloop server's REST API.

    Args:
        base_url: ``http(s)://host:port`` of the server.
        token: an API token, sent as ``Authorization: Bearer <token>`` (never logged).
        timeout: seconds to wait for a connection or a read.

    Example::

        with HttpStore("http://mloop.internal:5000", token=os.environ["MLOOP_TOKEN"]) as store:
            store.create_experiment("churn")
    """

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.uri = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "mloop-httpstore"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=self.uri + "/api/v1",
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
        )

    def __repr__(self) -> str:  # no token in reprs or logs
        return f"HttpStore({self.uri!r})"

    def close(self) -> None:
        self._client.close()

    # -- transport -----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        if json is not None:
            content = orjson.dumps(json)
            headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            response = self._client.request(
                method, url, content=content, params=params, headers=headers
            )
        except httpx.TransportError as exc:  # connect, read, write errors and timeouts
            raise unreachable(self.uri, exc) from exc
        if response.is_error:
            raise error_from_response(response.status_code, response.content)
        return response

    # -- liveness ------------------------------------------------------------------------------

    def _heartbeat(self, run_id: str) -> None:
        self._request("POST", f"/runs/{seg(run_id)}/heartbeat")

    def _sweep_dead_runs(self, timeout_ms: int) -> list[str]:
        response = self._request("POST", "/runs/sweep", json={"timeout_ms": timeout_ms})
        return list(orjson.loads(response.content)["killed"])

    # -- experiments ---------------------------------------------------------------------------

    def _ping(self) -> None:
        try:
            response = self._client.get(self.uri + "/healthz")
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"cannot reach the mloop server at {self.uri}: {exc}") from exc
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.content)

    def _create_experiment(
        self, name: str, tags: dict[str, str], artifact_location: str | None
    ) -> Experiment:
        body = {"name": name, "tags": tags, "artifact_location": artifact_location}
        response = self._request("POST", "/experiments", json=body)
        return Experiment.model_validate_json(response.content)

    def _get_experiment(self, experiment_id: str) -> Experiment:
        response = self._request("GET", f"/experiments/{seg(experiment_id)}")
        return Experiment.model_validate_json(response.content)

    def _get_experiment_by_name(self, name: str) -> Experiment:
        response = self._request("GET", f"/experiments/by-name/{path_of(name)}")
        return Experiment.model_validate_json(response.content)

    def _list_experiments(self, view: ViewType) -> list[Experiment]:
        response = self._request("GET", "/experiments", params={"view": view.value})
        return [Experiment.model_validate(e) for e in orjson.loads(response.content)]

    def _rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        response = self._request(
            "PATCH", f"/experiments/{seg(experiment_id)}", json={"name": new_name}
        )
        return Experiment.model_validate_json(response.content)

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        if stage == "deleted":
            self._request("DELETE", f"/experiments/{seg(experiment_id)}")
        else:
            self._request("POST", f"/experiments/{seg(experiment_id)}/restore")

    def _set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._request(
            "PUT", f"/experiments/{seg(experiment_id)}/tags/{path_of(key)}", json={"value": value}
        )

    # -- runs ----------------------------------------------------------------------------------

    def _create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None,
        parent_run_id: str | None,
        start_time: int | None,
        tags: dict[str, str],
        user: str,
        run_id: str | None = None,
    ) -> Run:
        body = {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "run_name": run_name,
            "parent_run_id": parent_run_id,
            "start_time": start_time,
            "tags": tags,
            "user": user,
        }
        response = self._request("POST", "/runs", json=body)
        return Run.model_validate_json(response.content)

    def _get_run(self, run_id: str) -> Run:
        response = self._request("GET", f"/runs/{seg(run_id)}")
        return Run.model_validate_json(response.content)

    def _update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        body: dict[str, Any] = {}
        if status is not None:
            body["status"] = status.value
        if end_time is not None:
            body["end_time"] = end_time
        if run_name is not None:
            body["run_name"] = run_name
        response = self._request("PATCH", f"/runs/{seg(run_id)}", json=body)
        return RunInfo.model_validate_json(response.content)

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        if stage == "deleted":
            self._request("DELETE", f"/runs/{seg(run_id)}")
        else:
            self._request("POST", f"/runs/{seg(run_id)}/restore")

    def _log_batch(
        self,
        run_id: str,
        metrics: list[Metric],
        params: dict[str, str],
        tags: dict[str, str],
        batch_id: str | None = None,
    ) -> None:
        body: dict[str, Any] = {}
        if batch_id is not None:
            body["batch_id"] = batch_id
        if metrics:
            body["metrics"] = _metric_rows(metrics)
        if params:
            body["params"] = params
        if tags:
            body["tags"] = tags
        self._request("POST", f"/runs/{seg(run_id)}/batch", json=body)

    def _delete_tag(self, run_id: str, key: str) -> None:
        self._request("DELETE", f"/runs/{seg(run_id)}/tags/{path_of(key)}")

    def _get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        response = self._request("GET", f"/runs/{seg(run_id)}/metrics/{path_of(key)}/history")
        return MetricHistory.from_json_dict(orjson.loads(response.content))

    def _search_runs(
        self,
        experiment_ids: list[str],
        filter: str,
        order_by: list[str],
        max_results: int,
        page_token: str | None,
        view: ViewType,
    ) -> RunsPage:
        body = {
            "experiment_ids": experiment_ids,
            "filter": filter,
            "order_by": order_by,
            "max_results": max_results,
            "page_token": page_token,
            "view": view.value,
        }
        response = self._request("POST", "/runs/search", json=body)
        return RunsPage.model_validate_json(response.content)

    # -- artifacts -----------------------------------------------------------------------------

    def _artifact_url(self, run_id: str, path: str) -> str:
        return f"/runs/{seg(run_id)}/artifacts/{path_of(path)}"

    def _put_artifact(self, run_id: str, path: str, stream: IO[bytes]) -> ArtifactInfo:
        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(CHUNK):
                yield chunk

        response = self._request(
            "PUT",
            self._artifact_url(run_id, path),
            content=chunks(),
            headers={"Content-Type": "application/octet-stream"},
        )
        return ArtifactInfo.model_validate_json(response.content)

    def _log_artifact(self, run_id: str, local: Path, artifact_path: str) -> list[ArtifactInfo]:
        # What SqlStore stores, checked the same way before the first upload.
        out = []
        for dest, src in upload_plan(local, artifact_path):
            with open(src, "rb") as fh:
                out.append(self._put_artifact(run_id, dest, fh))
        return out

    def _list_artifacts(self, run_id: str, path: str) -> list[ArtifactInfo]:
        params = {"path": path} if path else None
        response = self._request("GET", f"/runs/{seg(run_id)}/artifacts", params=params)
        return [ArtifactInfo.model_validate(a) for a in orjson.loads(response.content)]

    def _open_artifact(self, run_id: str, path: str) -> IO[bytes]:
        return open_stream(self._client, self.uri, self._artifact_url(run_id, path))

    def _download_artifacts(self, run_id: str, path: str, dst: Path) -> Path:
        # As SqlStore: the relative path is kept, download("m/w.bin", d) writes d/m/w.bin.
        rel = safe_relpath(path)
        entries = self._list_artifacts(run_id, rel)  # ArtifactNotFound when nothing is there
        os.makedirs(dst, exist_ok=True)
        dst_real = os.path.realpath(dst)
        if rel and not entries:
            try:  # a file lists as empty, and so does an empty folder
                self._download_file(run_id, rel, dst_real)
            except ArtifactNotFound:
                make_dirs_inside(dst_real, rel, include_last=True)
            return Path(dst, *rel.split("/"))
        make_dirs_inside(dst_real, rel, include_last=True)
        pending = list(entries)
        while pending:
            entry = pending.pop()
            if entry.is_dir:
                pending.extend(self._list_artifacts(run_id, entry.path))
            else:
                self._download_file(run_id, entry.path, dst_real)
        return Path(dst, *rel.split("/")) if rel else Path(dst)

    def _download_file(self, run_id: str, path: str, dst_real: str) -> None:
        """Write the artifact ``path`` to ``dst_real/path`` atomically, as every download does;
        a name the server sends is checked, so nothing lands outside ``dst_real``."""
        rel = safe_relpath(path)
        with self._open_artifact(run_id, rel) as src:
            write_local_atomic(dst_real, rel, iter(lambda: src.read(CHUNK), b""))
