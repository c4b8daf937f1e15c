"""UI benchmark: mloop's web UI and MLflow's, on the same data, in the same headless Chromium.

The data: one experiment of 10,000 finished runs (20 params, 20 metrics each) and one run with
100,000 points in each of 5 metrics; both stores are filled with the same values (MLflow through
its own client, in its own virtual environment) and cached under ``benchmarks/.work/cache``.

Figures, each the median of fresh browser contexts (an empty cache: a first visit), timed in
the page from navigation start (``performance.now()``):

1. first rows: the experiment's runs table shows its first rows.
2. sort: from the click on a metric column (mloop) / the sort set in the URL (MLflow, whose
   table sorts on the server) until the top row is the run with the highest ``m00``, painted.
3. charts: the long run's page has drawn its 5 metric charts.

Targets (mloop): first rows < 1 s, sort < 200 ms, charts < 1 s. Each server runs as shipped,
on 127.0.0.1 (MLflow with ``--workers 1``, its fastest on a small machine).

Usage::

    .venv/bin/python benchmarks/ui.py [--quick] [--skip-mlflow] [--json PATH]

Exit status: 0 when every figure was measured (targets missed or not), 1 when a measurement
failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from _peers import ensure_peer, peer_version, run_peer
from _report import (
    BenchError,
    fmt_ratio,
    interrupted,
    load_average,
    log,
    machine_info,
    parse,
    parser,
    print_notes,
    print_table,
    recording,
    scratch,
    table_row,
)
from tracking import checkpoint, running_server

WORK = BENCH / ".work"
CACHE = WORK / "cache"
PEER_SCRIPT = BENCH / "peers" / "mlflow_ui.py"
DATASET_VERSION = "1"  # bump when the generated data set changes
START_MS = 1_700_000_000_000
CHROMIUM = os.environ.get("MLOOP_BENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1000}
WAIT_MS = 180_000  # bounds a hang; the figures are measured in the page
TARGETS_MS = {"first rows": 1000.0, "sort": 200.0, "charts": 1000.0}

os.environ.pop("MLOOP_TRACKING_URI", None)


# -- data --------------------------------------------------------------------------------------


def make_dataset(runs: int, points: int) -> dict[str, Any]:
    rng = random.Random(20241201)
    out = []
    for i in range(runs):
        params = {f"p{j:02d}": f"v{rng.randrange(1000)}" for j in range(20)}
        metrics = {f"m{j:02d}": rng.random() for j in range(20)}
        out.append({"name": f"run-{i:05d}", "params": params, "metrics": metrics})
    keys = [f"curve{k}" for k in range(5)]
    return {
        "start_ms": START_MS,
        "runs": out,
        "long": {"name": "long-history", "points": points, "keys": keys},
    }


def best_run(data: dict[str, Any]) -> str:
    """The run at the top when sorted by m00, highest first."""
    return str(max(data["runs"], key=lambda r: r["metrics"]["m00"])["name"])


def cached(key: str, populate: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """A populated store under ``.work/cache/<key>/``; ``meta.json`` marks it complete."""
    import shutil

    folder = CACHE / key
    meta_path = folder / "meta.json"
    if meta_path.exists():
        log(f"reusing {folder.relative_to(ROOT)}")
        return folder, dict(json.loads(meta_path.read_text()))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"populating {folder.relative_to(ROOT)} (once; reruns reuse it)")
    meta = populate(folder)
    meta_path.write_text(json.dumps(meta))
    return folder, meta


def populate_mloop(folder: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Through the Store interface: a run, then one batch of its params and metrics."""
    import time

    import numpy as np

    from mloop.store import SqlStore

    db = folder / "mloop.db"
    store = SqlStore(f"sqlite:///{db}", str(folder / "artifacts"))
    t0 = time.perf_counter()
    exp_id = store.create_experiment("ui").experiment_id
    start = data["start_ms"]
    for i, r in enumerate(data["runs"]):
        run_id = store.create_run(exp_id, run_name=r["name"], start_time=start + i).run_id
        store.log_batch(
            run_id,
            params=r["params"],
            metrics=[(k, v, 0, start + i) for k, v in r["metrics"].items()],
        )
        store.update_run(run_id, status="FINISHED", end_time=start + i + 1000)
        if i % 2000 == 1999:
            log(f"mloop populate: {i + 1} runs, {time.perf_counter() - t0:.0f} s")
    long = data["long"]
    run_id = store.create_run(exp_id, run_name=long["name"], start_time=start - 1).run_id
    steps = np.arange(long["points"])
    values = (1.0 / (1 + steps / 1000)).tolist()
    for key in long["keys"]:
        store.log_batch(
            run_id,
            metrics=[(key, v, s, start + s) for s, v in zip(steps.tolist(), values, strict=True)],
        )
    store.update_run(run_id, status="FINISHED")
    store.close()
    checkpoint(db)
    elapsed = time.perf_counter() - t0
    log(f"mloop populate: {len(data['runs'])} runs + the long run in {elapsed:.0f} s")
    return {"experiment_id": exp_id, "long_run_id": run_id, "elapsed_s": elapsed}


