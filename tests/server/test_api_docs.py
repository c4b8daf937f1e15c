"""/docs and /redoc work offline: their scripts and styles come from the package, not a CDN."""

from __future__ import annotations

import re

import pytest
from tests.server.conftest import LiveServer

from mloop.server._ui import UI_ROOT


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_only_local_assets(server: LiveServer, path: str) -> None:
    r = server.client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text)
    assert urls, r.text
    # every script, style and icon is a path on this server, and each is served
    for url in urls:
        assert url.startswith("/"), f"{path} loads {url} from elsewhere"
        asset = server.client.get(url)
        assert asset.status_code == 200, url
        local = UI_ROOT / url.removeprefix("/ui/")
        assert asset.content == local.read_bytes()
    assert "openapi.json" in r.text
    assert "fonts.googleapis" not in r.text and "cdn.jsdelivr" not in r.text


def test_the_openapi_document_the_docs_read_is_served(server: LiveServer) -> None:
    r = server.client.get("/openapi.json")
    assert r.status_code == 200
    assert r.json()["info"]["title"] == "mloop"


def test_openapi_links_name_real_operations_and_parameters(server: LiveServer) -> None:
    spec = server.client.get("/openapi.json").json()
    seen = 0
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for status, response in operation.get("responses", {}).items():
                for name, link in response.get("links", {}).items():
                    seen += 1
                    where = f"{method.upper()} {path} {status} -> {name}"
                    pointer = link["operationRef"].removeprefix("#/paths/")
                    target_path, _, target_method = pointer.rpartition("/")
                    target_path = target_path.replace("~1", "/").replace("~0", "~")
                    target = spec["paths"].get(target_path, {}).get(target_method)
                    assert target is not None, where
                    params = {p["name"] for p in target.get("parameters", [])}
                    assert set(link.get("parameters", {})) <= params, where
                    for expression in link.get("parameters", {}).values():
                        assert expression.startswith("$response.body#/"), where
    assert seen >= 30


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("PUT", "/api/v1/runs/abc", "/api/v1/runs/{run_id}"),
        ("POST", "/healthz", "/healthz"),
        ("DELETE", "/api/v1/experiments", "/api/v1/experiments"),
    ],
)
def test_every_405_is_documented_with_its_allow_header(
    server: LiveServer, method: str, path: str, template: str
) -> None:
    spec = server.client.get("/openapi.json").json()
    item = spec["paths"][template]
    documented = {m.upper() for m in item}
    for operation in item.values():
        answer = operation["responses"]["405"]
        assert "Allow" in answer["headers"]
        assert set(answer["headers"]["Allow"]["schema"]["example"].split(", ")) == documented
    response = server.client.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} >= documented
    # The MLflow-compatible routes answer a wrong method as MLflow does: no 405 listed.
    assert "405" not in spec["paths"]["/api/2.0/mlflow/runs/get"]["get"]["responses"]
