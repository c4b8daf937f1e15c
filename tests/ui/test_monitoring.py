"""The monitoring page and sign-in in headless Chromium, against a real ``mloop server --auth``
whose store holds a model under a closed loop (``loop_seed.py``): the deployment weights, the
loop's state and timeline with evidence, the drift heatmap, realized and estimated performance,
the alerts; the sign-in form on 401, the identity in the header, sign out; a GenAI trace as a
waterfall."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.ui import loop_seed
from tests.ui.conftest import Recorder, UiServer, _start_server, shot, stop_server

from mloop.store import SqlStore
from mloop.store._tokens import Role

pytestmark = pytest.mark.slow

URL = f"/ui/monitoring/{loop_seed.MODEL}"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """This module's server: ``--auth`` on a store filled through the store API."""
    folder = tmp_path_factory.mktemp("ui-auth")
    store = SqlStore(f"sqlite:///{folder / 'mloop.db'}", str(folder / "artifacts"))
    try:
        ids: dict[str, Any] = loop_seed.fill(store)
        ids.update(loop_seed.fill_trace(store))
        ids["reader"] = store.create_token("alice", Role.READER).token
        store.create_registered_model("plain")
    finally:
        store.close()
    proc, url = _start_server(folder, "--auth")
    try:
        yield UiServer(url, ids, folder)
    finally:
        stop_server(proc)


def _sign_in(page: Any, recorder: Recorder, token: str) -> None:
    # The first answers are the 401s that bring up the sign-in form.
    recorder.expected_failures += [
        "/api/v1/auth/whoami",
        f"/api/v1/registered-models/{loop_seed.MODEL}/monitoring",
    ]
    page.goto(URL)
    page.wait_for_selector("form.signin")
    assert page.url.endswith("/ui/sign-in")
    page.fill("#token", token)
    page.click("form.signin button[type=submit]")
    page.wait_for_selector("[data-heatmap]")


def test_sign_in_shows_the_page_and_who_is_signed_in(
    page: Any, ui: UiServer, recorder: Recorder
) -> None:
    recorder.expected_failures += [
        "/api/v1/auth/whoami",
        f"/api/v1/registered-models/{loop_seed.MODEL}/monitoring",
    ]
    page.goto(URL)
    page.wait_for_selector("form.signin")
    shot(page, "sign-in")
    # a wrong token: the form says so and stays
    page.fill("#token", "mlp_000000000000_" + "x" * 43)
    page.click("form.signin button[type=submit]")
    page.wait_for_selector("form.signin .error")
    assert "UNAUTHORIZED" in page.inner_text("form.signin .error")
    assert page.evaluate("sessionStorage.getItem('mloop.token')") is None
    # the right one: back to the page asked for, the header names the identity and role
    page.fill("#token", ui.ids["reader"])
    page.click("form.signin button[type=submit]")
    page.wait_for_selector("[data-heatmap]")
    assert page.url.endswith(URL)
    page.wait_for_selector("#who [data-identity='alice']")
    assert page.inner_text("#who [data-role]") == "reader"
    assert page.evaluate("sessionStorage.getItem('mloop.token')") == ui.ids["reader"]
    assert page.evaluate("document.cookie") == ""


def test_sign_out_forgets_the_token(page: Any, ui: UiServer, recorder: Recorder) -> None:
    _sign_in(page, recorder, ui.ids["reader"])
    page.wait_for_selector("#sign-out")
    page.click("#sign-out")
    page.wait_for_selector("form.signin")
    assert page.evaluate("sessionStorage.getItem('mloop.token')") is None
    assert page.locator("#who [data-identity]").count() == 0
    recorder.expected_failures.append("/api/v1/registered-models")
    page.goto("/ui/models")
    page.wait_for_selector("form.signin")


