"""The web UI in a real browser: a real ``mloop server`` process on 127.0.0.1, real data written
through mloop's client (``seed.py``), and Debian's Chromium driven by Playwright (one browser
per test module; a fresh context, so fresh storage, per test).

Screenshots go to ``tests/ui/artifacts/`` (git-ignored), kept as test artifacts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

CHROMIUM = os.environ.get("MLOOP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass
class UiServer:
    url: str
    ids: dict[str, Any]
    home: Path

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v1", timeout=30)


def _start_server(folder: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``mloop server`` (with ``extra`` arguments, e.g. ``--auth``) on a free port."""
    cmd = [
        str(Path(sys.executable).with_name("mloop")),
        "server",
        "--port",
        "0",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mloop.db'}",
        "--artifacts-uri",
        str(folder / "artifacts"),
        "--log-level",
        "warning",
        *extra,
    ]
    env = {**os.environ, "MLOOP_HOME": str(folder / "home"), "COLUMNS": "200"}
    env.pop("MLOOP_TRACKING_URI", None)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env, cwd=folder)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise RuntimeError("mloop server did not start:\n" + "".join(lines))


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    if proc.stderr is not None:
        proc.stderr.close()


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    folder = tmp_path_factory.mktemp("ui")
    proc, url = _start_server(folder)
    try:
        work = folder / "seed"
        work.mkdir()
        env = {
            **os.environ,
            "MLOOP_TRACKING_URI": url,
            "MLOOP_HOME": str(folder / "client-home"),
        }
        out = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("seed.py")), str(work)],
            capture_output=True,
            text=True,
            env=env,
            cwd=work,
            timeout=240,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        ids = json.loads(out.stdout.strip().splitlines()[-1])
        yield UiServer(url, ids, folder)
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Recorder:
    """What a page did: every request's URL, uncaught errors, and console errors."""

    requests: list[str] = field(default_factory=list)
    #: paths a test asks for knowing they fail (an unknown run)
    expected_failures: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    #: Content-Security-Policy violations the pages reported (none is allowed)
    csp_violations: list[str] = field(default_factory=list)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  const what = `${e.effectiveDirective} refused ${e.blockedURI || "inline"} in ${e.documentURI}`
    + (e.sourceFile ? ` (${e.sourceFile}:${e.lineNumber})` : "");
  if (window.__mloopCspViolation) window.__mloopCspViolation(what);
});
"""


@pytest.fixture
def page(browser: Any, ui: UiServer, recorder: Recorder) -> Iterator[Any]:
    """A page in a fresh context. At the end: the UI asked no host but the server, threw no
    error, had nothing refused by its Content-Security-Policy, and logged no console error
    other than for the requests it expected to fail."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=ui.url)
    # Every document the UI opens reports what its Content-Security-Policy refused.
    context.expose_function("__mloopCspViolation", lambda v: recorder.csp_violations.append(v))
    context.add_init_script(_CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(30_000)  # bounds a hang on a loaded machine
    failed_urls: list[str] = []
    page.on("request", lambda r: recorder.requests.append(r.url))
    page.on("pageerror", lambda e: recorder.page_errors.append(f"{e}\n{e.stack}"))
    page.on("response", lambda r: failed_urls.append(r.url) if r.status >= 400 else None)
    page.on(
        "console",
        lambda m: recorder.console_errors.append(m.text) if m.type == "error" else None,
    )
    yield page
    context.close()
    origin = urlsplit(ui.url).netloc
    foreign = [
        u
        for u in recorder.requests
        if not u.startswith(("data:", "blob:", "about:")) and urlsplit(u).netloc != origin
    ]
    assert not foreign, f"the UI asked other hosts: {foreign}"
    assert not recorder.page_errors, recorder.page_errors
    assert not recorder.csp_violations, f"CSP violations: {recorder.csp_violations}"
    unexpected = [u for u in failed_urls if urlsplit(u).path not in recorder.expected_failures]
    assert not unexpected, f"failed requests: {unexpected}"
    # A report's script blocked by its sandboxed frame is the sandbox working.
    others = [
        m
        for m in recorder.console_errors
        if "Failed to load resource" not in m
        and "Blocked script execution in 'about:srcdoc'" not in m
    ]
    assert not others, others


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
