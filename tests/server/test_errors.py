"""Every error has one JSON shape and the status of the server's one table; HttpStore turns it back
into the exception the server's store raised."""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from mloop import errors
from mloop._web._errors import STATUS_BY_ERROR, status_for
from mloop.errors import (
    ExperimentNotFound,
    InvalidArgument,
    MloopError,
    RunNotFound,
    StoreUnavailable,
)
from mloop.store import Experiment, HttpStore, SqlStore
from mloop.store._http_transport import ERROR_BY_CODE, error_from_response

if TYPE_CHECKING:
    from conftest import LiveServer, StartServer

API = "/api/v1"

ERROR_CLASSES = [
    cls
    for cls in (getattr(errors, name) for name in errors.__all__)
    if isinstance(cls, type) and issubclass(cls, MloopError)
]


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


# -- the shapes ------------------------------------------------------------------------------


def test_unknown_run_is_404_naming_the_id(server: LiveServer) -> None:
    err = _error(server.client.get(f"{API}/runs/deadbeef"), 404, "RUN_NOT_FOUND")
    assert "deadbeef" in err["message"]
    err = _error(
        server.client.post(f"{API}/runs/deadbeef/batch", json={"params": {"a": "1"}}),
        404,
        "RUN_NOT_FOUND",
    )
    assert "deadbeef" in err["message"]
    _error(server.client.get(f"{API}/experiments/12345"), 404, "EXPERIMENT_NOT_FOUND")
    _error(server.client.get(f"{API}/experiments/by-name/nope"), 404, "EXPERIMENT_NOT_FOUND")


def test_duplicate_experiment_is_409(server: LiveServer) -> None:
    assert server.client.post(f"{API}/experiments", json={"name": "dup"}).status_code == 201
    err = _error(
        server.client.post(f"{API}/experiments", json={"name": "dup"}),
        409,
        "EXPERIMENT_ALREADY_EXISTS",
    )
    assert "dup" in err["message"]


def test_param_conflict_is_409(server: LiveServer, run_id: str) -> None:
    url = f"{API}/runs/{run_id}/batch"
    assert server.client.post(url, json={"params": {"lr": "0.1"}}).status_code == 204
    err = _error(server.client.post(url, json={"params": {"lr": "0.2"}}), 409, "PARAM_CONFLICT")
    assert "lr" in err["message"]


def test_wrong_types_are_422_naming_the_field(server: LiveServer) -> None:
    err = _error(
        server.client.post(f"{API}/runs", json={"experiment_id": "1", "start_time": "soon"}),
        422,
        "INVALID_ARGUMENT",
    )
    assert "body.start_time" in err["message"]
    assert [d["field"] for d in err["details"]] == ["body.start_time"]

    err = _error(
        server.client.post(f"{API}/experiments", json={"name": 3, "tags": {"a": [1]}}),
        422,
        "INVALID_ARGUMENT",
    )
    assert "body.name" in err["message"]
    assert "body.tags.a" in err["message"]

    err = _error(server.client.get(f"{API}/experiments?view=gone"), 422, "INVALID_ARGUMENT")
    assert "query.view" in err["message"]

    err = _error(
        server.client.patch(f"{API}/runs/abc", json={"status": "DONE"}), 422, "INVALID_ARGUMENT"
    )
    assert "body.status" in err["message"]

    err = _error(
        server.client.post(f"{API}/experiments", json={"name": "  "}), 422, "INVALID_ARGUMENT"
    )
    assert "experiment name" in err["message"]


def test_bad_batch_is_422_with_a_clear_message(server: LiveServer, run_id: str) -> None:
    url = f"{API}/runs/{run_id}/batch"
    cases = {
        '{"metrics": [["loss", "high", 0, 1]]}': "metric 'loss' must be a number",
        '{"metrics": [["loss", 1.0, 0]]}': "metric #0 must be (key, value, step, timestamp)",
        '{"metrics": [["loss", 1.0, 1.5, 0]]}': "step of metric 'loss'",
        '{"metrics": {"loss": 1}}': "metrics must be a list",
        '{"metric": []}': "unknown field(s) in the batch body: metric",
        '{"params": [1, 2]}': "params must be a mapping",
        "[1, 2]": "must be a JSON object",
        '{"metrics": [["bad key!", 1.0, 0, 0]]}': "metric key 'bad key!'",
        # a key that cannot even be hashed (an array) is named, not a 500
        '{"metrics": [[["loss"], 1.0, 0, 0]]}': "metric key must be a string, got list",
        '{"metrics": [[{"k": 1}, 1.0, 0, 0]]}': "metric key must be a string, got dict",
    }
    for body, expected in cases.items():
        response = server.client.post(url, content=body)
        err = _error(response, 422, "INVALID_ARGUMENT")
        assert expected in err["message"], (body, err["message"])
    with server.reader() as reader:
        assert len(reader.get_metric_history(run_id, "loss")) == 0


