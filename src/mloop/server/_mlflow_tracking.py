"""The MLflow tracking REST API (``/api/2.0/mlflow/...``) on mloop's store.

Experiments, runs, params, metrics (log-batch, history), tags, run search with MLflow's filter
syntax, artifact listing, run outputs, and MLflow 3's logged models (see
:mod:`._mlflow_entities` for how they map to mloop runs). Routes are synchronous: FastAPI runs
them in its thread pool, and the store is thread-safe.
"""

from __future__ import annotations

import base64
import fnmatch
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from mloop._core import now_ms
from mloop._web._errors import JsonResponse
from mloop.errors import ArtifactNotFound, InvalidArgument, RunNotFound
from mloop.interop._mlflow_tags import LOGGED_MODEL_TAG, MODEL_TYPE_TAG, OUTPUT_TAG
from mloop.server._mlflow_common import (
    MLFLOW_ERROR_RESPONSES,
    PREFIX,
    MlflowRoute,
    experiment_id_in,
    key_values,
    not_implemented,
    opt_int,
    opt_str,
    query_args,
    req_str,
    str_list,
    view_of,
)
from mloop.server._mlflow_entities import (
    PARENT_RUN_TAG,
    RUN_NAME_TAG,
    artifact_uri,
    experiment_json,
    logged_model_json,
    number,
    run_id_of_model,
    run_info_json,
    run_json,
)
from mloop.server._scoped import scoped_store
from mloop.store import Experiment, Metric, Run, Store

router = APIRouter(
    prefix=PREFIX, route_class=MlflowRoute, responses=MLFLOW_ERROR_RESPONSES, tags=["mlflow"]
)

_EMPTY: dict[str, Any] = {}
_MODEL_STATUS_IN = {
    "LOGGED_MODEL_READY": "FINISHED",
    "LOGGED_MODEL_UPLOAD_FAILED": "FAILED",
    "LOGGED_MODEL_PENDING": "RUNNING",
    "2": "FINISHED",
    "3": "FAILED",
    "1": "RUNNING",
}
_NOT_LOGGED_MODEL = f"tags.`{LOGGED_MODEL_TAG}` IS NULL"
_IS_LOGGED_MODEL = f"tags.`{LOGGED_MODEL_TAG}` = 'true'"


def _store(request: Request) -> Store:
    # Narrowed to the caller's experiment scopes: a run or experiment outside them is 404.
    return scoped_store(request)


