"""OpenAPI links: what a client (or a stateful fuzzer) may call next with what a route returned.

FastAPI publishes no links of its own. The create routes state theirs here, through the
``responses`` of the route: create an experiment, then read, rename, tag, delete it and start
runs in it by its ``experiment_id``; create a run, then log to it, read and end it; register a
model, then its versions, their tags and aliases; create a loop, then take its lease, move it,
record monitor results and alerts, and read them back. A link names its target with an
``operationRef`` (a JSON pointer to the path and method) rather than FastAPI's generated
operation ids, so renaming a Python function does not break it; ``tests/server`` checks that
every link resolves to an operation of the spec.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXPERIMENT_LINKS",
    "LOOP_LINKS",
    "MODEL_LINKS",
    "RUN_LINKS",
    "VERSION_LINKS",
    "link",
    "linked",
]


def _pointer(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def link(
    method: str,
    path: str,
    description: str,
    *,
    parameters: dict[str, str] | None = None,
    request_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One OpenAPI Link object to the operation ``method path`` (the path as the spec writes
    it, e.g. ``/api/v1/runs/{run_id}``); values are runtime expressions such as
    ``$response.body#/experiment_id``."""
    out: dict[str, Any] = {
        "operationRef": f"#/paths/{_pointer(path)}/{method.lower()}",
        "description": description,
    }
    if parameters:
        out["parameters"] = parameters
    if request_body is not None:
        out["requestBody"] = request_body
    return out


def linked(
    status: int, description: str, links: dict[str, dict[str, Any]]
) -> dict[int | str, dict[str, Any]]:
    """A ``responses`` entry for the route's success status carrying ``links``."""
    return {status: {"description": description, "links": links}}


_V1 = "/api/v1"

_EXPERIMENT = {"experiment_id": "$response.body#/experiment_id"}
_E = f"{_V1}/experiments/{{experiment_id}}"
EXPERIMENT_LINKS: dict[str, dict[str, Any]] = {
    "GetExperiment": link("GET", _E, "the experiment just created", parameters=_EXPERIMENT),
    "RenameExperiment": link("PATCH", _E, "rename it", parameters=_EXPERIMENT),
    "SetExperimentTag": link("PUT", f"{_E}/tags/{{key}}", "tag it", parameters=_EXPERIMENT),
    "DeleteExperiment": link("DELETE", _E, "delete it", parameters=_EXPERIMENT),
    "RestoreExperiment": link("POST", f"{_E}/restore", "restore it", parameters=_EXPERIMENT),
    "CreateRun": link("POST", f"{_V1}/runs", "start a run in it", request_body=dict(_EXPERIMENT)),
    "SearchRuns": link(
        "POST",
        f"{_V1}/runs/search",
        "search its runs",
        request_body={"experiment_ids": ["$response.body#/experiment_id"]},
    ),
}

_RUN = {"run_id": "$response.body#/info/run_id"}
_R = f"{_V1}/runs/{{run_id}}"
RUN_LINKS: dict[str, dict[str, Any]] = {
    "GetRun": link("GET", _R, "the run just created", parameters=_RUN),
    "UpdateRun": link("PATCH", _R, "end or rename it", parameters=_RUN),
    "DeleteRun": link("DELETE", _R, "delete it", parameters=_RUN),
    "RestoreRun": link("POST", f"{_R}/restore", "restore it", parameters=_RUN),
    "Heartbeat": link("POST", f"{_R}/heartbeat", "say it is alive", parameters=_RUN),
    "LogBatch": link("POST", f"{_R}/batch", "log metrics, params, tags", parameters=_RUN),
    "GetMetricHistory": link(
        "GET", f"{_R}/metrics/{{key}}/history", "a metric's points", parameters=_RUN
    ),
    "DeleteRunTag": link("DELETE", f"{_R}/tags/{{key}}", "remove a tag", parameters=_RUN),
    "ListArtifacts": link("GET", f"{_R}/artifacts", "its files", parameters=_RUN),
    "PutArtifact": link("PUT", f"{_R}/artifacts/{{path}}", "upload a file", parameters=_RUN),
    "GetArtifact": link("GET", f"{_R}/artifacts/{{path}}", "download a file", parameters=_RUN),
    "GetExperiment": link(
        "GET",
        _E,
        "its experiment",
        parameters={"experiment_id": "$response.body#/info/experiment_id"},
    ),
}