def test_monitoring_page_shows_the_loop(page: Any, ui: UiServer, recorder: Recorder) -> None:
    ids = ui.ids
    _sign_in(page, recorder, ids["reader"])
    page.wait_for_selector("figure.chart[data-ready='1']")
    shot(page, "monitoring")
    # deployment weights, in the record's order
    weights = page.eval_on_selector_all(
        "[data-weights] tr", "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
    )
    assert weights == [["v1", "90%"], ["v2", "10%"]]
    # the loop's state and its timeline, newest first, with the evidence
    assert page.inner_text("[data-loop-state]") == ids["state"]
    seqs = page.eval_on_selector_all("[data-timeline] li", "ls => ls.map(l => l.dataset.seq)")
    assert seqs == ["4", "3", "2", "1"]
    gating = page.locator("[data-timeline] li[data-seq='3']")
    assert "retrained: version 2" in gating.inner_text()
    gating.locator("summary").click()
    assert '"version": 2' in gating.locator("pre").inner_text()
    # the heatmap: one row per column, one cell per monitor run, the drifted cells marked
    rows = page.eval_on_selector_all("[data-heatmap] tbody th", "hs => hs.map(h => h.textContent)")
    assert rows == sorted(ids["columns"])
    cells = page.locator("[data-heatmap] tbody td")
    assert cells.count() == len(ids["columns"]) * ids["runs"]
    assert page.locator("[data-heatmap] td[data-drifted='1']").count() == ids["drifted"]
    amount_last = page.locator("[data-heatmap] tbody tr:has(th:text-is('amount')) td").last
    assert "drifted" in (amount_last.get_attribute("title") or "")
    level = amount_last.evaluate("td => td.style.getPropertyValue('--level')")
    assert level == "1.000"  # the column's largest statistic
    # realized and estimated performance: one chart, two series, a point per monitor run
    chart = page.locator("figure.chart[data-chart='accuracy']")
    assert chart.count() == 1
    assert chart.locator(".u-legend").inner_text().count("realized") == 1
    assert "estimated (CBPE)" in chart.inner_text()
    # alerts, newest first
    statuses = page.eval_on_selector_all(
        "[data-alerts] tbody tr", "rs => rs.map(r => r.cells[3].textContent)"
    )
    assert statuses == ["failed", "delivered"]
    assert "HTTP 503 from the hook" in page.inner_text("[data-alerts]")
    # the model page links here (the seeded versions have no files: no manifest to read)
    recorder.expected_failures.append(
        f"/api/v1/registered-models/{ids['model']}/versions/1/manifest"
    )
    page.goto(f"/ui/models/{ids['model']}")
    page.click(f"a[href='{URL}']")
    page.wait_for_selector("[data-heatmap]")
    page.evaluate("document.documentElement.dataset.theme = 'dark'")
    shot(page, "monitoring-dark")


def test_a_model_without_a_loop_says_which_command_fills_it(
    page: Any, ui: UiServer, recorder: Recorder
) -> None:
    _sign_in(page, recorder, ui.ids["reader"])
    page.goto("/ui/monitoring/plain")
    page.wait_for_selector(".empty code.cmd:text('mloop loop run loop.yaml')")
    assert page.locator("code.cmd:text('mloop deploy set plain --weights 1=90,2=10')").count() == 1
    assert page.locator("[data-heatmap]").count() == 0
    shot(page, "monitoring-empty")


def test_the_token_lives_only_in_this_tab(browser: Any, ui: UiServer) -> None:
    context = browser.new_context(base_url=ui.url)
    try:
        page = context.new_page()
        page.goto("/ui/sign-in")
        page.wait_for_selector("form.signin")
        page.fill("#token", ui.ids["reader"])
        page.click("form.signin button[type=submit]")
        page.wait_for_selector("#who [data-identity='alice']")
        # a new tab of the same browser has no token: sessionStorage is per tab
        other = context.new_page()
        other.goto("/ui/sign-in")
        other.wait_for_selector("form.signin")
        assert other.evaluate("sessionStorage.getItem('mloop.token')") is None
        assert other.evaluate("localStorage.getItem('mloop.token')") is None
    finally:
        context.close()


def test_trace_waterfall(page: Any, ui: UiServer, recorder: Recorder) -> None:
    _sign_in(page, recorder, ui.ids["reader"])
    # the run's page lists its traces and links to the waterfall
    page.goto(f"/ui/runs/{ui.ids['trace_run']}")
    page.click(f"[data-traces] a[href='/ui/traces/{ui.ids['trace']}']")
    page.wait_for_selector("[data-waterfall] .wf-row")
    # the tree depth-first, children in start order
    names = page.eval_on_selector_all(
        "[data-waterfall] .wf-row", "rs => rs.map(r => r.dataset.span)"
    )
    assert names == ["answer", "retrieve", "chat", "parse"]
    # bars placed on the trace's time line: chat starts at 400 of 1200 ms
    assert page.get_attribute("[data-span='chat'] .wf-bar", "data-left") == "33.3"
    assert page.locator(".wf-row.wf-error").count() == 1
    # the root is shown first; choosing a span shows its inputs, outputs and tokens
    page.wait_for_selector("[data-span-details='" + "a" * 16 + "']")
    page.click("[data-span='chat']")
    details = page.locator("[data-span-details='" + "c" * 16 + "']")
    assert "Is this card payment fraud?" in details.inner_text()
    assert "120 in, 8 out" in details.inner_text()
    # keyboard: down to the failing tool span, its error shown
    page.focus("[data-span='chat']")
    page.keyboard.press("ArrowDown")
    page.wait_for_selector("[data-span-details='" + "d" * 16 + "'] .error:text('no JSON')")
    shot(page, "trace")