def _ok(content: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(content if content is not None else _EMPTY)


# -- MLflow's filter syntax --------------------------------------------------------------------

# mloop's run search language reads MLflow's filters as they are (metrics., params., tags.,
# attributes., quoted keys, LIKE, ILIKE, IN); only MLflow's attribute spellings differ.
_QUOTED = re.compile(r"('(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`[^`]*`)")
_ATTRIBUTE_NAMES = re.compile(
    r"\b(?:(?P<prefix>attributes?|attr|run)\.)?(?P<name>user_id|created|Created|run_uuid)\b"
)
_ATTRIBUTE_MAP = {
    "user_id": "user",
    "created": "start_time",
    "Created": "start_time",
    "run_uuid": "run_id",
}


def translate_filter(text: str) -> str:
    """An MLflow run filter in mloop's language (outside quoted strings and keys)."""

    def fix(part: str) -> str:
        return _ATTRIBUTE_NAMES.sub(
            lambda m: (
                f"attributes.{_ATTRIBUTE_MAP[m.group('name')]}"
                if m.group("prefix") or m.start() == 0 or part[m.start() - 1] != "."
                else m.group(0)
            ),
            part,
        )

    pieces = _QUOTED.split(text)
    return "".join(p if i % 2 else fix(p) for i, p in enumerate(pieces))


def _and(*filters: str) -> str:
    parts = [f for f in filters if f.strip()]
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


# -- experiments -------------------------------------------------------------------------------


@router.post("/experiments/create")
def create_experiment(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    """CreateExperiment: ``{name, artifact_location?, tags?}`` -> ``{experiment_id}``."""
    store = _store(request)
    exp = store.create_experiment(req_str(body, "name"), tags=key_values(body, "tags") or None)
    return _ok({"experiment_id": exp.experiment_id})


@router.get("/experiments/get")
def get_experiment(request: Request) -> JsonResponse:
    store = _store(request)
    exp_id = experiment_id_in(store, req_str(query_args(request), "experiment_id"))
    return _ok({"experiment": experiment_json(store.get_experiment(exp_id))})


@router.get("/experiments/get-by-name")
def get_experiment_by_name(request: Request) -> JsonResponse:
    store = _store(request)
    exp = store.get_experiment_by_name(req_str(query_args(request), "experiment_name"))
    return _ok({"experiment": experiment_json(exp)})


@router.post("/experiments/delete")
def delete_experiment(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    store.delete_experiment(experiment_id_in(store, req_str(body, "experiment_id")))
    return _ok()


@router.post("/experiments/restore")
def restore_experiment(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    store.restore_experiment(experiment_id_in(store, req_str(body, "experiment_id")))
    return _ok()


@router.post("/experiments/update")
def update_experiment(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    exp_id = experiment_id_in(store, req_str(body, "experiment_id"))
    new_name = opt_str(body, "new_name")
    if new_name is not None:
        store.rename_experiment(exp_id, new_name)
    return _ok()


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    exp_id = experiment_id_in(store, req_str(body, "experiment_id"))
    store.set_experiment_tag(exp_id, req_str(body, "key"), str(body.get("value", "")))
    return _ok()


_EXP_CONDITION = re.compile(
    r"^\s*(?P<key>name|attributes\.name|tags\.(?:`[^`]+`|\"[^\"]+\"|[\w.\-/ ]+?))\s*"
    r"(?P<op>=|!=|LIKE|ILIKE)\s*(?P<q>['\"])(?P<value>.*)(?P=q)\s*$",
    re.IGNORECASE,
)


def _experiment_filter(text: str) -> Callable[[Experiment], bool]:
    """MLflow's experiment filter: ``name`` and ``tags.<key>`` conditions joined by AND."""
    checks: list[Callable[[Experiment], bool]] = []
    for part in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
        m = _EXP_CONDITION.match(part)
        if m is None:
            raise InvalidArgument(
                f"unsupported experiment filter {part!r}: use name or tags.<key> with =, !=, "
                "LIKE or ILIKE and a quoted value, joined by AND"
            )
        key, op, value = m.group("key"), m.group("op").upper(), m.group("value")
        tag = None if key.lower().endswith("name") and "." not in key[:-4] else key[5:].strip('`"')
        checks.append(_condition(tag, op, value))
    return lambda exp: all(c(exp) for c in checks)


def _condition(tag: str | None, op: str, value: str) -> Callable[[Experiment], bool]:
    def get(exp: Experiment) -> str | None:
        return exp.name if tag is None else exp.tags.get(tag)

    if op in ("LIKE", "ILIKE"):
        pattern = re.compile(
            fnmatch.translate(value.replace("%", "*").replace("_", "?")),
            re.IGNORECASE if op == "ILIKE" else 0,
        )
        return lambda exp: (v := get(exp)) is not None and bool(pattern.match(v))
    if op == "=":
        return lambda exp: get(exp) == value
    return lambda exp: get(exp) != value


def _page(items: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    """Offset paging for listings the store does not page itself."""
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except ValueError:
            raise InvalidArgument(f"invalid page_token {token!r:.40}") from None
    end = start + size
    nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], nxt


def _experiment_sort_key(key: str) -> Callable[[Experiment], Any]:
    if key == "experiment_id":
        return lambda e: int(e.experiment_id)
    return lambda e: getattr(e, key)


@router.post("/experiments/search")
def search_experiments(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    max_results = opt_int(body, "max_results") or 1000
    keep = _experiment_filter(opt_str(body, "filter") or "")
    found = [e for e in store.list_experiments(view_of(body.get("view_type"))) if keep(e)]
    order = str_list(body, "order_by")
    for clause in reversed(order or ["last_update_time DESC"]):
        key, _, direction = clause.strip().partition(" ")
        key = key.removeprefix("attributes.")
        if key not in ("name", "experiment_id", "creation_time", "last_update_time"):
            raise InvalidArgument(f"cannot order experiments by {key!r}")
        found.sort(key=_experiment_sort_key(key), reverse=direction.strip().upper() == "DESC")
    page, nxt = _page(found, opt_str(body, "page_token"), max_results)
    out: dict[str, Any] = {"experiments": [experiment_json(e) for e in page]}
    if nxt:
        out["next_page_token"] = nxt
    return _ok(out)


# -- runs --------------------------------------------------------------------------------------


@router.post("/runs/create")
def create_run(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    """CreateRun: ``{experiment_id, user_id?, run_name?, start_time?, tags?}`` -> ``{run}``."""
    store = _store(request)
    tags = key_values(body, "tags")
    run_name = opt_str(body, "run_name") or tags.get(RUN_NAME_TAG) or None
    run = store.create_run(
        experiment_id_in(store, opt_str(body, "experiment_id") or "0"),
        run_name=run_name,
        parent_run_id=tags.get(PARENT_RUN_TAG) or None,
        start_time=opt_int(body, "start_time"),
        tags=tags or None,
        user=opt_str(body, "user_id") or "",
    )
    return _ok({"run": run_json(run)})


def _run_id(args: dict[str, Any]) -> str:
    run_id = opt_str(args, "run_id") or opt_str(args, "run_uuid")
    if run_id is None:
        raise InvalidArgument("missing value for required parameter 'run_id'")
    return run_id


@router.get("/runs/get")
def get_run(request: Request) -> JsonResponse:
    return _ok({"run": run_json(_store(request).get_run(_run_id(query_args(request))))})


@router.post("/runs/update")
def update_run(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    info = _store(request).update_run(
        _run_id(body),
        status=opt_str(body, "status"),
        end_time=opt_int(body, "end_time"),
        run_name=opt_str(body, "run_name"),
    )
    return _ok({"run_info": run_info_json(info)})


@router.post("/runs/delete")
def delete_run(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    _store(request).delete_run(_run_id(body))
    return _ok()


@router.post("/runs/restore")
def restore_run(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    _store(request).restore_run(_run_id(body))
    return _ok()


def _metric_points(store: Store, run_id: str, items: Any) -> dict[str, list[Metric]]:
    """Metric points by the run they go to: a point with the ``model_id`` of a logged model
    goes to that model's run (MLflow 3 links a copy of the run's metrics to the model).

    The usual point (a string key, a float value, integer step and timestamp, no model) is
    read inline; anything else goes through :func:`_metric_point`, which names what is wrong.
    The store checks keys and ranges."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise InvalidArgument("metrics must be a list of {key, value, timestamp, step}")
    own: list[Metric] = []
    by_run: dict[str, list[Metric]] = {run_id: own}
    holders: dict[str, str] = {}
    new = tuple.__new__
    for i, m in enumerate(items):
        if type(m) is not dict:
            raise InvalidArgument(f"metrics[{i}] must be an object")
        key = m.get("key")
        value = m.get("value")
        step = m.get("step", 0)
        ts = m.get("timestamp")
        if (
            type(key) is str
            and type(value) is float
            and type(step) is int
            and type(ts) is int
            and not m.get("model_id")
        ):
            own.append(new(Metric, (key, value, step, ts)))
            continue
        point = _metric_point(m, f"metrics[{i}]")
        model_id = m.get("model_id")
        if isinstance(model_id, str) and model_id:
            if model_id not in holders:
                holders[model_id] = _logged_model_run(store, model_id).run_id
            by_run.setdefault(holders[model_id], []).append(point)
        else:
            own.append(point)
    return by_run


def _metric_point(m: dict[str, Any], where: str) -> Metric:
    key = m.get("key")
    if not isinstance(key, str):
        raise InvalidArgument(f"{where}: missing value for required parameter 'key'")
    raw = m.get("value")
    if isinstance(raw, bool) or raw is None:
        raise InvalidArgument(f"{where}: missing or invalid value for metric {key!r}")
    try:
        value = float(raw)  # numbers, and "NaN", "Infinity", "-Infinity" as protobuf writes them
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"{where}: metric {key!r} has a non-numeric value {raw!r:.40}"
        ) from None
    ts = opt_int(m, "timestamp")
    return Metric(key, value, opt_int(m, "step") or 0, ts if ts is not None else now_ms())


def _log(store: Store, run_id: str, body: dict[str, Any]) -> None:
    tags = key_values(body, "tags")
    params = key_values(body, "params")
    metrics = _metric_points(store, run_id, body.get("metrics"))
    store.log_batch(
        run_id, metrics=metrics.pop(run_id, []), params=params or None, tags=tags or None
    )
    for other, points in metrics.items():
        store.log_batch(other, metrics=points)
    if tags.get(RUN_NAME_TAG):  # MLflow renames a run through this tag
        store.update_run(run_id, run_name=tags[RUN_NAME_TAG])


@router.post("/runs/log-batch")
def log_batch(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    """LogBatch: metrics, params and tags of one run in one transaction."""
    _log(_store(request), _run_id(body), body)
    return _ok()


@router.post("/runs/log-metric")
def log_metric(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    _log(_store(request), _run_id(body), {"metrics": [body]})
    return _ok()


@router.post("/runs/log-parameter")
def log_param(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    _store(request).log_batch(
        _run_id(body), params={req_str(body, "key"): str(body.get("value", ""))}
    )
    return _ok()


@router.post("/runs/set-tag")
def set_tag(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    key = req_str(body, "key")
    _log(_store(request), _run_id(body), {"tags": [{"key": key, "value": body.get("value", "")}]})
    return _ok()


@router.post("/runs/delete-tag")
def delete_tag(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    _store(request).delete_tag(_run_id(body), req_str(body, "key"))
    return _ok()


@router.post("/runs/outputs")
def log_outputs(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    """LogOutputs: the models a run logged (kept as tags of the run)."""
    models = body.get("models") or []
    if not isinstance(models, list):
        raise InvalidArgument("models must be a list of {model_id, step}")
    tags = {}
    for i, m in enumerate(models):
        if not isinstance(m, dict):
            raise InvalidArgument(f"models[{i}] must be an object")
        tags[OUTPUT_TAG + req_str(m, "model_id")] = str(opt_int(m, "step") or 0)
    if tags:
        _store(request).log_batch(_run_id(body), tags=tags)
    return _ok()


@router.post("/runs/log-inputs")
def log_inputs() -> JsonResponse:
    return not_implemented(
        "MLflow dataset inputs", "; register datasets with `mloop data register` for lineage"
    )


@router.post("/runs/search")
def search_runs(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    """SearchRuns with MLflow's filter syntax, compiled to SQL by mloop's search."""
    store = _store(request)
    exp_ids = [experiment_id_in(store, e) for e in str_list(body, "experiment_ids")]
    page = store.search_runs(
        exp_ids,
        _and(translate_filter(opt_str(body, "filter") or ""), _NOT_LOGGED_MODEL),
        [translate_filter(o) for o in str_list(body, "order_by")],
        opt_int(body, "max_results") or 1000,
        opt_str(body, "page_token"),
        view_of(body.get("run_view_type")),
    )
    out: dict[str, Any] = {"runs": [run_json(r) for r in page.runs]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return _ok(out)


@router.get("/metrics/get-history")
def get_metric_history(request: Request) -> JsonResponse:
    args = query_args(request)
    history = _store(request).get_metric_history(_run_id(args), req_str(args, "metric_key"))
    key = history.key
    values = history.values.tolist()
    return _ok(
        {
            "metrics": [
                {"key": key, "value": number(v), "timestamp": t, "step": s}
                for s, t, v in zip(
                    history.steps.tolist(), history.timestamps.tolist(), values, strict=True
                )
            ]
        }
    )


@router.get("/artifacts/list")
def list_artifacts(request: Request) -> JsonResponse:
    args = query_args(request)
    store = _store(request)
    run = store.get_run(_run_id(args))
    path = opt_str(args, "path") or ""
    try:
        infos = store.list_artifacts(run.run_id, path)
    except ArtifactNotFound:
        infos = []
    files = []
    for info in infos:
        entry: dict[str, Any] = {"path": info.path, "is_dir": info.is_dir}
        if info.size is not None:
            entry["file_size"] = info.size
        files.append(entry)
    return _ok({"root_uri": artifact_uri(run.info.experiment_id, run.run_id), "files": files})


# -- logged models (MLflow 3) ------------------------------------------------------------------


def _logged_model_run(store: Store, model_id: str) -> Run:
    run_id = run_id_of_model(model_id)
    try:
        run = store.get_run(run_id) if run_id else None
    except (RunNotFound, InvalidArgument):
        run = None
    if run is None or run.data.tags.get(LOGGED_MODEL_TAG) != "true":
        raise RunNotFound(f"no logged model with id {model_id!r}")
    return run


@router.post("/logged-models")
def create_logged_model(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    """CreateLoggedModel: an mloop run, child of the run that logs the model, holds it."""
    store = _store(request)
    source_run_id = opt_str(body, "source_run_id")
    exp_id = experiment_id_in(store, opt_str(body, "experiment_id") or "0")
    tags = key_values(body, "tags")
    tags[LOGGED_MODEL_TAG] = "true"
    model_type = opt_str(body, "model_type")
    if model_type:
        tags[MODEL_TYPE_TAG] = model_type
    run = store.create_run(
        exp_id,
        run_name=opt_str(body, "name") or None,
        parent_run_id=source_run_id,
        tags=tags,
    )
    params = key_values(body, "params")
    if params:
        store.log_batch(run.run_id, params=params)
        run = store.get_run(run.run_id)
    return _ok({"model": logged_model_json(run)})


@router.post("/logged-models/search")
def search_logged_models(request: Request, body: dict[str, Any] = _EMPTY) -> JsonResponse:
    store = _store(request)
    exp_ids = [experiment_id_in(store, e) for e in str_list(body, "experiment_ids")]
    user_filter = opt_str(body, "filter") or ""
    # A logged model's name is its run's name, its source run the run's parent.
    user_filter = re.sub(r"\bsource_run_id\b", "attributes.parent_run_id", user_filter)
    user_filter = re.sub(r"(?<![.\w`])name\b", "attributes.run_name", user_filter)
    page = store.search_runs(
        exp_ids,
        _and(user_filter, _IS_LOGGED_MODEL),
        [],
        opt_int(body, "max_results") or 100,
        opt_str(body, "page_token"),
    )
    out: dict[str, Any] = {"models": [logged_model_json(r) for r in page.runs]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return _ok(out)


@router.get("/logged-models/{model_id}")
def get_logged_model(model_id: str, request: Request) -> JsonResponse:
    return _ok({"model": logged_model_json(_logged_model_run(_store(request), model_id))})


@router.patch("/logged-models/{model_id}")
def finalize_logged_model(
    model_id: str, request: Request, body: dict[str, Any] = _EMPTY
) -> JsonResponse:
    store = _store(request)
    run = _logged_model_run(store, model_id)
    status = str(body.get("status", "LOGGED_MODEL_READY"))
    if status not in _MODEL_STATUS_IN:
        raise InvalidArgument(f"unknown logged model status {status!r}")
    target = _MODEL_STATUS_IN[status]
    store.update_run(run.run_id, status=target, end_time=None if target == "RUNNING" else now_ms())
    return _ok({"model": logged_model_json(store.get_run(run.run_id))})


@router.delete("/logged-models/{model_id}")
def delete_logged_model(model_id: str, request: Request) -> JsonResponse:
    store = _store(request)
    store.delete_run(_logged_model_run(store, model_id).run_id)
    return _ok()


@router.patch("/logged-models/{model_id}/tags")
def set_logged_model_tags(
    model_id: str, request: Request, body: dict[str, Any] = _EMPTY
) -> JsonResponse:
    store = _store(request)
    run = _logged_model_run(store, model_id)
    tags = key_values(body, "tags")
    if tags:
        store.log_batch(run.run_id, tags=tags)
    return _ok()


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}")
def delete_logged_model_tag(model_id: str, tag_key: str, request: Request) -> JsonResponse:
    store = _store(request)
    store.delete_tag(_logged_model_run(store, model_id).run_id, tag_key)
    return _ok()


@router.post("/logged-models/{model_id}/params")
def log_logged_model_params(
    model_id: str, request: Request, body: dict[str, Any] = _EMPTY
) -> JsonResponse:
    store = _store(request)
    run = _logged_model_run(store, model_id)
    params = key_values(body, "params")
    if params:
        store.log_batch(run.run_id, params=params)
    return _ok()


def logged_model_artifact_uri(store: Store, model_id: str) -> str | None:
    """The artifact URI of a logged model, or None when ``model_id`` names none."""
    try:
        run = _logged_model_run(store, model_id)
    except RunNotFound:
        return None
    return artifact_uri(run.info.experiment_id, run.run_id)


def logged_model_source_run(store: Store, model_id: str) -> tuple[str, str | None]:
    """(the run holding a logged model, the run that logged it)."""
    run = _logged_model_run(store, model_id)
    return run.run_id, run.info.parent_run_id
