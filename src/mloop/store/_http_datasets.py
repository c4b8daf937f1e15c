"""The datasets half of ``HttpStore``, over ``/api/v1/datasets`` and ``/api/v1/runs/{id}/inputs``.

Dataset files travel through the server, which writes them to its artifact store: a client of a
shared server needs no credentials for the object store behind it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx
import orjson

from mloop.errors import StoreUnavailable
from mloop.store._entities import ArtifactInfo, DatasetColumn, DatasetVersion, RunInput
from mloop.store._http_registry import _seg

_CHUNK = 1024 * 1024


class HttpDatasets:
    """Mixed into ``HttpStore``; uses its ``_request`` and ``_client``."""

    uri: str
    _client: httpx.Client
    _request: Callable[..., httpx.Response]

    def _dataset_url(self, name: str) -> str:
        return f"/datasets/{_seg(name)}"

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
            while chunk := stream.read(_CHUNK):
                yield chunk

        response = self._request(
            "PUT",
            f"{self._dataset_url(name)}/files/{_seg(filename)}",
            content=chunks(),
            headers={"Content-Type": "application/octet-stream"},
        )
        return ArtifactInfo.model_validate_json(response.content)

    def _open_dataset_file(self, name: str, filename: str) -> IO[bytes]:
        # Imported here: _http imports this module to build HttpStore.
        from mloop.store._http import _ResponseStream, error_from_response

        url = f"{self._dataset_url(name)}/files/{_seg(filename)}"
        try:
            response = self._client.send(self._client.build_request("GET", url), stream=True)
        except httpx.TransportError as exc:
            raise StoreUnavailable(
                f"cannot reach the mloop server at {self.uri}: {type(exc).__name__}: {exc}",
                details={"uri": self.uri},
            ) from exc
        if response.is_error:
            try:
                body = response.read()
            finally:
                response.close()
            raise error_from_response(response.status_code, body)
        return io.BufferedReader(_ResponseStream(response), buffer_size=_CHUNK)

    def _log_inputs(self, run_id: str, inputs: list[tuple[str, int, str]]) -> None:
        body = {
            "inputs": [{"name": n, "version": v, "context": c} for n, v, c in inputs],
        }
        self._request("POST", f"/runs/{_seg(run_id)}/inputs", json=body)

    def _get_run_inputs(self, run_id: str) -> list[RunInput]:
        response = self._request("GET", f"/runs/{_seg(run_id)}/inputs")
        return [RunInput.model_validate(i) for i in orjson.loads(response.content)]
