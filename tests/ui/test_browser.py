"""The web UI in headless Chromium against a real server with real data: every page loads,
the filter (and its error at the position), sorting, nested runs, selection and comparison,
chart zoom, artifact previews, live rows, keyboard and themes."""

from __future__ import annotations

from typing import Any

import pytest
from tests.ui.conftest import Recorder, UiServer, shot

pytestmark = pytest.mark.slow


def _experiment(page: Any, ui: UiServer) -> None:
    page.goto(f"/ui/experiments/{ui.ids['experiment_id']}")
    page.wait_for_selector(".vt[data-loaded='all'] .vt-row")


def _row_names(page: Any) -> list[str]:
    """Run names of the rendered rows, top to bottom."""
    return page.eval_on_selector_all(
        ".vt-row:not([hidden])",
        """rows => rows
            .map(r => [+r.getAttribute('aria-rowindex'), r.querySelector('.name a').textContent])
            .sort((a, b) => a[0] - b[0]).map(x => x[1])""",
    )


def _column(page: Any, label: str) -> list[str]:
    """Texts of one column in the rendered rows, top to bottom."""
    index = page.eval_on_selector_all(
        ".vt-head [role=columnheader]",
        f"hs => hs.findIndex(h => h.textContent.trim().startsWith({label!r}))",
    )
    return page.eval_on_selector_all(
        ".vt-row:not([hidden])",
        f"""rows => rows
            .map(r => [Number(r.getAttribute('aria-rowindex')), r.children[{index}].textContent])
            .sort((a, b) => a[0] - b[0]).map(x => x[1])""",
    )


def test_every_page_loads_with_real_data(page: Any, ui: UiServer) -> None:
    ids = ui.ids
    checks = [
        ("experiments", "/ui/experiments", "table a:text('churn')"),
        ("runs-table", f"/ui/experiments/{ids['experiment_id']}", ".vt[data-loaded='all'] .vt-row"),
        (
            "run",
            f"/ui/runs/{ids['long_run']}",
            ".charts[data-ready='1'] figure.chart[data-ready='1']",
        ),
        (
            "compare",
            f"/ui/compare?runs={ids['runs'][0]},{ids['runs'][1]},{ids['runs'][2]}",
            ".charts[data-ready='1']",
        ),
        ("models", "/ui/models", "table a:text('churn-model')"),
        ("model", f"/ui/models/{ids['model']}", "table.grid code:text('int64')"),
        ("datasets", "/ui/datasets", "table a:text('churn-train')"),
        ("dataset", f"/ui/datasets/{ids['dataset']}", ".col-card[data-column='spend'] canvas.hist"),
        ("pipeline", f"/ui/pipelines/{ids['pipeline_run']}", "svg.dag a.dag-node"),
        ("monitoring", f"/ui/monitoring/{ids['model']}", "text=mloop loop run loop.yaml"),
    ]
    for name, url, ready in checks:
        page.goto(url)
        page.wait_for_selector(ready)
        assert page.title().endswith("mloop")
        shot(page, name)
    # what the pages show comes from the data the client wrote
    page.goto(f"/ui/models/{ids['model']}")
    page.wait_for_selector(".stages")
    # the version's lineage is filled in after its own requests: wait for it, not for the page
    page.wait_for_selector(".version-detail .columns")
    assert page.locator(".stage-done strong:text('champion')").count() == 1
    assert page.locator(f"a[href='/ui/runs/{ids['model_run']}']").count() >= 1
    assert page.locator("a:text('datasets:/churn-train/1')").count() == 1
    page.goto(f"/ui/pipelines/{ids['pipeline_run']}")
    page.wait_for_selector("svg.dag")
    assert sorted(page.eval_on_selector_all("a.dag-node", "ns => ns.map(n => n.dataset.step)")) == [
        "features",
        "labels",
        "load",
        "train",
    ]
    assert page.locator("path.dag-edge").count() == 4


def test_unknown_pages_and_runs_say_so(page: Any, ui: UiServer, recorder: Recorder) -> None:
    recorder.expected_failures.append("/api/v1/runs/" + "0" * 32)
    # opened by its URL, a run page asks for its charts' series beside the run itself
    recorder.expected_failures.append("/api/v1/metrics/histories")
    page.goto("/ui/nowhere")
    page.wait_for_selector("h1:text('Not found')")
    page.goto("/ui/runs/" + "0" * 32)
    page.wait_for_selector(".error:text('RUN_NOT_FOUND')")


