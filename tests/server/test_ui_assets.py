"""How the server serves the web UI: pages, assets, headers, and the vendored libraries."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.server.conftest import LiveServer

from mloop.server._ui import UI_ROOT

PAGES = [
    "/ui/experiments",
    "/ui/experiments/1",
    "/ui/runs/0123",
    "/ui/compare?runs=a,b",
    "/ui/models",
    "/ui/models/churn",
    "/ui/datasets/churn-train",
    "/ui/pipelines/0123",
    "/ui/monitoring/churn",
]


def test_root_goes_to_the_ui(server: LiveServer) -> None:
    for path in ("/", "/ui"):
        r = server.client.get(path)
        assert r.status_code == 307
        assert r.headers["location"] == "/ui/experiments"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_url_serves_the_app_with_a_strict_policy(server: LiveServer, path: str) -> None:
    r = server.client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/assets/app.js">' in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert (
        "unsafe-eval" not in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert r.headers["x-content-type-options"] == "nosniff"


def test_no_inline_script_and_no_remote_origin_in_the_assets() -> None:
    for path in UI_ROOT.rglob("*"):
        if path.suffix not in (".html", ".js", ".css") or "vendor" in path.parts:
            continue
        text = path.read_text()
        # no <script> with a body (only src=), no inline event handlers in markup
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert not re.search(r"\son[a-z]+=\"", text), path
        # nothing is fetched from another origin
        assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text), path
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path


def test_assets_are_served_with_types_and_etags(server: LiveServer) -> None:
    js = server.client.get("/ui/assets/app.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    etag = js.headers["etag"]
    again = server.client.get("/ui/assets/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    css = server.client.get("/ui/vendor/uplot/uPlot.min.css")
    assert css.headers["content-type"].startswith("text/css")
    assert server.client.get("/ui/assets/nope.js").status_code == 404


def test_assets_cannot_escape_the_ui_folder(server: LiveServer) -> None:
    for path in ("/ui/assets/../../_app.py", "/ui/assets/%2e%2e/%2e%2e/_app.py"):
        r = server.client.get(path)
        assert r.status_code in (200, 404)
        assert "create_app" not in r.text


def test_every_page_module_exists() -> None:
    app = (UI_ROOT / "assets" / "app.js").read_text()
    pages = set(re.findall(r'\[/\^.*?/, "([a-z]+)"', app))
    assert pages >= {"experiments", "experiment", "run", "compare", "models", "model"}
    for page in pages:
        assert (UI_ROOT / "assets" / "pages" / f"{page}.js").is_file(), page


def test_vendored_files_are_what_vendor_mjs_copied() -> None:
    manifest = json.loads((UI_ROOT / "vendor" / "VENDORED.json").read_text())
    assert manifest["packages"]["uplot"]["license"] == "MIT"
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((UI_ROOT / "vendor" / rel).read_bytes()).hexdigest() == digest, rel
    lock = json.loads(Path("scripts/ui-vendor/package-lock.json").read_text())
    assert (
        lock["packages"]["node_modules/uplot"]["version"]
        == manifest["packages"]["uplot"]["version"]
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_modules_parse() -> None:
    """Every module is valid JavaScript (node --check), so a syntax error fails here, not in
    a user's browser."""
    for path in (UI_ROOT / "assets").rglob("*.js"):
        out = subprocess.run(
            ["node", "--check", "--input-type=module"],
            input=path.read_text(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, f"{path}: {out.stderr}"
