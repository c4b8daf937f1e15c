"""The datasets half of ``HttpStore``, over ``/api/v1/datasets`` and ``/api/v1/runs/{id}/inputs``.

Dataset files travel through the server, which writes them to its artifact store: a client of a
shared server needs no credentials for the object store behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx
import orjson

from mloop.store._datasets_base import CheckRecord
from mloop.store._entities import (
    ArtifactInfo,
    DatasetCheck,
    DatasetColumn,
    DatasetVersion,
    RunInput,
)
from mloop.store._http_transport import CHUNK, open_stream, seg


class HttpDatasets:
    """Mixed into ``HttpStore``; uses its ``_request`` and ``_client``."""

    uri: str
    _client: httpx.Client
    _request: Callable[..., httpx.Response]

    def _dataset_url(self, name: str) -> str:
        return f"/datasets/{seg(name)}"

    def _create_dataset_version(
        self,
        name: str,
        digest: str,
        format: str,
        num_rows: int,
        num_columns: int,
        columns: list[DatasetColumn],
        size_bytes: int,
        description: str,
        tags: dict[str, str],
    ) -> DatasetVersion:
        body: dict[str, Any] = {
            "digest": digest,
            "format": format,
            "num_rows": num_rows,
            "num_columns": num_columns,
            "columns": [c.model_dump() for c in columns],
            "size_bytes": size_bytes,
            "description": description,
            "tags": tags,
        }
        response = self._request("POST", f"{self._dataset_url(name)}/versions", json=body)
        return DatasetVersion.model_validate_json(response.content)

    def _get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        response = self._request("GET", f"{self._dataset_url(name)}/versions/{version}")
        return DatasetVersion.model_validate_json(response.content)

    def _get_latest_dataset_version(self, name: str) -> DatasetVersion:
        response = self._request("GET", f"{self._dataset_url(name)}/latest")
        return DatasetVersion.model_validate_json(response.content)

    def _find_dataset_versions(self, name: str, digest_prefix: str) -> list[DatasetVersion]:
        response = self._request(
            "GET", f"{self._dataset_url(name)}/versions", params={"digest_prefix": digest_prefix}
        )
        return [DatasetVersion.model_validate(v) for v in orjson.loads(response.content)]

    def _list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        response = self._request("GET", f"{self._dataset_url(name)}/versions")
        return [DatasetVersion.model_validate(v) for v in orjson.loads(response.content)]

    def _list_datasets(self) -> list[DatasetVersion]:
        response = self._request("GET", "/datasets")
        return [DatasetVersion.model_validate(v) for v in orjson.loads(response.content)]

    def _put_dataset_file(self, name: str, filename: str, stream: IO[bytes]) -> ArtifactInfo:
        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(CHUNK):
                yield chunk

        response = self._request(
            "PUT",
            f"{self._dataset_url(name)}/files/{seg(filename)}",
            content=chunks(),
            headers={"Content-Type": "application/octet-stream"},
        )
        return ArtifactInfo.model_validate_json(response.content)

    def _open_dataset_file(self, name: str, filename: str) -> IO[bytes]:
        url = f"{self._dataset_url(name)}/files/{seg(filename)}"
        return open_stream(self._client, self.uri, url)

    def _log_inputs(self, run_id: str, inputs: list[tuple[str, int, str]]) -> None:
        body = {
            "inputs": [{"name": n, "version": v, "context": c} for n, v, c in inputs],
        }
        self._request("POST", f"/runs/{seg(run_id)}/inputs", json=body)

    def _get_run_inputs(self, run_id: str) -> list[RunInput]:
        response = self._request("GET", f"/runs/{seg(run_id)}/inputs")
        return [RunInput.model_validate(i) for i in orjson.loads(response.content)]

    def _log_dataset_check(
        self, name: str, version: int, report: CheckRecord, run_id: str | None, actor: str
    ) -> DatasetCheck:
        body = {"report": report.to_report(), "run_id": run_id, "actor": actor}
        response = self._request(
            "POST", f"{self._dataset_url(name)}/versions/{version}/checks", json=body
        )
        return DatasetCheck.model_validate_json(response.content)

    def _list_dataset_checks(
        self, name: str, version: int | None, max_results: int
    ) -> list[DatasetCheck]:
        params: dict[str, Any] = {"max_results": max_results}
        if version is not None:
            params["version"] = version
        response = self._request("GET", f"{self._dataset_url(name)}/checks", params=params)
        return [DatasetCheck.model_validate(c) for c in orjson.loads(response.content)]