def test_filter_and_its_error_at_the_position(page: Any, ui: UiServer, recorder: Recorder) -> None:
    recorder.expected_failures.append("/api/v1/runs/table")  # the 422 of the bad filter
    _experiment(page, ui)
    box = page.locator("[data-filter]")
    box.fill("metrics.auc > 0.85 and params.model = 'lgbm'")
    box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.count').textContent.startsWith('2 runs')"
    )
    # auc = 0.70 + 0.02 i, and odd i are lgbm: runs 9 and 11
    assert sorted(_row_names(page)) == ["lgbm-09", "lgbm-11"]
    assert "filter=metrics.auc" in page.url

    box.fill("metrics.auc >> 1")
    box.press("Enter")
    error = page.locator(".filter-error")
    error.wait_for()
    assert "position 13" in error.inner_text()
    caret = page.locator(".filter-error pre.caret").inner_text().split("\n")
    assert caret[0] == "metrics.auc >> 1"
    assert caret[1].index("^") == 13
    assert box.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.querySelector('[data-filter]').selectionStart") == 13
    shot(page, "filter-error")


def test_sorting_by_a_metric_column(page: Any, ui: UiServer) -> None:
    _experiment(page, ui)
    page.click(".vt-head button:text-is('auc')")
    page.wait_for_selector(".vt-head [aria-sort='descending']")
    values = [float(v) for v in _column(page, "auc") if v]
    assert values == sorted(values, reverse=True)
    assert values[0] == pytest.approx(0.92)
    page.click(".vt-head button:has-text('auc')")
    page.wait_for_selector(".vt-head [aria-sort='ascending']")
    values = [float(v) for v in _column(page, "auc") if v]
    assert values == sorted(values)
    assert "order=metrics.auc" in page.url


def test_nested_runs_fold_under_their_parent(page: Any, ui: UiServer) -> None:
    _experiment(page, ui)
    names = _row_names(page)
    assert "tuning" in names and "trial-0" not in names
    page.click(".vt-row:has(a:text-is('tuning')) button.fold")
    page.wait_for_selector(".vt-row a:text-is('trial-0')")
    names = _row_names(page)
    at = names.index("tuning")
    assert sorted(names[at + 1 : at + 5]) == ["trial-0", "trial-1", "trial-2", "trial-3"]


def test_select_runs_by_keyboard_and_compare(page: Any, ui: UiServer) -> None:
    _experiment(page, ui)
    page.locator(".vt").focus()
    first, second = _row_names(page)[:2]
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.locator(".vt-row.selected").count() == 2
    page.keyboard.press("c")
    page.wait_for_url("**/ui/compare?runs=*")
    page.wait_for_selector(".legend")
    assert page.locator(f".legend a:text-is('{first}')").count() == 1
    assert page.locator(f".legend a:text-is('{second}')").count() == 1
    page.wait_for_selector("canvas.parallel[data-lines='2']")
    shot(page, "compare-selected")


def test_compare_marks_differences(page: Any, ui: UiServer) -> None:
    runs = ui.ids["runs"]
    page.goto(f"/ui/compare?runs={runs[0]},{runs[1]}")
    page.wait_for_selector(".charts[data-ready='1']")
    diff = page.eval_on_selector_all(
        "table.compare tr.diff th", "ths => ths.map(t => t.firstChild.textContent)"
    )
    assert set(diff) == {"depth", "lr", "model"}
    loss = page.locator("figure.chart[data-chart='loss']")
    assert loss.get_attribute("data-stored") == "120"  # 60 points of each of the 2 runs


def test_chart_zoom_fetches_the_range_at_full_detail(page: Any, ui: UiServer) -> None:
    page.goto(f"/ui/runs/{ui.ids['long_run']}")
    chart = page.locator("figure.chart[data-chart='train_loss']")
    page.wait_for_selector("figure.chart[data-chart='train_loss'][data-ready='1']")
    drawn, stored = int(chart.get_attribute("data-points")), int(chart.get_attribute("data-stored"))
    assert stored == 5000 and drawn < stored  # thinned for the chart's width
    over = chart.locator(".u-over")
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("figure.chart[data-chart='train_loss'][data-zoomed]")
    lo, hi = (int(v) for v in chart.get_attribute("data-zoomed").split(":"))
    assert 1500 < lo < hi < 2500
    # every point of the range is drawn: the zoom is exact, not a stretched thumbnail
    assert int(chart.get_attribute("data-points")) == int(chart.get_attribute("data-stored"))
    assert int(chart.get_attribute("data-stored")) == hi - lo + 1
    shot(page, "chart-zoomed")
    over.dblclick()
    page.wait_for_selector("figure.chart[data-chart='train_loss']:not([data-zoomed])")
    assert int(chart.get_attribute("data-stored")) == 5000