def test_malformed_json_is_422(server: LiveServer, run_id: str) -> None:
    headers = {"content-type": "application/json"}
    err = _error(
        server.client.post(f"{API}/experiments", content=b'{"name": ', headers=headers),
        422,
        "INVALID_ARGUMENT",
    )
    assert "not valid JSON" in err["message"]
    assert isinstance(err["details"]["position"], int)
    err = _error(
        server.client.post(f"{API}/runs/{run_id}/batch", content=b"{nope", headers=headers),
        422,
        "INVALID_ARGUMENT",
    )
    assert "not valid JSON" in err["message"]
    assert err["details"] == {"position": 1}


def test_a_body_that_is_not_utf8_is_422_like_any_body_that_is_not_json(
    server: LiveServer,
) -> None:
    # FastAPI answers these 400, a status no route documents (found by the stateful fuzzer).
    headers = {"content-type": "application/json"}
    for body in (b"\xff", b'{"name": "\x80"}'):
        err = _error(
            server.client.post(f"{API}/experiments", content=body, headers=headers),
            422,
            "INVALID_ARGUMENT",
        )
        assert "not UTF-8" in err["message"], body
        assert isinstance(err["details"]["position"], int)


def test_invalid_filter_is_422_with_position(server: LiveServer) -> None:
    exp = server.client.post(f"{API}/experiments", json={"name": "e"}).json()
    err = _error(
        server.client.post(
            f"{API}/runs/search",
            json={"experiment_ids": [exp["experiment_id"]], "filter": "metrics.auc >> 1"},
        ),
        422,
        "INVALID_FILTER",
    )
    assert isinstance(err["details"]["position"], int)


