"""The MLflow model registry REST API (``/api/2.0/mlflow/registered-models``, ``model-versions``)
on mloop's registry.

mloop's registry is append-only (every change is in the audit log, versions are archived, never
deleted), and names are part of ``models:/`` URIs: deleting and renaming registered models or
versions are answered ``NOT_IMPLEMENTED``; ``transition-stage`` to ``Archived`` archives a
version. Stages other than that are not kept (MLflow deprecated them for aliases).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from mloop._web._errors import JsonResponse
from mloop.errors import InvalidArgument, RegisteredModelAlreadyExists
from mloop.interop._mlflow_tags import MODEL_ID_TAG, SOURCE_TAG
from mloop.server._auth import actor_of, identity_of
from mloop.server._mlflow_common import (
    MLFLOW_ERROR_RESPONSES,
    PREFIX,
    MlflowRoute,
    json_body,
    key_values,
    not_implemented,
    opt_int,
    opt_str,
    query_args,
    req_str,
)
from mloop.server._mlflow_entities import (
    artifact_uri,
    model_version_json,
    registered_model_json,
    run_id_of_model,
)
from mloop.server._mlflow_tracking import _page, logged_model_source_run
from mloop.store import ModelVersion, ModelVersionStatus, RegisteredModel, Store

router = APIRouter(
    prefix=PREFIX, route_class=MlflowRoute, responses=MLFLOW_ERROR_RESPONSES, tags=["mlflow"]
)

_EMPTY: dict[str, Any] = {}
_APPEND_ONLY = (
    "; mloop's registry is append-only (every change is audited): archive a version with "
    "transition-stage to Archived, or move its aliases"
)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _actor(request: Request) -> str:
    """The audit log's actor: the token's identity (MLflow clients send no name)."""
    return actor_of(identity_of(request), "")


def _ok(content: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(content if content is not None else _EMPTY)


def _latest(store: Store, name: str) -> ModelVersion | None:
    versions = store.list_model_versions(name)
    return versions[0] if versions else None


# -- filters -----------------------------------------------------------------------------------

_CONDITION = re.compile(
    r"^\s*(?P<key>tags?\.`[^`]+`|tags?\.\"[^\"]+\"|[\w.]+)\s*(?P<op>=|!=|LIKE|ILIKE|IN)\s*"
    r"(?P<value>'(?:[^']|'')*'|\"[^\"]*\"|\([^)]*\))\s*$",
    re.IGNORECASE,
)


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'") if text[:1] in "'\"" else text


def _matcher(op: str, raw: str) -> Callable[[str | None], bool]:
    if op == "IN":
        values = {_unquote(v.strip()) for v in raw.strip("()").split(",") if v.strip()}
        return lambda v: v in values
    value = _unquote(raw)
    if op in ("LIKE", "ILIKE"):
        pattern = "^" + re.escape(value).replace("%", ".*").replace("_", ".") + "$"
        rx = re.compile(pattern, re.IGNORECASE if op == "ILIKE" else 0)
        return lambda v: v is not None and bool(rx.match(v))
    if op == "=":
        return lambda v: v == value
    return lambda v: v != value


def _tag_check(tag: str, match: Callable[[str | None], bool]) -> Callable[[Any], bool]:
    return lambda obj: match(obj.tags.get(tag))


def _field_check(
    get: Callable[[Any], str | None], match: Callable[[str | None], bool]
) -> Callable[[Any], bool]:
    return lambda obj: match(get(obj))


def registry_filter(
    text: str, fields: dict[str, Callable[[Any], str | None]]
) -> Callable[[Any], bool]:
    """MLflow's registry filters: ``key op value`` joined by AND, where key is one of ``fields``
    or ``tags.<key>``, and op one of =, !=, LIKE, ILIKE, IN."""
    checks: list[Callable[[Any], bool]] = []
    parts = re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []
    for part in parts:
        m = _CONDITION.match(part)
        if m is None:
            raise InvalidArgument(
                f"unsupported filter {part!r}: use {', '.join(sorted(fields))} or tags.<key> with "
                "=, !=, LIKE, ILIKE or IN and quoted values, joined by AND"
            )
        key, op = m.group("key"), m.group("op").upper()
        match = _matcher(op, m.group("value"))
        if key.startswith(("tags.", "tag.")):
            checks.append(_tag_check(key.split(".", 1)[1].strip('`"'), match))
        elif key in fields:
            checks.append(_field_check(fields[key], match))
        else:
            raise InvalidArgument(
                f"unknown filter key {key!r}; use {', '.join(sorted(fields))} or tags.<key>"
            )
    return lambda obj: all(c(obj) for c in checks)


# -- registered models -------------------------------------------------------------------------


@router.post("/registered-models/create")
def create_registered_model(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    rm = store.create_registered_model(
        req_str(body, "name"),
        description=opt_str(body, "description") or "",
        tags=key_values(body, "tags") or None,
        actor=_actor(request),
    )
    return _ok({"registered_model": registered_model_json(rm)})


@router.get("/registered-models/get")
def get_registered_model(request: Request) -> JsonResponse:
    store = _store(request)
    rm = store.get_registered_model(req_str(query_args(request), "name"))
    return _ok({"registered_model": registered_model_json(rm, _latest(store, rm.name))})


@router.patch("/registered-models/update")
def update_registered_model(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    name = req_str(body, "name")
    rm = store.update_registered_model(name, description=opt_str(body, "description") or "")
    return _ok({"registered_model": registered_model_json(rm)})


@router.get("/registered-models/search")
def search_registered_models(request: Request) -> JsonResponse:
    store = _store(request)
    args = query_args(request)
    keep = registry_filter(opt_str(args, "filter") or "", {"name": lambda rm: rm.name})
    found: list[RegisteredModel] = [rm for rm in store.list_registered_models() if keep(rm)]
    page, nxt = _page(found, opt_str(args, "page_token"), opt_int(args, "max_results") or 100)
    out: dict[str, Any] = {
        "registered_models": [registered_model_json(rm, _latest(store, rm.name)) for rm in page]
    }
    if nxt:
        out["next_page_token"] = nxt
    return _ok(out)


@router.post("/registered-models/get-latest-versions")
def get_latest_versions(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    name = req_str(body, "name")
    stages = body.get("stages") or []
    versions = store.list_model_versions(name)
    out = []
    for stage in ("None", "Archived"):
        if stages and stage not in stages:
            continue
        status = ModelVersionStatus.ARCHIVED if stage == "Archived" else ModelVersionStatus.READY
        newest = next((v for v in versions if v.status is status), None)
        if newest is not None:
            out.append(model_version_json(newest))
    return _ok({"model_versions": out})


@router.post("/registered-models/set-tag")
def set_registered_model_tag(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    _store(request).set_registered_model_tag(
        req_str(body, "name"), req_str(body, "key"), str(body.get("value", ""))
    )
    return _ok()


@router.post("/registered-models/alias")
def set_alias(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    _store(request).set_alias(
        req_str(body, "name"),
        req_str(body, "alias"),
        int(req_str(body, "version")),
        actor=_actor(request),
    )
    return _ok()


@router.delete("/registered-models/alias")
async def delete_alias(request: Request) -> JsonResponse:
    # MLflow sends DELETE with a JSON body; older clients put the fields in the query string.
    args = {**query_args(request), **(await json_body(request))}
    store = _store(request)
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(
        functools.partial(store.delete_alias, actor=_actor(request)),
        req_str(args, "name"),
        req_str(args, "alias"),
    )
    return _ok()


@router.get("/registered-models/alias")
def get_model_version_by_alias(request: Request) -> JsonResponse:
    args = query_args(request)
    mv = _store(request).get_model_version_by_alias(req_str(args, "name"), req_str(args, "alias"))
    return _ok({"model_version": model_version_json(mv)})


@router.post("/registered-models/rename")
def rename_registered_model() -> JsonResponse:
    return not_implemented("renaming a registered model", " (names are part of models:/ URIs)")


@router.delete("/registered-models/delete")
def delete_registered_model() -> JsonResponse:
    return not_implemented("deleting a registered model", _APPEND_ONLY)


@router.delete("/registered-models/delete-tag")
def delete_registered_model_tag() -> JsonResponse:
    return not_implemented("deleting a registered model tag", "; set it to another value")


# -- model versions ----------------------------------------------------------------------------


_PROXY_URI = re.compile(r"^mlflow-artifacts:/+[^/]+/(?P<run>[0-9a-f]{32})/artifacts/?(?P<path>.*)$")


def _mloop_source(store: Store, source: str, model_id: str | None) -> tuple[str, str | None]:
    """(the source mloop records, the run that produced the model) for what MLflow sent."""
    if model_id and run_id_of_model(model_id):
        holder, source_run = logged_model_source_run(store, model_id)
        return f"runs:/{holder}", source_run or holder
    m = _PROXY_URI.match(source)
    if m:
        return f"runs:/{m.group('run')}/{m.group('path')}".rstrip("/"), m.group("run")
    return source, None


@router.post("/model-versions/create")
def create_model_version(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    """CreateModelVersion: ``models:/<model_id>`` sources (MLflow 3's logged models), runs:/
    and mlflow-artifacts:/ URIs become runs:/ URIs mloop resolves; the URI MLflow sent is kept
    and answered back."""
    store = _store(request)
    name = req_str(body, "name")
    source = req_str(body, "source")
    model_id = opt_str(body, "model_id")
    if model_id is None and source.startswith("models:/m-"):
        model_id = source[len("models:/") :].strip("/")
    mloop_source, producer = _mloop_source(store, source, model_id)
    tags = key_values(body, "tags")
    tags[SOURCE_TAG] = source
    if model_id:
        tags[MODEL_ID_TAG] = model_id
    try:
        store.create_registered_model(name, actor=_actor(request))
    except RegisteredModelAlreadyExists:
        pass
    mv = store.create_model_version(
        name,
        mloop_source,
        run_id=opt_str(body, "run_id") or producer,
        description=opt_str(body, "description") or "",
        tags=tags,
        actor=_actor(request),
    )
    return _ok({"model_version": model_version_json(mv)})


def _version(args: dict[str, Any]) -> int:
    text = req_str(args, "version")
    if not text.isdigit():
        raise InvalidArgument(f"a model version is a positive integer, got {text!r:.40}")
    return int(text)


@router.get("/model-versions/get")
def get_model_version(request: Request) -> JsonResponse:
    args = query_args(request)
    mv = _store(request).get_model_version(req_str(args, "name"), _version(args))
    return _ok({"model_version": model_version_json(mv)})


@router.get("/model-versions/get-download-uri")
def get_model_version_download_uri(request: Request) -> JsonResponse:
    args = query_args(request)
    store = _store(request)
    mv = store.get_model_version(req_str(args, "name"), _version(args))
    uri = mv.source
    m = re.match(r"^runs:/(?P<run>[0-9a-f]{32})/?(?P<path>.*)$", mv.source)
    if m:
        run = store.get_run(m.group("run"))
        uri = artifact_uri(run.info.experiment_id, run.run_id, m.group("path"))
    return _ok({"artifact_uri": uri})


@router.get("/model-versions/search")
def search_model_versions(request: Request) -> JsonResponse:
    store = _store(request)
    args = query_args(request)
    keep = registry_filter(
        opt_str(args, "filter") or "",
        {
            "name": lambda mv: mv.name,
            "run_id": lambda mv: mv.run_id,
            "source_path": lambda mv: mv.tags.get(SOURCE_TAG, mv.source),
            "version_number": lambda mv: str(mv.version),
        },
    )
    found = [
        mv for rm in store.list_registered_models() for mv in store.list_model_versions(rm.name)
    ]
    found = [mv for mv in found if keep(mv)]
    page, nxt = _page(found, opt_str(args, "page_token"), opt_int(args, "max_results") or 10_000)
    out: dict[str, Any] = {"model_versions": [model_version_json(mv) for mv in page]}
    if nxt:
        out["next_page_token"] = nxt
    return _ok(out)


@router.post("/model-versions/set-tag")
def set_model_version_tag(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    _store(request).set_model_version_tag(
        req_str(body, "name"), _version(body), req_str(body, "key"), str(body.get("value", ""))
    )
    return _ok()


@router.post("/model-versions/transition-stage")
def transition_stage(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    stage = req_str(body, "stage")
    if stage.lower() != "archived":
        return not_implemented(
            f"the stage {stage!r}",
            "; stages are deprecated in MLflow: use aliases (mloop keeps "
            "Archived, which archives the version)",
        )
    store = _store(request)
    mv = store.archive_model_version(req_str(body, "name"), _version(body), actor=_actor(request))
    return _ok({"model_version": model_version_json(mv)})


@router.patch("/model-versions/update")
def update_model_version(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    mv = store.get_model_version(req_str(body, "name"), _version(body))
    description = opt_str(body, "description")
    if description is not None and description != mv.description:
        return not_implemented(
            "changing a model version's description", " (it is set when the version is created)"
        )
    return _ok({"model_version": model_version_json(mv)})


@router.delete("/model-versions/delete")
def delete_model_version() -> JsonResponse:
    return not_implemented("deleting a model version", _APPEND_ONLY)


@router.delete("/model-versions/delete-tag")
def delete_model_version_tag() -> JsonResponse:
    return not_implemented("deleting a model version tag", "; set it to another value")


__all__ = ["registry_filter", "router"]
