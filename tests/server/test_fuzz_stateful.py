"""Stateful schemathesis against the REST server: sequences of calls chained by the OpenAPI
links of the create routes (create an experiment, start a run in it, log to it, end it; register
a model, a version, point an alias at it; create a loop, take its lease, move it, record its
monitor results and alerts), with auth on and off, a fixed seed and a small budget. No answer
may be a 5xx, and every answer must be one the spec states."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mloop.server import ServerThread, create_app  # noqa: E402
from mloop.store import SqlStore  # noqa: E402

pytestmark = pytest.mark.slow

#: The operations the links join: tracking and the registry of /api/v1; the loops.
LINKED = r"^/api/v1/(experiments|runs|registered-models)"
LOOPS = r"^/api/v1/loops"
BUDGET = settings(
    max_examples=6,
    stateful_step_count=6,
    derandomize=True,  # a fixed seed: the same sequences on every run
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)
#: A soft-deleted experiment or run stays readable (it can be restored), so schemathesis's
#: use-after-free check does not apply; these are the checks every answer must pass.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", params=[False, True], ids=["auth-off", "auth-on"])
def rest(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[str, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("stateful")
    store = SqlStore(f"sqlite:///{folder}/fuzz.db", str(folder / "artifacts"))
    auth = bool(request.param)
    headers = {}
    if auth:
        headers = {"Authorization": f"Bearer {store.create_token('fuzz', 'admin').token}"}
    thread = ServerThread(create_app(store, auth=auth)).start()
    yield thread.url, headers
    thread.stop()
    store.close()


def _run_machine(url: str, headers: dict[str, str], path_regex: str) -> list[tuple[str, int]]:
    """Run the state machine of the operations matching ``path_regex``: the calls it made."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json").include(path_regex=path_regex)
    Machine = schema.as_state_machine()
    calls: list[tuple[str, int]] = []

    class RestMachine(Machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url, "headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            calls.append((f"{case.method} {case.operation.path}", response.status_code))

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)

    RestMachine.run(settings=BUDGET)
    return calls


def test_rest_api_links_chain_real_calls(rest: tuple[str, dict[str, str]]) -> None:
    calls = _run_machine(*rest, LINKED)
    # The links were followed: a run was started in an experiment created before it, and
    # operations that need an existing resource in their path answered 2xx.
    reached = {op for op, status in calls if status < 300}
    assert "POST /api/v1/runs" in reached, calls
    assert any("{" in op for op in reached), calls


def test_loop_links_chain_real_calls(rest: tuple[str, dict[str, str]]) -> None:
    calls = _run_machine(*rest, LOOPS)
    # A loop was created, then an operation that needs that loop (404 for an unknown name)
    # answered 2xx: the link gave it the name. Releasing a lease answers 204 for any name.
    reached = {op for op, status in calls if status < 300}
    assert "PUT /api/v1/loops/{name}" in reached, calls
    needs_loop = reached - {
        "PUT /api/v1/loops/{name}",
        "GET /api/v1/loops",
        "DELETE /api/v1/loops/{name}/lease",
    }
    assert needs_loop, calls
