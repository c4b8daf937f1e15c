"""The HTML drift report: self-contained, drifted columns first, every column shown."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mloop.data import drift, profile


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
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    ref, cur = tables()
    page = tmp_path / "report.html"
    drift(ref, cur, multivariate=True).to_html(page)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a rendered page, not a blank one
