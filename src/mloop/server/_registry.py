"""``/api/v1/registered-models`` routes: registered models, versions, aliases, the audit log.

The ``actor`` recorded in the audit log (and a version's ``registered_by``) is the caller's
identity (:func:`~mloop.server._auth.actor_of`): the token's name under ``--auth``, else
``unverified:<the actor field>``. A token scoped to models sees only those (404 for others).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from mloop._web._errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from mloop.registry import deployment_spec
from mloop.server._auth import IdentityDep, actor_of, check_model_scope
from mloop.server._links import MODEL_LINKS, VERSION_LINKS, linked
from mloop.server._rules import TAGS, URI_NAME
from mloop.server._tracking import StoreDep, _Body
from mloop.store import (
    AlertDelivery,
    AuditEntry,
    Deployment,
    LoopRecord,
    LoopTransition,
    ModelVersion,
    MonitorResult,
    RegisteredModel,
)


async def _model_scope(request: Request, identity: IdentityDep) -> None:
    name = request.path_params.get("name")
    if isinstance(name, str):
        check_model_scope(identity, name)


router = APIRouter(
    prefix="/api/v1/registered-models",
    tags=["registry"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(_model_scope)],
)


class _Audited(_Body):
    actor: str = Field(
        default="",
        description="ignored under --auth (the token names the actor); "
        "else recorded as unverified:<actor>",
    )
    reason: str = Field(default="", description="why, for the audit log")


class CreateModelBody(_Audited):
    name: str = Field(json_schema_extra=URI_NAME)
    description: str = ""
    tags: dict[str, str] | None = Field(default=None, json_schema_extra=TAGS)


class UpdateModelBody(_Audited):
    description: str


class CreateVersionBody(_Audited):
    source: str = Field(description="runs:/<run_id>/<path>, a path or an artifact URL")
    run_id: str | None = None
    description: str = ""
    tags: dict[str, str] | None = Field(default=None, json_schema_extra=TAGS)


class SetAliasBody(_Audited):
    version: int


class TagBody(_Body):
    value: str
    actor: str = ""


@router.post(
    "",
    status_code=201,
    responses={**CONFLICT_RESPONSE, **linked(201, "The registered model", MODEL_LINKS)},
)
def create_registered_model(
    body: CreateModelBody, store: StoreDep, identity: IdentityDep
) -> RegisteredModel:
    """Register a model name (409 when it exists)."""
    check_model_scope(identity, body.name)
    return store.create_registered_model(
        body.name,
        description=body.description,
        tags=body.tags,
        actor=actor_of(identity, body.actor),
        reason=body.reason,
    )


@router.get("")
def list_registered_models(store: StoreDep, identity: IdentityDep) -> list[RegisteredModel]:
    """Every registered model, by name (those of the token's scopes)."""
    return [m for m in store.list_registered_models() if identity.scopes.allows_model(m.name)]


@router.get("/{name}")
def get_registered_model(name: str, store: StoreDep, identity: IdentityDep) -> RegisteredModel:
    return store.get_registered_model(name)


@router.patch("/{name}")
def update_registered_model(
    name: str, body: UpdateModelBody, store: StoreDep, identity: IdentityDep
) -> RegisteredModel:
    return store.update_registered_model(
        name, description=body.description, actor=actor_of(identity, body.actor), reason=body.reason
    )


@router.put("/{name}/tags/{key:path}", status_code=204)
def set_registered_model_tag(
    name: str, key: str, body: TagBody, store: StoreDep, identity: IdentityDep
) -> Response:
    store.set_registered_model_tag(name, key, body.value, actor=actor_of(identity, body.actor))
    return Response(status_code=204)


@router.post(
    "/{name}/versions", status_code=201, responses=linked(201, "The version", VERSION_LINKS)
)
def create_model_version(
    name: str, body: CreateVersionBody, store: StoreDep, identity: IdentityDep
) -> ModelVersion:
    """Register the next version (the model is created if needed); numbers have no gaps."""
    return store.create_model_version(
        name,
        body.source,
        run_id=body.run_id,
        description=body.description,
        tags=body.tags,
        actor=actor_of(identity, body.actor),
        reason=body.reason,
    )


@router.get("/{name}/versions")
def list_model_versions(name: str, store: StoreDep, identity: IdentityDep) -> list[ModelVersion]:
    """Every version, newest first."""
    return store.list_model_versions(name)


@router.get("/{name}/versions/{version}")
def get_model_version(
    name: str, version: int, store: StoreDep, identity: IdentityDep
) -> ModelVersion:
    return store.get_model_version(name, version)


@router.post("/{name}/versions/{version}/archive", responses=CONFLICT_RESPONSE)
def archive_model_version(
    name: str, version: int, body: _Audited, store: StoreDep, identity: IdentityDep
) -> ModelVersion:
    """Archive a version (409 while an alias points at it)."""
    return store.archive_model_version(
        name, version, actor=actor_of(identity, body.actor), reason=body.reason
    )


@router.put("/{name}/versions/{version}/tags/{key:path}", status_code=204)
def set_model_version_tag(
    name: str, version: int, key: str, body: TagBody, store: StoreDep, identity: IdentityDep
) -> Response:
    store.set_model_version_tag(
        name, version, key, body.value, actor=actor_of(identity, body.actor)
    )
    return Response(status_code=204)


@router.put("/{name}/aliases/{alias}", responses=CONFLICT_RESPONSE)
def set_alias(
    name: str, alias: str, body: SetAliasBody, store: StoreDep, identity: IdentityDep
) -> ModelVersion:
    """Point an alias at a version, atomically (409 for an archived version)."""
    return store.set_alias(
        name, alias, body.version, actor=actor_of(identity, body.actor), reason=body.reason
    )


@router.delete("/{name}/aliases/{alias}", status_code=204)
def delete_alias(
    name: str, alias: str, store: StoreDep, identity: IdentityDep, actor: str = "", reason: str = ""
) -> Response:
    store.delete_alias(name, alias, actor=actor_of(identity, actor), reason=reason)
    return Response(status_code=204)


@router.get("/{name}/aliases/{alias}")
def get_model_version_by_alias(
    name: str, alias: str, store: StoreDep, identity: IdentityDep
) -> ModelVersion:
    """The version an alias points at; ``latest`` is the newest READY version."""
    return store.get_model_version_by_alias(name, alias)


@router.get("/{name}/audit")
def get_audit_log(name: str, store: StoreDep, identity: IdentityDep) -> list[AuditEntry]:
    """Every change to the model, oldest first (append-only)."""
    return store.get_audit_log(name)


class SetDeploymentBody(_Audited):
    spec: dict[str, Any] = Field(
        description="one model policy: canary [{version|uri, weight}], sticky_key, shadow"
    )
    expected_generation: int | None = Field(
        default=None, description="compare-and-set: 409 unless the record is at this generation"
    )


@router.get("/{name}/deployment")
def get_deployment(name: str, store: StoreDep) -> Deployment:
    """The deployment record every ``mloop serve`` replica follows (generation 0 and no spec
    when there is none)."""
    return store.get_deployment(name)


@router.put("/{name}/deployment", responses=CONFLICT_RESPONSE)
def set_deployment(name: str, body: SetDeploymentBody, store: StoreDep) -> Deployment:
    """Replace the traffic split (422 for a spec that does not validate, 409 for a stale
    ``expected_generation``); audited as ``deployment.set``."""
    return store.set_deployment(
        name,
        deployment_spec(name, body.spec),
        expected_generation=body.expected_generation,
        actor=body.actor,
        reason=body.reason,
    )


@router.delete("/{name}/deployment", responses=CONFLICT_RESPONSE)
def clear_deployment(
    name: str,
    store: StoreDep,
    expected_generation: int | None = None,
    actor: str = "",
    reason: str = "",
) -> Deployment:
    """Clear the record: the served URI alone answers again (audited as ``deployment.clear``)."""
    return store.clear_deployment(
        name, expected_generation=expected_generation, actor=actor, reason=reason
    )


class LoopMonitoring(BaseModel):
    """One loop of a model with its recent history."""

    loop: LoopRecord
    transitions: list[LoopTransition] = Field(description="the last transitions, oldest first")
    monitor_results: list[MonitorResult] = Field(description="monitor results, newest first")
    alerts: list[AlertDelivery] = Field(description="alert deliveries, newest first")


class ModelMonitoring(BaseModel):
    """Everything the monitoring page of a model shows, in one answer."""

    model: RegisteredModel
    deployment: Deployment
    loops: list[LoopMonitoring] = Field(description="the loops that manage this model, by name")


@router.get("/{name}/monitoring")
def get_monitoring(
    name: str,
    store: StoreDep,
    limit: Annotated[
        int, Query(ge=1, le=10_000, description="the most transitions, results and alerts")
    ] = 500,
) -> ModelMonitoring:
    """The model, its deployment record and, for each loop that manages it, the loop's state,
    its last transitions with evidence, its monitor results (drift per column, realized and
    estimated performance) and its alerts: the web UI's monitoring page in one request."""
    model = store.get_registered_model(name)
    deployment = store.get_deployment(name)
    loops = []
    for record in store.list_loops():
        if record.model_name != name:
            continue
        loops.append(
            LoopMonitoring(
                loop=record,
                transitions=store.list_loop_transitions(
                    record.name, after_seq=max(0, record.seq - limit), limit=limit
                ),
                monitor_results=store.list_monitor_results(record.name, limit=limit),
                alerts=store.list_alert_deliveries(record.name, limit=limit),
            )
        )
    return ModelMonitoring(model=model, deployment=deployment, loops=loops)
