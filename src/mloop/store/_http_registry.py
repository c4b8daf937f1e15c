"""The registry half of ``HttpStore``, over ``/api/v1/registered-models``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from mloop.store._entities import AuditEntry, ModelVersion, RegisteredModel
from mloop.store._http_transport import seg


class HttpRegistry:
    """Mixed into ``HttpStore``; uses its ``_request``."""

    _request: Callable[..., httpx.Response]

    def _model_url(self, name: str) -> str:
        return f"/registered-models/{seg(name)}"

    def _create_registered_model(
        self, name: str, description: str, tags: dict[str, str], actor: str, reason: str
    ) -> RegisteredModel:
        body = {
            "name": name,
            "description": description,
            "tags": tags,
            "actor": actor,
            "reason": reason,
        }
        response = self._request("POST", "/registered-models", json=body)
        return RegisteredModel.model_validate_json(response.content)

    def _get_registered_model(self, name: str) -> RegisteredModel:
        response = self._request("GET", self._model_url(name))
        return RegisteredModel.model_validate_json(response.content)

    def _list_registered_models(self) -> list[RegisteredModel]:
        response = self._request("GET", "/registered-models")
        return [RegisteredModel.model_validate(m) for m in orjson.loads(response.content)]

    def _update_registered_model(
        self, name: str, description: str, actor: str, reason: str
    ) -> RegisteredModel:
        body = {"description": description, "actor": actor, "reason": reason}
        response = self._request("PATCH", self._model_url(name), json=body)
        return RegisteredModel.model_validate_json(response.content)

    def _set_registered_model_tag(self, name: str, key: str, value: str, actor: str) -> None:
        self._request(
            "PUT",
            f"{self._model_url(name)}/tags/{seg(key)}",
            json={"value": value, "actor": actor},
        )

    def _create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        description: str,
        tags: dict[str, str],
        actor: str,
        reason: str,
    ) -> ModelVersion:
        body: dict[str, Any] = {
            "source": source,
            "run_id": run_id,
            "description": description,
            "tags": tags,
            "actor": actor,
            "reason": reason,
        }
        response = self._request("POST", f"{self._model_url(name)}/versions", json=body)
        return ModelVersion.model_validate_json(response.content)

    def _get_model_version(self, name: str, version: int) -> ModelVersion:
        response = self._request("GET", f"{self._model_url(name)}/versions/{version}")
        return ModelVersion.model_validate_json(response.content)

    def _list_model_versions(self, name: str) -> list[ModelVersion]:
        response = self._request("GET", f"{self._model_url(name)}/versions")
        return [ModelVersion.model_validate(v) for v in orjson.loads(response.content)]

    def _set_model_version_tag(
        self, name: str, version: int, key: str, value: str, actor: str
    ) -> None:
        self._request(
            "PUT",
            f"{self._model_url(name)}/versions/{version}/tags/{seg(key)}",
            json={"value": value, "actor": actor},
        )

    def _archive_model_version(
        self, name: str, version: int, actor: str, reason: str
    ) -> ModelVersion:
        response = self._request(
            "POST",
            f"{self._model_url(name)}/versions/{version}/archive",
            json={"actor": actor, "reason": reason},
        )
        return ModelVersion.model_validate_json(response.content)

    def _set_alias(
        self, name: str, alias: str, version: int, actor: str, reason: str
    ) -> ModelVersion:
        response = self._request(
            "PUT",
            f"{self._model_url(name)}/aliases/{seg(alias)}",
            json={"version": version, "actor": actor, "reason": reason},
        )
        return ModelVersion.model_validate_json(response.content)

    def _delete_alias(self, name: str, alias: str, actor: str, reason: str) -> None:
        self._request(
            "DELETE",
            f"{self._model_url(name)}/aliases/{seg(alias)}",
            params={"actor": actor, "reason": reason},
        )

    def _get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        response = self._request("GET", f"{self._model_url(name)}/aliases/{seg(alias)}")
        return ModelVersion.model_validate_json(response.content)

    def _get_latest_version(self, name: str) -> ModelVersion:
        return self._get_model_version_by_alias(name, "latest")

    def _get_audit_log(self, name: str) -> list[AuditEntry]:
        response = self._request("GET", f"{self._model_url(name)}/audit")
        return [AuditEntry.model_validate(e) for e in orjson.loads(response.content)]