def test_oversize_body_is_413(start_server: StartServer) -> None:
    server = start_server(max_body_size=1024)
    big = {"name": "x", "tags": {"pad": "p" * 4000}}
    _error(server.client.post(f"{API}/experiments", json=big), 413, "PAYLOAD_TOO_LARGE")

    def chunked():  # type: ignore[no-untyped-def]  # no Content-Length: counted while read
        yield b'{"name": "x", "tags": {"pad": "'
        for _ in range(10):
            yield b"p" * 500
        yield b'"}}'

    err = _error(
        server.client.post(
            f"{API}/experiments", content=chunked(), headers={"content-type": "application/json"}
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    assert "1024 bytes" in err["message"]
    _error(
        server.client.post(f"{API}/runs/abc/batch", content=b"[" + b" " * 2000 + b"]"),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    # under the limit still works, and artifacts are exempt
    assert server.client.post(f"{API}/experiments", json={"name": "ok"}).status_code == 201
    with server.reader() as reader:
        assert [e.name for e in reader.list_experiments()] == ["ok"]


def test_artifact_traversal_is_refused(server: LiveServer, run_id: str) -> None:
    secret = server.artifacts.parent / "mloop.db"
    assert secret.exists()
    c = server.client
    for path in ("%2e%2e/%2e%2e/%2e%2e/mloop.db", "%2E%2E/x", "a/%2e%2e/%2e%2e/b", "%2Fetc/passwd"):
        got = c.get(f"{API}/runs/{run_id}/artifacts/{path}")
        _error(got, 422, "UNSAFE_ARTIFACT_PATH")  # refused as unsafe, not merely not found
        assert b"SQLite" not in got.content

        put = c.put(f"{API}/runs/{run_id}/artifacts/{path}", content=b"evil")
        _error(put, 422, "UNSAFE_ARTIFACT_PATH")
    listed = c.get(f"{API}/runs/{run_id}/artifacts", params={"path": "../.."})
    _error(listed, 422, "UNSAFE_ARTIFACT_PATH")
    assert not list(server.artifacts.parent.rglob("x"))
    assert not any(
        p.read_bytes() == b"evil" for p in server.artifacts.parent.rglob("*") if p.is_file()
    )


def test_literal_dot_dot_on_the_wire_is_refused(server: LiveServer, run_id: str) -> None:
    # httpx would normalize "..": send the request line by hand.
    host, port = server.url.removeprefix("http://").split(":")
    request = (
        f"GET {API}/runs/{run_id}/artifacts/../../../mloop.db HTTP/1.1\r\n"
        f"Host: {host}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.split()[1] == b"422"
    assert b'"code":"UNSAFE_ARTIFACT_PATH"' in rest
    assert b"SQLite format" not in rest


def test_unknown_route_and_method(server: LiveServer) -> None:
    err = _error(server.client.get("/api/v1/nothing/here"), 404, "NOT_FOUND")
    assert "/api/v1/nothing/here" in err["message"]
    err = _error(server.client.put(f"{API}/runs/search"), 405, "METHOD_NOT_ALLOWED")
    assert "PUT" in err["message"]


def test_405_allow_names_every_method_of_the_path(server: LiveServer) -> None:
    # each method of a path is its own route: Allow must name them all, not the first one's
    for path, allowed in [
        (f"{API}/experiments", {"GET", "POST"}),
        (f"{API}/runs/abc", {"GET", "PATCH", "DELETE"}),
        ("/healthz", {"GET"}),
    ]:
        answer = server.client.put(path)
        _error(answer, 405, "METHOD_NOT_ALLOWED")
        assert set(answer.headers["allow"].split(", ")) == allowed, path


class _Exploding(SqlStore):
    def _get_run(self, run_id: str) -> Any:
        raise RuntimeError("secret internals: password=hunter2")


def test_internal_error_is_500_with_an_id_and_no_traceback(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server(store_cls=_Exploding)
    with caplog.at_level(logging.ERROR, logger="mloop.server"):
        response = server.client.get(f"{API}/runs/abc", headers={"X-Request-ID": "r-500"})
    err = _error(response, 500, "INTERNAL_ERROR")
    error_id = err["details"]["error_id"]
    assert error_id in err["message"]
    assert err["details"]["request_id"] == "r-500"
    assert "Traceback" not in response.text
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert logged[0].exc_info[0] is RuntimeError
    # the server keeps serving
    assert server.client.get("/healthz").status_code == 200


# -- the tables ------------------------------------------------------------------------------


# What each error means on the wire, written out here from the API's contract (not derived from
# _web/_errors.py): a new error class must be added here, with the status a client should get.
EXPECTED_STATUS = {
    "MloopError": 500,
    "InvalidArgument": 422,
    "NotFound": 404,
    "Conflict": 409,
    "AlreadyExists": 409,
    "Unauthorized": 401,
    "Forbidden": 403,
    "PayloadTooLarge": 413,
    "StoreError": 500,
    "StoreUnavailable": 503,
    "MigrationError": 500,
    "TrackingError": 500,
    "ExperimentNotFound": 404,
    "ExperimentAlreadyExists": 409,
    "RunNotFound": 404,
    "ParamConflict": 409,
    "InvalidFilter": 422,
    "NoActiveRun": 500,
    "LoggingFailed": 500,
    "ArtifactError": 500,
    "ArtifactNotFound": 404,
    "UnsafeArtifactPath": 422,
    "RegistryError": 500,
    "RegisteredModelNotFound": 404,
    "RegisteredModelAlreadyExists": 409,
    "ModelVersionNotFound": 404,
    "InvalidAliasTarget": 409,
    "ModelError": 500,
    "ModelIntegrityError": 500,
    "SignatureMismatch": 422,
    "UnknownFlavor": 422,
    "ModelNotFound": 404,
    "DataError": 500,
    "DatasetNotFound": 404,
    "InvalidData": 422,
    "InvalidChecks": 422,
    "EvaluationError": 500,
    "PolicyError": 422,
    "InvalidEvaluationInput": 422,
    "ServeError": 500,
    "ServedModelNotFound": 404,
    "InvalidPayload": 422,
    "ServerBusy": 503,
    "PipelineError": 500,
    "InvalidPipeline": 422,
    "StepFailed": 500,
    "StepTimeout": 500,
    "UnpicklableResult": 500,
    "LoopError": 500,
    "LoopNotFound": 404,
    "LoopLeaseHeld": 409,
    "InvalidLoop": 422,
    "GenAIError": 500,
    "NotAPrompt": 422,
    "PromptVariableError": 422,
    "TraceNotFound": 404,
}


def test_the_expected_table_names_every_error() -> None:
    assert sorted(EXPECTED_STATUS) == sorted(cls.__name__ for cls in ERROR_CLASSES)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_status_table(cls: type[MloopError]) -> None:
    assert status_for(cls) == EXPECTED_STATUS[cls.__name__]
    assert ERROR_BY_CODE[cls.code] is cls


def test_every_code_is_unique_and_table_is_complete() -> None:
    codes = [cls.code for cls in ERROR_CLASSES]
    assert len(codes) == len(set(codes))
    assert set(STATUS_BY_ERROR) <= set(ERROR_CLASSES)
    assert status_for(RuntimeError) == 500


class _Raising(SqlStore):
    """Raises the error class set on it from one hook."""

    to_raise: type[MloopError] = MloopError

    def _get_experiment(self, experiment_id: str) -> Experiment:
        raise self.to_raise(f"raised {self.to_raise.__name__}", details={"id": experiment_id})


def test_every_error_round_trips_through_http(start_server: StartServer) -> None:
    server = start_server(store_cls=_Raising)
    store = server.store
    assert isinstance(store, _Raising)
    with HttpStore(server.url) as client:
        for cls in ERROR_CLASSES:
            store.to_raise = cls
            response = server.client.get(f"{API}/experiments/7")
            _error(response, status_for(cls), cls.code)
            with pytest.raises(cls) as caught:
                client.get_experiment("7")
            assert type(caught.value) is cls
            assert caught.value.message == f"raised {cls.__name__}"
            assert caught.value.details == {"id": "7"}


def test_unknown_codes_fall_back_to_the_status() -> None:
    body = b'{"error": {"code": "SOMETHING_NEW", "message": "m", "details": 1}}'
    assert type(error_from_response(404, body)) is errors.NotFound
    assert type(error_from_response(409, body)) is errors.Conflict
    assert type(error_from_response(418, body)) is MloopError
    proxy = error_from_response(502, b"<html>Bad Gateway</html>")
    assert type(proxy) is StoreUnavailable
    assert "502" in proxy.message
    assert "Bad Gateway" in proxy.message


def test_unreachable_server_is_store_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with HttpStore(f"http://127.0.0.1:{port}", timeout=2) as store:
        with pytest.raises(StoreUnavailable) as caught:
            store.list_experiments()
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
        with pytest.raises(StoreUnavailable):
            store.open_artifact("abc", "x")


class _Slow(SqlStore):
    def _list_experiments(self, view: Any) -> Any:
        time.sleep(0.5)
        return super()._list_experiments(view)


def test_timeout_is_store_unavailable(start_server: StartServer) -> None:
    server = start_server(store_cls=_Slow)
    with HttpStore(server.url, timeout=0.1) as store:
        with pytest.raises(StoreUnavailable) as caught:
            store.list_experiments()
        assert isinstance(caught.value.__cause__, httpx.TimeoutException)


def test_http_store_validates_before_sending(server: LiveServer) -> None:
    with HttpStore(server.url) as store:
        with pytest.raises(InvalidArgument, match="metric 'x' must be a number"):
            store.log_batch("abc", metrics=[("x", "high", 0, 0)])
        with pytest.raises(RunNotFound, match="abc"):
            store.log_batch("abc", metrics=[("x", 1.0, 0, 0)])
        with pytest.raises(ExperimentNotFound):
            store.create_run("999")


class _Down(SqlStore):
    def _ping(self) -> None:
        raise StoreUnavailable("the database is unavailable (connection refused)")


def test_healthz_is_503_when_the_store_is_down(start_server: StartServer) -> None:
    server = start_server(store_cls=_Down)
    err = _error(server.client.get("/healthz"), 503, "UNAVAILABLE")
    assert "connection refused" in err["message"]


def test_an_unreachable_server_is_store_unavailable() -> None:
    import socket

    from mloop.errors import StoreUnavailable
    from mloop.store import HttpStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = HttpStore(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(StoreUnavailable, match=str(port)):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.get_run("0" * 32)
    store.close()
