"""schemathesis against both OpenAPI specs (the REST server with auth on and off, the inference
server): generated requests, a fixed seed and a small budget; no answer may be a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

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


def _exercise(base_url: str, headers: dict[str, str]) -> list[str]:
    """Every operation of the spec at ``base_url``; returns the 5xx found (with the body)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @BUDGET
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers)
            # 501: MLflow endpoints mloop answers "not implemented" on purpose
            if response.status_code >= 500 and response.status_code != 501:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:300]}"
                )

        run()
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
def test_rest_api_has_no_server_errors(rest: tuple[str, dict[str, str]]) -> None:
    url, headers = rest
    assert _exercise(url, headers) == []


def test_inference_api_has_no_server_errors(tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    import mloop.models
    from mloop.serve import create_serve_app

    x = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    mloop.models.save(LinearRegression().fit(x, [1.0, 2.0, 3.0]), tmp_path / "m", input_example=x)
    thread = ServerThread(create_serve_app([str(tmp_path / "m")], poll_interval_s=None)).start()
    try:
        assert _exercise(thread.url, {}) == []
    finally:
        thread.stop()