def populate_mlflow(folder: Path, dataset: Path, workdir: Path) -> dict[str, Any]:
    db = folder / "mlflow.db"
    args = ["populate", "--db", str(db), "--dataset", str(dataset), "--max-s", "5400"]
    r = run_peer("mlflow", PEER_SCRIPT, args, timeout_s=5700, cwd=workdir)
    checkpoint(db)
    return {k: r[k] for k in ("experiment_id", "long_run_id", "elapsed_s")}


# -- in the browser ----------------------------------------------------------------------------

# Each predicate returns performance.now() (ms since navigation start) once the page shows
# what it waits for, polled every animation frame.
MLOOP_ROWS = "() => document.querySelector('.vt-row:not([hidden]) .name a') && performance.now()"
MLFLOW_ROWS = """() => [...document.querySelectorAll('.ag-pinned-left-cols-container .ag-row')]
    .some(r => r.innerText.includes('run-')) && performance.now()"""
MLOOP_CHARTS = """() => document.querySelectorAll('figure.chart[data-ready="1"] canvas').length >= 5
    && performance.now()"""
MLFLOW_CHARTS = """() => [...document.querySelectorAll('.js-plotly-plot path.js-line')]
    .filter(p => (p.getAttribute('d') || '').length > 20).length >= 5 && performance.now()"""

# Top row of each table (the row shown first), and a sort that waits until it is `expected`
# and one more frame is painted.
MLOOP_SORT = """async (expected) => {
  const top = () => { const r = document.querySelector('.vt-row[aria-rowindex="2"]:not([hidden])');
                      return r && r.querySelector('.name a').textContent; };
  const button = [...document.querySelectorAll('.vt-head button.vt-sort')]
      .find(b => b.textContent.trim() === 'm00');
  const t0 = performance.now();
  button.click();
  await new Promise(done => { const check = () => top() === expected ? done()
                                                   : requestAnimationFrame(check); check(); });
  await new Promise(done => requestAnimationFrame(() => done()));
  return performance.now() - t0;
}"""
MLFLOW_SORT = """async ([expected, hash]) => {
  const top = () => { const r = document.querySelector(
      '.ag-pinned-left-cols-container .ag-row[row-index="0"]'); return r && r.innerText; };
  const t0 = performance.now();
  location.hash = hash;
  await new Promise(done => { const check = () => (top() || '').includes(expected) ? done()
                                                   : requestAnimationFrame(check); check(); });
  await new Promise(done => requestAnimationFrame(() => done()));
  return performance.now() - t0;
}"""


