"""``mloop.registry``: register model versions, move aliases, read the audit log.

The module-level functions use the current store (:func:`mloop.store.current`: a
``mloop.store.use`` block, ``mloop.set_tracking_uri``, ``MLOOP_TRACKING_URI``, ...);
:class:`Registry` binds the same methods to one store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mloop._core import current_user, parse_models_uri, parse_runs_uri
from mloop.errors import InvalidArgument
from mloop.registry._deployment import ModelPolicy, validate_model_policy
from mloop.store import AuditEntry, Deployment, ModelVersion, RegisteredModel, Store
from mloop.store._context import current


class Registry:
    """The model registry on one store.

    Args:
        store: the store; default the current one (:func:`mloop.store.current`), bound now.
        actor: who the audit log records for changes; default the current user.

    Example::

        registry = Registry()
        v = registry.register_model("runs:/<run_id>/model", "churn")
        registry.set_alias("churn", "champion", v.version, reason="beats v3 on AUC")
        registry.resolve("models:/churn@champion").source
    """

    def __init__(self, store: Store | None = None, *, actor: str | None = None) -> None:
        self.store = store if store is not None else current().store
        self.actor = current_user() if actor is None else actor

    def register_model(
        self,
        source: str,
        name: str,
        *,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str = "",
        reason: str = "",
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name`` (created if needed).

        For a ``runs:/<run_id>/...`` source the run id is taken from the URI when not given.
        """
        if run_id is None and isinstance(source, str) and source.startswith("runs:/"):
            run_id = parse_runs_uri(source).run_id
        return self.store.create_model_version(
            name,
            source,
            run_id=run_id,
            tags=tags,
            description=description,
            actor=self.actor,
            reason=reason,
        )

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names: ``models:/churn/3``, ``models:/churn@champion``,
        or ``models:/churn`` (the latest READY version).

        Raises:
            InvalidArgument: not a ``models:/`` URI.
            RegisteredModelNotFound, ModelVersionNotFound: nothing by that name.
        """
        parsed = parse_models_uri(uri)
        if parsed.version is not None:
            return self.store.get_model_version(parsed.name, parsed.version)
        assert parsed.alias is not None
        return self.store.get_model_version_by_alias(parsed.name, parsed.alias)

    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> ModelVersion:
        """Point an alias at a version atomically; recorded in the audit log with ``reason``."""
        return self.store.set_alias(name, alias, version, actor=self.actor, reason=reason)

    def delete_alias(self, name: str, alias: str, *, reason: str = "") -> None:
        self.store.delete_alias(name, alias, actor=self.actor, reason=reason)

    def archive_version(self, name: str, version: int, *, reason: str = "") -> ModelVersion:
        return self.store.archive_model_version(name, version, actor=self.actor, reason=reason)

    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def list_models(self) -> list[RegisteredModel]:
        return self.store.list_registered_models()

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self.store.list_model_versions(name)

    def get_deployment(self, name: str) -> Deployment:
        """The deployment record of ``name`` (generation 0 and no spec when there is none)."""
        return self.store.get_deployment(name)

    def set_deployment(
        self,
        name: str,
        spec: ModelPolicy | Mapping[str, Any],
        *,
        expected_generation: int | None = None,
        reason: str = "",
    ) -> Deployment:
        """Replace the traffic split every ``mloop serve`` replica of ``name`` follows.

        ``spec`` is one model policy, the language of a ``deploy.yaml`` entry: ``canary``
        entries of ``{version: N | uri: models:/name@alias, weight}``, ``sticky_key``,
        ``shadow``. Audited as ``deployment.set``.

        Args:
            expected_generation: compare-and-set: change the record only if it is still at this
                generation (0 when there is none yet).

        Raises:
            InvalidArgument: the spec does not validate, or names another model.
            Conflict: ``expected_generation`` is stale.

        Example::

            registry.set_deployment(
                "churn",
                {"canary": [{"version": 3, "weight": 90}, {"version": 4, "weight": 10}]},
                expected_generation=registry.get_deployment("churn").generation,
                reason="canary v4 at 10%",
            )
        """
        return self.store.set_deployment(
            name,
            deployment_spec(name, spec),
            expected_generation=expected_generation,
            actor=self.actor,
            reason=reason,
        )

    def clear_deployment(
        self, name: str, *, expected_generation: int | None = None, reason: str = ""
    ) -> Deployment:
        """Clear the record of ``name``: the served URI alone answers again (audited)."""
        return self.store.clear_deployment(
            name, expected_generation=expected_generation, actor=self.actor, reason=reason
        )

    def history(self, name: str) -> list[AuditEntry]:
        """The audit log of a model, oldest first."""
        return self.store.get_audit_log(name)


def deployment_spec(name: str, spec: ModelPolicy | Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` validated as the deployment record of ``name``, as the JSON the store keeps.

    Raises:
        InvalidArgument: the spec does not validate, or a URI in it names another model.
    """
    policy = validate_model_policy(
        dict(spec) if isinstance(spec, Mapping) else spec, source=f"deployment of {name!r}"
    )
    targets = [e.uri for e in policy.canary or [] if e.uri is not None]
    if isinstance(policy.shadow, str):
        targets.append(policy.shadow)
    for uri in targets:
        parsed = parse_models_uri(uri)
        if parsed.name != name:
            raise InvalidArgument(
                f"deployment of {name!r}: {uri!r} names another model; a deployment record "
                f"splits traffic between versions of {name!r} only",
                details={"name": name, "uri": uri},
            )
    return policy.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def _registry() -> Registry:
    """The registry of the current store."""
    return Registry(current().store)


def register_model(
    source: str,
    name: str,
    *,
    run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str = "",
    reason: str = "",
) -> ModelVersion:
    """Register ``source`` as the next version of ``name``; see :meth:`Registry.register_model`.

    Example::

        mloop.registry.register_model(f"runs:/{run_id}/model", "churn")
    """
    return _registry().register_model(
        source, name, run_id=run_id, tags=tags, description=description, reason=reason
    )


def resolve(uri: str) -> ModelVersion:
    """The version a ``models:/`` URI names; see :meth:`Registry.resolve`."""
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise InvalidArgument(f"expected a models:/ URI, got {uri!r}")
    return _registry().resolve(uri)


def set_alias(name: str, alias: str, version: int, *, reason: str = "") -> ModelVersion:
    """Point ``alias`` at ``version`` atomically, recording ``reason`` in the audit log."""
    return _registry().set_alias(name, alias, version, reason=reason)
