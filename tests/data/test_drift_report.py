"""The HTML drift report: self-contained, drifted columns first, every column shown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from mloop.data import drift, profile

if TYPE_CHECKING:
    from conftest import BrowserPage


def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 3000
    ref = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(["Paris", "Lyon", "Nice"], n),
            "<b>&\"odd'": rng.normal(size=n),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
            "empty": np.full(n, np.nan),
        }
    )
    cur = ref.copy()
    cur["age"] = rng.normal(48, 10, n)
    cur["city"] = rng.choice(["Paris", "Lyon", "Nice", "Brest"], n, p=[0.1, 0.1, 0.4, 0.4])
    cur["when"] = pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.integers(0, 90, n), "D")
    return ref, cur


def test_report_is_self_contained_and_ordered(tmp_path: Path) -> None:
    ref, cur = tables()
    result = drift(ref, cur, multivariate=True)
    path = tmp_path / "report.html"
    html = result.to_html(path, title="Churn model: drift")
    assert path.read_text(encoding="utf-8") == html
    assert html.startswith("<!doctype html>")
    assert "<script" not in html
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)  # nothing fetched
    assert "Churn model: drift" in html
    assert "Drift detected" in html
    # The columns table lists drifted columns first, in the result's order.
    table = html[html.index("<h2>Columns</h2>") : html.index("<h2>Multivariate drift</h2>")]
    order = [m.group(1) for m in re.finditer(r'<tr class="[^"]*"><td>(?:<a [^>]*>)?([^<]+)', table)]
    assert order[:3] == ["age", "city", "when"]
    assert order[-1] == "empty"
    # One card with an inline SVG per tested column; the skipped one listed with its reason.
    assert html.count("<svg") == len(result.tested)
    assert "no values in reference (all 3,000 null)" in html
    # Names are escaped, never injected.
    assert "&lt;b&gt;&amp;&quot;odd&#x27;" in html
    assert '<b>&"odd' not in html
    # Dates on the time axis, not nanoseconds.
    assert "2024-0" in html
    assert "PCA on" in html


def test_report_from_a_profile_reference() -> None:
    ref, cur = tables()
    html = drift(profile(ref), cur).to_html()
    assert "reference (profile)" in html
    assert "from a profile" in html


@pytest.mark.slow
def test_report_renders_in_chromium(tmp_path: Path, browser_page: BrowserPage) -> None:
    ref, cur = tables()
    result = drift(ref, cur, multivariate=True)
    path = tmp_path / "report.html"
    result.to_html(path, title="Churn model: drift")
    page = browser_page.open(path)

    assert page.title() == "Churn model: drift"
    assert page.locator("h1").inner_text() == "Churn model: drift"
    # The verdict cards, as a reader sees them.
    dataset = page.locator(".card", has_text="dataset").first
    assert dataset.locator(".v").inner_text() == "Drift detected"
    assert "bad" in (dataset.get_attribute("class") or "")
    drifted = page.locator(".card", has_text="drifted columns").locator(".v").inner_text()
    assert drifted == f"{result.n_drifted} of {len(result.tested)}"
    mv = result.multivariate
    assert mv is not None and mv.status == "tested"
    shown = page.locator(".card", has_text="multivariate (PCA)").locator(".v").inner_text()
    assert shown == ("drift" if mv.drifted else "no drift")
    # The columns table: drifted first, the skipped column last, the odd name shown as text.
    names = page.locator("table").first.locator("tr td:first-child").all_inner_texts()
    assert names[:3] == ["age", "city", "when"]
    assert names[-1] == "empty"
    assert "<b>&\"odd'" in names
    assert page.locator("main b", has_text="odd").count() == 0  # escaped, not markup
    # One card per tested column, each with a plot the browser laid out with a real size.
    cards = page.locator("section.col")
    assert cards.count() == len(result.tested)
    sizes = page.locator("section.col svg").evaluate_all(
        "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])"
    )
    assert len(sizes) == len(result.tested)
    assert all(w > 100 and h > 50 for w, h in sizes), sizes
    # A column's link jumps to its card.
    page.locator("table").first.get_by_role("link", name="age", exact=True).click()
    assert page.evaluate("location.hash") == "#col-age"
    assert page.locator("#col-age .name").inner_text() == "age"
    # Self-contained: the page asked for nothing but itself, and nothing went wrong.
    assert browser_page.requests == [path.resolve().as_uri()]
    assert browser_page.console == []