_MODEL = {"name": "$response.body#/name"}
_M = f"{_V1}/registered-models/{{name}}"
MODEL_LINKS: dict[str, dict[str, Any]] = {
    "GetRegisteredModel": link("GET", _M, "the model just registered", parameters=_MODEL),
    "UpdateRegisteredModel": link("PATCH", _M, "describe it", parameters=_MODEL),
    "SetRegisteredModelTag": link("PUT", f"{_M}/tags/{{key}}", "tag it", parameters=_MODEL),
    "CreateModelVersion": link("POST", f"{_M}/versions", "register a version", parameters=_MODEL),
    "ListModelVersions": link("GET", f"{_M}/versions", "its versions", parameters=_MODEL),
    "GetAuditLog": link("GET", f"{_M}/audit", "its audit log", parameters=_MODEL),
    "GetDeployment": link("GET", f"{_M}/deployment", "its deployment", parameters=_MODEL),
}

_VERSION = {"name": "$response.body#/name", "version": "$response.body#/version"}
_MV = f"{_M}/versions/{{version}}"
VERSION_LINKS: dict[str, dict[str, Any]] = {
    "GetModelVersion": link("GET", _MV, "the version just registered", parameters=_VERSION),
    "ArchiveModelVersion": link("POST", f"{_MV}/archive", "archive it", parameters=_VERSION),
    "SetModelVersionTag": link("PUT", f"{_MV}/tags/{{key}}", "tag it", parameters=_VERSION),
    "SetAlias": link(
        "PUT",
        f"{_M}/aliases/{{alias}}",
        "point an alias at it",
        parameters={"name": "$response.body#/name"},
        request_body={"version": "$response.body#/version"},
    ),
    "GetAlias": link("GET", f"{_M}/aliases/{{alias}}", "an alias of the model", parameters=_MODEL),
    "DeleteAlias": link("DELETE", f"{_M}/aliases/{{alias}}", "remove an alias", parameters=_MODEL),
    "GetRegisteredModel": link("GET", _M, "its model", parameters=_MODEL),
}

_LOOP = {"name": "$response.body#/name"}
_L = f"{_V1}/loops/{{name}}"
LOOP_LINKS: dict[str, dict[str, Any]] = {
    "GetLoop": link("GET", _L, "the loop just created or updated", parameters=_LOOP),
    "GetLoopStatus": link("GET", f"{_L}/status", "its status", parameters=_LOOP),
    "AcquireLoopLease": link("POST", f"{_L}/lease", "take its lease", parameters=_LOOP),
    "ReleaseLoopLease": link("DELETE", f"{_L}/lease", "release its lease", parameters=_LOOP),
    "TransitionLoop": link(
        "POST",
        f"{_L}/transitions",
        "move it",
        parameters=_LOOP,
        request_body={"expected_seq": "$response.body#/seq"},
    ),
    "ListLoopTransitions": link("GET", f"{_L}/transitions", "its history", parameters=_LOOP),
    "AddMonitorResult": link(
        "POST", f"{_L}/monitor-results", "record a monitor result", parameters=_LOOP
    ),
    "ListMonitorResults": link(
        "GET", f"{_L}/monitor-results", "its monitor results", parameters=_LOOP
    ),
    "AddAlert": link("POST", f"{_L}/alerts", "record an alert delivery", parameters=_LOOP),
    "ListAlerts": link("GET", f"{_L}/alerts", "its alert deliveries", parameters=_LOOP),
}
