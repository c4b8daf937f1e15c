"""schemathesis against both OpenAPI specs (the REST server with auth on and off, the inference
server): generated requests, a fixed seed and a small budget; no answer may be a 5xx, and every
answer must be one the spec states (status code, content type and body: schemathesis's
conformance checks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mloop.server import ServerThread, create_app  # noqa: E402
from mloop.store import SqlStore  # noqa: E402

pytestmark = pytest.mark.slow
BUDGET = settings(
    max_examples=8,
    derandomize=True,  # a fixed seed: the same requests on every run
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


#: What a conforming server's answers satisfy: a status code, content type and body that the
#: spec states for the operation.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def _conformance_failures(base_url: str, headers: dict[str, str]) -> list[str]:
    """Every operation of the spec at ``base_url``; returns the first failure of each: a 5xx
    (501 is "not implemented" on purpose, and documented) or an answer the spec does not
    state."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @BUDGET
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers)
            if response.status_code >= 500 and response.status_code != 501:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:300]}"
                )
            case.validate_response(response, checks=CONFORMANCE, headers=headers)

        try:
            run()
        except BaseException as exc:  # schemathesis's FailureGroup is a BaseExceptionGroup
            if not isinstance(exc, Exception | BaseExceptionGroup):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    return failures


@pytest.fixture
def rest(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str]]]:
    store = SqlStore(f"sqlite:///{tmp_path}/fuzz.db", str(tmp_path / "artifacts"))
    auth = bool(request.param)
    headers = {}
    if auth:
        headers = {"Authorization": f"Bearer {store.create_token('fuzz', 'admin').token}"}
    thread = ServerThread(create_app(store, auth=auth)).start()
    yield thread.url, headers
    thread.stop()
    store.close()


@pytest.mark.parametrize("rest", [False, True], indirect=True, ids=["auth-off", "auth-on"])
def test_rest_api_conforms_to_its_spec(rest: tuple[str, dict[str, str]]) -> None:
    url, headers = rest
    assert _conformance_failures(url, headers) == []


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
def test_inference_api_conforms_to_its_spec(tmp_path: Path, auth: bool) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    import mloop.models
    from mloop._web._bearer import TokenCache
    from mloop.serve import create_serve_app

    x = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    mloop.models.save(LinearRegression().fit(x, [1.0, 2.0, 3.0]), tmp_path / "m", input_example=x)
    tokens = SqlStore(f"sqlite:///{tmp_path}/tokens.db", str(tmp_path / "artifacts"))
    headers: dict[str, str] = {}
    cache = None
    if auth:
        scopes = {"inference": ["predict", "feedback"]}
        token = tokens.create_token("fuzz-app", "reader", scopes=scopes).token
        headers = {"Authorization": f"Bearer {token}"}
        cache = TokenCache(tokens)
    app = create_serve_app([str(tmp_path / "m")], poll_interval_s=None, auth=cache)
    thread = ServerThread(app).start()
    try:
        assert _conformance_failures(thread.url, headers) == []
    finally:
        thread.stop()
        tokens.close()