class Browser:
    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            raise BenchError(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        self.version = self.browser.version

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()

    def page(self) -> Any:
        """A page in a fresh context: nothing cached, nothing stored."""
        context = self.browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        return page

    def time_to(self, url: str, predicate: str) -> tuple[float, Any]:
        page = self.page()
        page.goto(url, wait_until="commit")
        ms = float(page.wait_for_function(predicate, polling="raf").json_value())
        return ms, page


def measure(
    browser: Browser, tool: str, base: str, meta: dict[str, Any], best: str, repeats: int
) -> dict[str, list[float]]:
    exp, long_run = meta["experiment_id"], meta["long_run_id"]
    if tool == "mloop":
        runs_url, charts_url = f"{base}/ui/experiments/{exp}", f"{base}/ui/runs/{long_run}"
        rows, charts = MLOOP_ROWS, MLOOP_CHARTS
    else:
        runs_url = f"{base}/#/experiments/{exp}/runs"
        charts_url = f"{base}/#/experiments/{exp}/runs/{long_run}/model-metrics"
        rows, charts = MLFLOW_ROWS, MLFLOW_CHARTS
    out: dict[str, list[float]] = {"first rows": [], "sort": [], "charts": []}
    for i in range(repeats):
        ms, page = browser.time_to(runs_url, rows)
        out["first rows"].append(ms)
        if tool == "mloop":
            # the sort happens in the browser once every run is loaded
            page.wait_for_selector(".vt[data-loaded='all']")
            out["sort"].append(float(page.evaluate(MLOOP_SORT, best)))
        else:
            hash_ = f"#/experiments/{exp}/runs?orderByKey=metrics.%60m00%60&orderByAsc=false"
            page.wait_for_timeout(500)  # let the first search settle
            out["sort"].append(float(page.evaluate(MLFLOW_SORT, [best, hash_])))
        page.context.close()
        ms, page = browser.time_to(charts_url, charts)
        out["charts"].append(ms)
        page.context.close()
        log(
            f"{tool} #{i + 1}: first rows {out['first rows'][-1]:.0f} ms, sort"
            f" {out['sort'][-1]:.0f} ms, charts {out['charts'][-1]:.0f} ms"
        )
    return out


# -- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(
        parser(
            "UI benchmark: mloop's web UI and MLflow's on 10,000 runs and 5 x 100,000 points.",
            peer="mlflow",
            quick_help="1,000 runs and 5 x 10,000 points, 1 repeat (a smoke run)",
        ),
        argv,
    )
    runs, points, repeats = (1_000, 10_000, 1) if a.quick else (10_000, 100_000, 3)
    data = make_dataset(runs, points)
    best = best_run(data)
    results: dict[str, dict[str, list[float]]] = {}
    failures: list[tuple[str, str]] = []
    info = machine_info()
    try:
        with scratch(WORK / "ui", keep=False) as work:
            dataset = work / "dataset.json"
            dataset.write_text(json.dumps(data))
            suffix = f"v{DATASET_VERSION}-runs{runs}-points{points}"
            import mloop

            mloop_dir, mloop_meta = cached(
                f"ui-mloop-{mloop.__version__}-{suffix}", lambda f: populate_mloop(f, data)
            )
            stores: dict[str, tuple[Path, dict[str, Any]]] = {"mloop": (mloop_dir, mloop_meta)}
            if not a.skip_mlflow:
                ensure_peer("mlflow")
                version = peer_version("mlflow", "mlflow")
                info["mlflow"] = version
                with recording("populating MLflow", lambda e: failures.append(("mlflow", e))):
                    stores["mlflow"] = cached(
                        f"ui-mlflow-{version}-{suffix}",
                        lambda f: populate_mlflow(f, dataset, work),
                    )
            browser = Browser()
            info["chromium"] = browser.version
            info["load_average_before"] = load_average()
            try:
                for tool, (folder, meta) in stores.items():
                    db = folder / f"{tool}.db"
                    extra = ["--workers", "1"] if tool == "mlflow" else []
                    with (
                        recording(f"measuring {tool}", lambda e, t=tool: failures.append((t, e))),
                        running_server(tool, db, work, extra) as server,
                    ):
                        results[tool] = measure(browser, tool, server.url, meta, best, repeats)
            finally:
                browser.close()
            info["load_average_after"] = load_average()
    except KeyboardInterrupt:
        return interrupted()

    rows = []
    for figure, target in TARGETS_MS.items():
        m = results.get("mloop", {}).get(figure)
        f = results.get("mlflow", {}).get(figure)
        m_ms = statistics.median(m) if m else None
        f_ms = statistics.median(f) if f else None
        ratio = m_ms / f_ms if m_ms and f_ms else None
        rows.append(
            table_row(
                figure,
                f"{m_ms:,.0f} ms" if m_ms is not None else "FAILED",
                f"{f_ms:,.0f} ms" if f_ms is not None else "-",
                fmt_ratio(ratio, 1 / ratio if ratio else None),
                f"< {target:,.0f} ms",
                None if m_ms is None else m_ms < target,
            )
        )
    print_table(
        f"mloop vs MLflow: the web UI on {runs:,} runs, 5 x {points:,} points (median of "
        f"{repeats}, ms from navigation start, headless Chromium)",
        ["figure", "mloop", "MLflow", "ratio mloop/MLflow", "target", "met?"],
        rows,
    )
    print_notes(
        [
            "mloop shows its first 100 rows, loads the other runs behind them and sorts in the"
            " browser; MLflow shows 100 runs a page and sorts on the server",
            f"machine: {info['nproc']} CPUs, load {info['load_average_before']:.2f} before and"
            f" {info['load_average_after']:.2f} after",
        ],
        failures,
    )
    if a.json:
        a.json.write_text(json.dumps({"machine": info, "results_ms": results}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
