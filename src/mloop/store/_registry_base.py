"""The registry half of the ``Store`` interface: registered models, versions, aliases, audit log.

Every change appends an entry to the audit log in the same transaction: who (``actor``), when,
what (``action``), the state before and after, and why (``reason``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import orjson

from mloop._core import (
    validate_key,
    validate_tag_value,
    validate_uri_name,
    validate_version_number,
)
from mloop.errors import InvalidArgument
from mloop.store._checks import MAX_ACTOR, MAX_DESCRIPTION, check_tags, check_text
from mloop.store._entities import AuditEntry, Deployment, ModelVersion, RegisteredModel

MAX_SOURCE = 4_096
MAX_REASON = 4_096
#: The largest deployment spec, as JSON.
MAX_DEPLOYMENT_SPEC_BYTES = 64 * 1024
RESERVED_ALIASES = frozenset({"latest"})
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


def validate_model_name(name: Any) -> str:
    """Model names appear in ``models:/<name>/<version>`` URIs: letters, digits, ``_ . -``."""
    return validate_uri_name(name, "model name")


def validate_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise InvalidArgument(
            f"alias {alias!r:.80} must start with a letter or '_' and hold only letters, digits, "
            "'_' and '-' (at most 64 characters)"
        )
    if alias.lower() in RESERVED_ALIASES:
        raise InvalidArgument(
            f"alias {alias!r} is reserved: @latest always means the newest version"
        )
    return alias


def validate_version(version: Any) -> int:
    return validate_version_number(version, "model version")


def check_spec(spec: Any) -> dict[str, Any]:
    """A deployment spec must be a JSON object of bounded size."""
    if not isinstance(spec, Mapping):
        raise InvalidArgument(
            f"a deployment spec must be a mapping (one model policy), got {type(spec).__name__}"
        )
    try:
        text = orjson.dumps(dict(spec))
    except TypeError as exc:
        raise InvalidArgument(f"a deployment spec must be JSON: {exc}") from None
    if len(text) > MAX_DEPLOYMENT_SPEC_BYTES:
        raise InvalidArgument(
            f"a deployment spec is at most {MAX_DEPLOYMENT_SPEC_BYTES} bytes as JSON, "
            f"got {len(text)}"
        )
    loaded: dict[str, Any] = orjson.loads(text)
    return loaded


def _check_generation(generation: Any) -> int | None:
    if generation is None:
        return None
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        raise InvalidArgument(f"expected_generation must be an integer >= 0, got {generation!r}")
    return generation


class RegistryStore(ABC):
    """Registered models, their versions and aliases, and the append-only audit log."""

    def create_registered_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str = "",
        reason: str = "",
    ) -> RegisteredModel:
        """Raises: RegisteredModelAlreadyExists."""
        return self._create_registered_model(
            validate_model_name(name),
            check_text(description, "description", MAX_DESCRIPTION),
            check_tags(tags),
            check_text(actor, "actor", MAX_ACTOR),
            check_text(reason, "reason", MAX_REASON),
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Raises: RegisteredModelNotFound."""
        return self._get_registered_model(validate_model_name(name))

    def list_registered_models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""
        return self._list_registered_models()

    def update_registered_model(
        self, name: str, *, description: str, actor: str = "", reason: str = ""
    ) -> RegisteredModel:
        return self._update_registered_model(
            validate_model_name(name),
            check_text(description, "description", MAX_DESCRIPTION),
            check_text(actor, "actor", MAX_ACTOR),
            check_text(reason, "reason", MAX_REASON),
        )

    def set_registered_model_tag(self, name: str, key: str, value: str, *, actor: str = "") -> None:
        key = validate_key(key, "tag key")
        self._set_registered_model_tag(
            validate_model_name(name),
            key,
            validate_tag_value(key, value),
            check_text(actor, "actor", MAX_ACTOR),
        )

    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str = "",
        reason: str = "",
    ) -> ModelVersion:
        """Register ``source`` (a ``runs:/`` URI, a path or an artifact URL) as the next version
        of ``name``, creating the registered model if needed. Version numbers increase by one
        with no gaps, also when many processes register at once.

        Raises:
            RunNotFound: ``run_id`` names no run.
        """
        source = check_text(source, "source", MAX_SOURCE).strip()
        if not source:
            raise InvalidArgument("a model version needs a source URI")
        if run_id is not None and (not isinstance(run_id, str) or not run_id):
            raise InvalidArgument("run_id must be a run id string")
        return self._create_model_version(
            validate_model_name(name),
            source,
            run_id,
            check_text(description, "description", MAX_DESCRIPTION),
            check_tags(tags),
            check_text(actor, "actor", MAX_ACTOR),
            check_text(reason, "reason", MAX_REASON),
        )

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """Raises: RegisteredModelNotFound, ModelVersionNotFound."""
        return self._get_model_version(validate_model_name(name), validate_version(version))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, newest first. Raises: RegisteredModelNotFound."""
        return self._list_model_versions(validate_model_name(name))

    def set_model_version_tag(
        self, name: str, version: int, key: str, value: str, *, actor: str = ""
    ) -> None:
        key = validate_key(key, "tag key")
        self._set_model_version_tag(
            validate_model_name(name),
            validate_version(version),
            key,
            validate_tag_value(key, value),
            check_text(actor, "actor", MAX_ACTOR),
        )

    def archive_model_version(
        self, name: str, version: int, *, actor: str = "", reason: str = ""
    ) -> ModelVersion:
        """Archive a version: kept for lineage, no longer assignable to an alias.

        Raises:
            InvalidAliasTarget: an alias still points at it (move the alias first).
        """
        return self._archive_model_version(
            validate_model_name(name),
            validate_version(version),
            check_text(actor, "actor", MAX_ACTOR),
            check_text(reason, "reason", MAX_REASON),
        )

    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str = "", reason: str = ""
    ) -> ModelVersion:
        """Point ``alias`` at ``version``, atomically (a reader sees the old or the new target).

        Raises:
            ModelVersionNotFound: no such version.
            InvalidAliasTarget: the version is archived.
        """
        return self._set_alias(
            validate_model_name(name),
            validate_alias(alias),
            validate_version(version),
            check_text(actor, "actor", MAX_ACTOR),
            check_text(reason, "reason", MAX_REASON),
        )

    def delete_alias(self, name: str, alias: str, *, actor: str = "", reason: str = "") -> None:
        """Raises: ModelVersionNotFound when the alias does not exist."""
        self._delete_alias(
            validate_model_name(name),
            validate_alias(alias),
            check_text(actor, "actor", MAX_ACTOR),
            check_text(reason, "reason", MAX_REASON),
        )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at; ``latest`` is the newest READY version.

        Raises:
            ModelVersionNotFound: no such alias.
        """
        name = validate_model_name(name)
        if isinstance(alias, str) and alias.lower() == "latest":
            return self._get_latest_version(name)
        return self._get_model_version_by_alias(name, validate_alias(alias))

    def get_audit_log(self, name: str) -> list[AuditEntry]:
        """Every change to a model, oldest first."""
        return self._get_audit_log(validate_model_name(name))

    # -- deployment records --------------------------------------------------------------------

    def get_deployment(self, name: str) -> Deployment:
        """The deployment record of ``name``: generation 0 and no spec when none was written.

        Raises:
            RegisteredModelNotFound: no such model.
        """
        return self._get_deployment(validate_model_name(name))

    def set_deployment(
        self,
        name: str,
        spec: Mapping[str, Any],
        *,
        expected_generation: int | None = None,
        actor: str = "",
        reason: str = "",
    ) -> Deployment:
        """Replace the traffic split of ``name`` (one ``ModelPolicy`` as a JSON object); the
        generation grows by one and the change is audited (``deployment.set``) in the same
        transaction. Use :meth:`mloop.registry.Registry.set_deployment` to validate ``spec``
        against the policy schema first.

        Args:
            expected_generation: a compare-and-set: the change is made only if the record is
                still at this generation (0: no record yet).

        Raises:
            RegisteredModelNotFound: no such model.
            Conflict: ``expected_generation`` is stale (someone else changed the record).
        """
        return self._set_deployment(
            validate_model_name(name),
            check_spec(spec),
            _check_generation(expected_generation),
            check_text(actor, "actor", MAX_ACTOR),
            check_text(reason, "reason", MAX_REASON),
        )

    def clear_deployment(
        self,
        name: str,
        *,
        expected_generation: int | None = None,
        actor: str = "",
        reason: str = "",
    ) -> Deployment:
        """Clear the record (the served URI alone answers again); audited as
        ``deployment.clear``. Clearing a record that holds no spec changes nothing.

        Raises:
            RegisteredModelNotFound: no such model.
            Conflict: ``expected_generation`` is stale.
        """
        return self._clear_deployment(
            validate_model_name(name),
            _check_generation(expected_generation),
            check_text(actor, "actor", MAX_ACTOR),
            check_text(reason, "reason", MAX_REASON),
        )

    # -- hooks ---------------------------------------------------------------------------------

    @abstractmethod
    def _get_deployment(self, name: str) -> Deployment: ...

    @abstractmethod
    def _set_deployment(
        self,
        name: str,
        spec: dict[str, Any],
        expected_generation: int | None,
        actor: str,
        reason: str,
    ) -> Deployment: ...

    @abstractmethod
    def _clear_deployment(
        self, name: str, expected_generation: int | None, actor: str, reason: str
    ) -> Deployment: ...

    @abstractmethod
    def _create_registered_model(
        self, name: str, description: str, tags: dict[str, str], actor: str, reason: str
    ) -> RegisteredModel: ...

    @abstractmethod
    def _get_registered_model(self, name: str) -> RegisteredModel: ...

    @abstractmethod
    def _list_registered_models(self) -> list[RegisteredModel]: ...

    @abstractmethod
    def _update_registered_model(
        self, name: str, description: str, actor: str, reason: str
    ) -> RegisteredModel: ...

    @abstractmethod
    def _set_registered_model_tag(self, name: str, key: str, value: str, actor: str) -> None: ...

    @abstractmethod
    def _create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        description: str,
        tags: dict[str, str],
        actor: str,
        reason: str,
    ) -> ModelVersion: ...

    @abstractmethod
    def _get_model_version(self, name: str, version: int) -> ModelVersion: ...

    @abstractmethod
    def _list_model_versions(self, name: str) -> list[ModelVersion]: ...

    @abstractmethod
    def _set_model_version_tag(
        self, name: str, version: int, key: str, value: str, actor: str
    ) -> None: ...

    @abstractmethod
    def _archive_model_version(
        self, name: str, version: int, actor: str, reason: str
    ) -> ModelVersion: ...

    @abstractmethod
    def _set_alias(
        self, name: str, alias: str, version: int, actor: str, reason: str
    ) -> ModelVersion: ...

    @abstractmethod
    def _delete_alias(self, name: str, alias: str, actor: str, reason: str) -> None: ...

    @abstractmethod
    def _get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    @abstractmethod
    def _get_latest_version(self, name: str) -> ModelVersion: ...

    @abstractmethod
    def _get_audit_log(self, name: str) -> list[AuditEntry]: ...