def test_run_page_controls_and_artifact_previews(page: Any, ui: UiServer) -> None:
    page.goto(f"/ui/runs/{ui.ids['long_run']}")
    page.wait_for_selector(".charts[data-ready='1']")
    page.check("input[aria-label='log scale']")
    page.fill("input[aria-label='smoothing']", "0.9")
    page.select_option("select[aria-label='x axis']", "time")
    page.wait_for_selector("figure.chart[data-chart='train_loss'][data-ready='1']")
    assert "x=time" in page.url

    preview = page.locator(".preview")
    page.click("button.tree-file[data-path='notes.txt']")
    preview.locator("pre:text('trained on 400 rows')").wait_for()
    page.click("button.tree-file[data-path='metrics.json']")
    preview.locator("pre:has-text('\"auc\": 0.91')").wait_for()
    page.click("button.tree-file[data-path='config.yaml']")
    preview.locator("pre:has-text('layers: [64, 32]')").wait_for()
    page.click("button.tree-file[data-path='plot.png']")
    img = preview.locator("img.preview-img")
    img.wait_for()
    page.wait_for_function("() => document.querySelector('img.preview-img').naturalWidth === 8")
    page.click("button.tree-file[data-path='sample.parquet']")
    preview.locator("text=30 rows").wait_for()
    assert preview.locator("table.grid tbody tr").count() == 30
    page.click("button.tree-dir:has-text('reports/')")
    page.click("button.tree-file[data-path='reports/drift.html']")
    frame_el = preview.locator("iframe.report")
    frame_el.wait_for()
    assert frame_el.get_attribute("sandbox") == ""
    frame = frame_el.content_frame
    frame.locator("h1:text('Drift report')").wait_for()
    # the report's own script did not run: the frame has no scripts and no origin
    assert frame.locator("body").get_attribute("data-script-ran") is None
    shot(page, "run-report")


def test_running_runs_update_live(page: Any, ui: UiServer) -> None:
    _experiment(page, ui)
    row = page.locator(".vt-row:has(a:text-is('still-running'))")
    row.locator(".badge:text('RUNNING')").wait_for()
    with ui.api() as api:
        r = api.patch(f"/runs/{ui.ids['running']}", json={"status": "FINISHED"})
        assert r.status_code == 200
    # the page polls every 5 s; the wait only bounds a hang
    row.locator(".badge:text('FINISHED')").wait_for(timeout=30_000)


def test_keyboard_and_themes(page: Any, ui: UiServer) -> None:
    page.goto("/ui/experiments")
    page.wait_for_selector("table a:text('churn')")
    theme = page.evaluate("document.documentElement.dataset.theme")
    page.keyboard.press("t")
    assert page.evaluate("document.documentElement.dataset.theme") != theme
    page.keyboard.press("g")
    page.keyboard.press("m")
    page.wait_for_url("**/ui/models")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    _experiment(page, ui)
    page.locator(".vt").focus()
    page.keyboard.press("j")
    name = page.locator(".vt-row.active .name a").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"h1:has-text('{name}')")
    assert "/ui/runs/" in page.url
    shot(page, "run-dark" if theme == "light" else "run-light")
    page.go_back()
    page.wait_for_selector(".vt .vt-row")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.hasAttribute('data-filter')")


def test_dataset_page_shows_stored_check_results(page: Any, ui: UiServer) -> None:
    """``mloop.data.check`` on a registered version stores its result; the page lists each
    result of the version and the failing checks with their example rows."""
    page.goto(f"/ui/datasets/{ui.ids['dataset']}?version=1")
    page.wait_for_selector("table[data-checks] tr[data-check]")
    rows = page.locator("table[data-checks] tbody tr")
    assert rows.count() == 2
    newest, oldest = rows.nth(0), rows.nth(1)
    assert newest.locator("[data-verdict]").inner_text() == "FAILED"
    assert "1 passed, 1 failed" in newest.inner_text()
    assert newest.locator(f"a[href='/ui/runs/{ui.ids['check_run']}']").count() == 1
    assert oldest.locator("[data-verdict]").inner_text() == "PASSED"
    assert "1 passed, 0 failed" in oldest.inner_text()
    failure = page.locator("table[data-failures] tr[data-failure='age:max']")
    assert "<= 60" in failure.inner_text()
    assert "row " in failure.locator("td").nth(4).inner_text()  # example rows
    latest = page.locator("td[data-latest-check='1']")
    assert latest.locator("[data-verdict]").inner_text() == "FAILED"
    shot(page, "dataset-checks")


def test_the_policy_refuses_inline_script_and_says_so(
    page: Any, ui: UiServer, recorder: Recorder
) -> None:
    """Every page test ends asserting that nothing was refused by the Content-Security-Policy;
    here an injected inline script is refused, not run, and the refusal is seen."""
    page.goto("/ui/experiments")
    page.wait_for_selector("table a:text('churn')")
    page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__ran = true'; document.body.append(s); }"""
    )
    page.wait_for_function("() => true")  # let the report arrive
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__ran === undefined")
    assert any("script-src" in v for v in recorder.csp_violations), recorder.csp_violations
    recorder.csp_violations.clear()
    recorder.console_errors.clear()  # Chromium logs the refusal too
