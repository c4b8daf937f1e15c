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
