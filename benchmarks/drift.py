"""Drift benchmark: mloop and Evidently 0.7 side by side, on the same machine, in one run.

Figures (mloop and Evidently's ``DataDriftPreset`` on the same Parquet files, same defaults):

1. 200,000 x 20 numeric columns (reference and current 200,000 rows each), 10 shifted.
2. 1,000,000 x 50 columns, 30 numeric and 20 categorical (reference and current 1,000,000 rows
   each), 12 shifted.
3. Both tools must flag the same columns: every disagreement is printed.
4. Merging 100 chunk profiles of a 50-column table (mloop only).
5. Profiling the 1,000,000 x 50 reference, and drift from that stored profile (mloop only).
6. Whole process, as a user runs it: ``mloop drift ref.parquet cur.parquet --json`` beside a
   Python process that reads the same files with pandas and runs Evidently's preset, on
   300,000 x 30 mixed columns (skewed, counts, nulls, categoricals); CPU seconds of each process,
   imports and reading included (``_process.py``); both must flag the same columns.
7. Streaming: peak RSS of ``mloop drift --chunk-rows 500000`` on two files of 30 columns, one
   5x the other's rows, beside reading the smaller one whole: flat memory means the two
   streamed figures match (``--big-rows``, default 10,000,000 rows a side, about 1.6 GB of
   Parquet; the 5 GB of the target scaled down to what this machine's disk and time allow).

Figures 1-5 time each tool around the drift call alone, on tables already in memory (Parquet read by
pandas in each tool's own environment; read times are reported apart): wall and CPU seconds
of the process. mloop's figure is the median of 3 runs after one warm-up; Evidently's is one
run (it takes minutes). Evidently runs in its own virtual environment
(``benchmarks/.venvs/evidently``, pandas < 3, built on first use). The data is generated once
from fixed seeds and kept under ``benchmarks/.work/drift/``.

Usage::

    .venv/bin/python benchmarks/drift.py [--quick] [--skip-evidently] [--json PATH]
        [--only numeric,mixed,merge,profile,process,stream] [--big-rows N]

Exit status: 0 when every figure was measured (targets met or not: the table says), 1 when a
measurement failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import _peers
from _peers import PeerError, ensure_peer, peer_version, run_peer, venv_python
from _process import loadavg, measure
from _process import run as run_process
from _report import (
    interrupted,
    load_average,
    log,
    machine_info,
    parse,
    parser,
    print_notes,
    print_table,
    run_logged,
    table_row,
    write_json,
)

WORK = BENCH / ".work" / "drift"
PEER_SCRIPT = BENCH / "peers" / "evidently_drift.py"
# Evidently 0.7 needs pandas < 3; pinned so that a rerun measures the same thing.
_peers.PEERS.setdefault("evidently", ["evidently==0.7.23", "pandas<3"])

TARGET_SPEEDUP = 30.0
TARGET_PROCESS_SPEEDUP = 40.0
PARTS = ("numeric", "mixed", "merge", "profile", "process", "stream")
MLOOP = Path(sys.executable).with_name("mloop")
TARGET_BIG_S = 5.0
TARGET_MERGE_S = 1.0
DATA_VERSION = 1  # bump when the generators change: the cached Parquet files are rebuilt


@dataclass(frozen=True)
class Sizes:
    numeric_rows: int = 200_000
    mixed_rows: int = 1_000_000
    repeats: int = 3
    chunks: int = 100
    chunk_rows: int = 10_000
    process_rows: int = 300_000
    big_rows: int = 10_000_000


FULL = Sizes()
QUICK = Sizes(
    numeric_rows=20_000,
    mixed_rows=50_000,
    repeats=1,
    chunks=100,
    chunk_rows=1_000,
    process_rows=30_000,
    big_rows=1_000_000,
)


# -- data ---------------------------------------------------------------------------------------

NUMERIC_SHIFTED = {f"x{i:02d}" for i in range(0, 20, 2)}
MIXED_SHIFTED_NUM = {0, 3, 10, 15, 20, 25, 28, 29}
MIXED_SHIFTED_CAT = {0, 5, 10, 19}
MIXED_SHIFTED = {f"n{i:02d}" for i in MIXED_SHIFTED_NUM} | {f"c{j:02d}" for j in MIXED_SHIFTED_CAT}


def numeric_table(n: int, seed: int, shifted: bool) -> Any:
    """20 normal columns; in current, the even ones move: mean shifts of 0.2 to 0.6 std, or a
    wider spread (std x 1.5)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols = {}
    for i in range(20):
        mu, sd = float(i), 1.0 + i / 10
        if shifted and f"x{i:02d}" in NUMERIC_SHIFTED:
            if i % 4 == 0:
                sd *= 1.5
            else:
                mu += sd * (0.2 + 0.1 * (i % 5))
        cols[f"x{i:02d}"] = rng.normal(mu, sd, n)
    return pd.DataFrame(cols)


def mixed_table(n: int, seed: int, shifted: bool) -> Any:
    """30 numeric columns (normal, log-normal, uniform, Poisson counts, floats with 5% nulls, an
    integer with 8 values, a float with 4 values) and 20 categorical ones (3 to 59 categories
    as strings, one boolean)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(30):
        s = shifted and i in MIXED_SHIFTED_NUM
        if i < 10:
            v = rng.normal(i + (0.4 * (1 + i % 3) if s else 0.0), 1 + i / 10, n)
        elif i < 15:
            v = rng.lognormal(1 + (0.3 if s else 0.0), 0.5, n)
        elif i < 20:
            v = rng.uniform(0, 10 * (1.3 if s else 1.0), n)
        elif i < 25:
            v = rng.poisson(30 * (1.2 if s else 1.0), n)
        elif i < 28:
            v = rng.normal(5 + (0.5 if s else 0.0), 2, n)
            v[rng.random(n) < 0.05] = np.nan
        elif i == 28:
            w = np.arange(8, 0, -1) if not s else np.arange(1, 9)
            v = rng.choice(8, n, p=w / w.sum())
        else:
            v = rng.choice(
                [0.5, 1.5, 2.5, 3.5], n, p=[0.4, 0.3, 0.2, 0.1] if s else [0.1, 0.2, 0.3, 0.4]
            )
        cols[f"n{i:02d}"] = v
    for j in range(20):
        s = shifted and j in MIXED_SHIFTED_CAT
        k = 3 + (j * 7) % 57
        probs_rng = np.random.default_rng(1000 + j)
        p = probs_rng.dirichlet(np.ones(k))
        if s:
            p = 0.4 * p + 0.6 * probs_rng.dirichlet(np.ones(k))
        if j == 19:
            cols[f"c{j:02d}"] = rng.random(n) < (0.5 if s else 0.3)
        else:
            cats = np.array([f"cat_{j}_{x}" for x in range(k)], dtype=object)
            cols[f"c{j:02d}"] = pd.array(cats[rng.choice(k, n, p=p)], dtype="str")
    return pd.DataFrame(cols)


# 30 of the mixed table's columns: normal, skewed (log-normal), counts (Poisson), floats with
# nulls, few-valued numbers and 10 categoricals.
PROCESS_COLUMNS = (
    [f"n{i:02d}" for i in (0, 1, 2, 3, 4, 10, 11, 12, 13, 14)]
    + [f"n{i:02d}" for i in (20, 21, 22, 23, 24, 25, 26, 27, 28, 29)]
    + [f"c{j:02d}" for j in range(10)]
)
PROCESS_SHIFTED = {c for c in MIXED_SHIFTED if c in PROCESS_COLUMNS}


def process_table(n: int, seed: int, shifted: bool) -> Any:
    return mixed_table(n, seed, shifted)[PROCESS_COLUMNS]


def big_dataset(rows: int, chunk: int = 1_000_000) -> tuple[Path, Path]:
    """Reference and current Parquet files of ``rows`` rows x 30 columns, written a row group
    at a time so that writing them needs little memory either."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = WORK / f"v{DATA_VERSION}"
    ref, cur = folder / f"big-{rows}-reference.parquet", folder / f"big-{rows}-current.parquet"
    if ref.exists() and cur.exists():
        return ref, cur
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for path, seed, shifted in ((ref, 1, False), (cur, 2, True)):
        tmp = path.with_suffix(".tmp")
        writer = None
        for i, start in enumerate(range(0, rows, chunk)):
            t = pa.Table.from_pandas(
                process_table(min(chunk, rows - start), seed * 1000 + i, shifted),
                preserve_index=False,
            )
            if writer is None:
                writer = pq.ParquetWriter(tmp, t.schema)
            writer.write_table(t)
        assert writer is not None
        writer.close()
        tmp.replace(path)
    log(f"wrote big data, {rows:,} rows a side, in {time.perf_counter() - t0:.1f} s")
    return ref, cur


def dataset(name: str, rows: int) -> tuple[Path, Path]:
    """The reference and current Parquet files of a data set, written once."""
    folder = WORK / f"v{DATA_VERSION}"
    ref, cur = (
        folder / f"{name}-{rows}-reference.parquet",
        folder / f"{name}-{rows}-current.parquet",
    )
    if ref.exists() and cur.exists():
        return ref, cur
    folder.mkdir(parents=True, exist_ok=True)
    make = {"numeric": numeric_table, "mixed": mixed_table, "process": process_table}[name]
    t0 = time.perf_counter()
    for path, seed, shifted in ((ref, 1, False), (cur, 2, True)):
        tmp = path.with_suffix(".tmp")
        make(rows, seed, shifted).to_parquet(tmp, index=False)
        tmp.replace(path)
    log(f"wrote {name} data, {rows:,} rows a side, in {time.perf_counter() - t0:.1f} s")
    return ref, cur


# -- measuring ----------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(median wall s, median CPU s, last result) of ``repeats`` calls after one warm-up."""
    out = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


@dataclass
class Figure:
    key: str
    label: str
    unit: str  # "s", "ms" or "" (a text figure)
    target: str = ""
    mloop: float | None = None
    evidently: float | None = None
    mloop_text: str = ""
    evidently_text: str = ""
    met: bool | None = None
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float | None:
        if self.mloop is None or self.evidently is None or self.mloop == 0:
            return None
        return self.evidently / self.mloop


def fmt(v: float | None, unit: str, text: str = "") -> str:
    if text:
        return text
    if v is None:
        return "-"
    if unit == "ms":
        return f"{v * 1000:,.0f} ms"
    return f"{v:,.2f} s" if v < 100 else f"{v:,.0f} s"


class Bench:
    def __init__(self, sizes: Sizes, with_evidently: bool, only: set[str] | None = None) -> None:
        self.sizes = sizes
        self.with_evidently = with_evidently
        self.only = only or set(PARTS)
        self.fig: dict[str, Figure] = {}
        self.details: dict[str, Any] = {}

    def add(self, fig: Figure) -> Figure:
        self.fig[fig.key] = fig
        return fig

    def compare(self, name: str, label: str, rows: int, expected: set[str]) -> None:
        import pandas as pd

        from mloop.data import drift

        wall = self.add(Figure(f"{name}_wall", f"{label}: wall", "s", f">= {TARGET_SPEEDUP:.0f}x"))
        cpu = self.add(Figure(f"{name}_cpu", f"{label}: CPU", "s", f">= {TARGET_SPEEDUP:.0f}x"))
        same = self.add(Figure(f"{name}_verdicts", f"{label}: columns flagged", "", "same"))
        if name == "mixed":
            wall.target += f", < {TARGET_BIG_S:.0f} s"
        ref_path, cur_path = dataset(name, rows)
        t0 = time.perf_counter()
        ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
        read_s = time.perf_counter() - t0
        log(f"{name}: read {len(ref):,} + {len(cur):,} rows x {ref.shape[1]} in {read_s:.1f} s")
        try:
            w, c, result = timed(lambda: drift(ref, cur), self.sizes.repeats)
        except Exception as exc:
            wall.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            return
        wall.mloop, cpu.mloop = w, c
        flagged = set(result.drifted_columns)
        log(f"{name}: mloop {w:.2f} s wall, {c:.2f} s CPU; flagged {len(flagged)}")
        same.mloop_text = f"{len(flagged)} of {len(result.columns)}"
        mloop_cols = {
            col.name: {"method": col.method, "statistic": col.statistic, "drifted": col.drifted}
            for col in result.columns
        }
        self.details[name] = {
            "rows_per_side": rows,
            "columns": ref.shape[1],
            "read_s_mloop": read_s,
            "expected_shifted": sorted(expected),
            "mloop": {"wall_s": w, "cpu_s": c, "drifted": sorted(flagged), "columns": mloop_cols},
        }
        if flagged != expected:
            wall.notes.append(
                f"{label}: mloop flagged {sorted(flagged ^ expected)} differently from the "
                "generator's shifted set"
            )
        if name == "mixed":
            wall.met = w < TARGET_BIG_S
        if not self.with_evidently:
            return
        try:
            ev = run_peer(
                "evidently",
                PEER_SCRIPT,
                ["run", "--reference", str(ref_path), "--current", str(cur_path)],
                timeout_s=3600,
            )
        except PeerError as exc:
            cpu.error = str(exc)
            return
        wall.evidently, cpu.evidently = ev["wall_s"], ev["cpu_s"]
        ev_flagged = set(ev["drifted"])
        same.evidently_text = f"{len(ev_flagged)} of {len(ev['columns'])}"
        disagree = sorted(flagged ^ ev_flagged)
        diffs = []
        for col, e in ev["columns"].items():
            m = mloop_cols.get(col)
            if m is None or m["statistic"] is None:
                continue
            rel = abs(e["value"] - m["statistic"]) / max(abs(e["value"]), 1e-12)
            diffs.append((rel, col))
        same.met = not disagree and result.dataset_drift == ev["dataset_drift"]
        if disagree:
            same.notes.append(f"{label}: the tools disagree on {', '.join(disagree)}")
            for col in disagree:
                same.notes.append(
                    f"  {col}: mloop {mloop_cols.get(col)}, Evidently {ev['columns'].get(col)}"
                )
        worst = max(diffs) if diffs else (0.0, "-")
        same.notes.append(
            f"{label}: same {len(ev_flagged & flagged)} columns flagged, dataset drift "
            f"{result.dataset_drift} for both; largest relative difference of a statistic "
            f"{worst[0]:.1e} ({worst[1]})"
        )
        sw, sc = wall.speedup, cpu.speedup
        if sw is not None:
            wall.met = (wall.met is not False) and sw >= TARGET_SPEEDUP
        if sc is not None:
            cpu.met = sc >= TARGET_SPEEDUP
        self.details[name]["evidently"] = ev
        log(f"{name}: Evidently {ev['wall_s']:.1f} s wall, {ev['cpu_s']:.1f} s CPU")

    def merge(self) -> None:
        import numpy as np
        import pandas as pd

        from mloop.data import merge_profiles, profile

        fig = self.add(
            Figure(
                "merge",
                f"merge {self.sizes.chunks} chunk profiles, 50 columns",
                "ms",
                f"< {TARGET_MERGE_S:.0f} s",
            )
        )
        ref_path, _ = dataset("mixed", self.sizes.mixed_rows)
        table = pd.read_parquet(ref_path)
        n = min(len(table), self.sizes.chunks * self.sizes.chunk_rows)
        bounds = np.linspace(0, n, self.sizes.chunks + 1).astype(int)
        t0 = time.perf_counter()
        chunks = [profile(table.iloc[a:b]) for a, b in itertools.pairwise(bounds)]
        build = time.perf_counter() - t0
        w, c, merged = timed(lambda: merge_profiles(*chunks), self.sizes.repeats)
        fig.mloop = w
        fig.met = w < TARGET_MERGE_S
        whole = profile(table.iloc[:n])
        same_hist = all(
            merged[col].histogram is None
            or np.array_equal(merged[col].histogram.counts, whole[col].histogram.counts)
            for col in whole
        )
        fig.notes.append(
            f"merge: {self.sizes.chunks} chunks of {n // self.sizes.chunks:,} rows profiled in "
            f"{build:.1f} s; merged counts, means and histograms equal the whole table's: "
            f"{same_hist and all(merged[c].n == whole[c].n for c in whole)}"
        )
        self.details["merge"] = {"wall_s": w, "cpu_s": c, "build_s": build, "rows": n}

    def from_profile(self) -> None:
        import pandas as pd

        from mloop.data import Profile, drift, profile

        prof_fig = self.add(Figure("profile", "profile the 1,000,000 x 50 reference", "s"))
        fig = self.add(Figure("from_profile", "drift from that stored profile", "s"))
        ref_path, cur_path = dataset("mixed", self.sizes.mixed_rows)
        ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
        prof_fig.label = f"profile the {len(ref):,} x {ref.shape[1]} reference"
        w, _, prof = timed(lambda: profile(ref), 1)
        prof_fig.mloop = w
        blob = prof.to_bytes()
        stored = Profile.from_bytes(blob)
        w2, c2, result = timed(lambda: drift(stored, cur), self.sizes.repeats)
        fig.mloop = w2
        table_flags = set(self.details.get("mixed", {}).get("mloop", {}).get("drifted", []))
        flags = set(result.drifted_columns)
        fig.notes.append(
            f"from a profile ({len(blob):,} bytes on disk): flagged {len(flags)} columns, "
            + (
                "the same as from the table"
                if flags == table_flags
                else f"differs on {sorted(flags ^ table_flags)}"
            )
        )
        self.details["profile"] = {
            "profile_s": w,
            "profile_bytes": len(blob),
            "drift_wall_s": w2,
            "drift_cpu_s": c2,
            "drifted": sorted(flags),
        }

    def process(self) -> None:
        """Figure 6: whole processes, CPU seconds, imports and reading included."""
        import json
        import tempfile

        rows = self.sizes.process_rows
        label = f"`mloop drift` process, {rows:,} x 30 mixed"
        cpu = self.add(
            Figure("process_cpu", f"{label}: CPU", "s", f">= {TARGET_PROCESS_SPEEDUP:.0f}x")
        )
        wall = self.add(Figure("process_wall", f"{label}: wall", "s"))
        rss = self.add(Figure("process_rss", f"{label}: peak RSS", ""))
        same = self.add(Figure("process_verdicts", f"{label}: columns flagged", "", "same"))
        ref_path, cur_path = dataset("process", rows)
        argv = [MLOOP, "drift", ref_path, cur_path, "--json"]
        load = loadavg()
        m = measure(argv, repeats=self.sizes.repeats, ok=(0, 1))
        out = json.loads(m.last.stdout)
        flagged = {c["name"] for c in out["columns"] if c.get("drifted")}
        cpu.mloop, wall.mloop = m.cpu_s, m.wall_s
        rss.mloop_text = f"{m.max_rss_mb:,.0f} MB"
        same.mloop_text = f"{len(flagged)} of {len(out['columns'])}"
        log(f"process: mloop {m.cpu_s:.2f} CPU-s, {m.wall_s:.2f} s wall (load {load})")
        self.details["process"] = {
            "command": " ".join(map(str, argv)),
            "loadavg_before": load,
            "mloop": {
                "cpu_s": m.cpu_s,
                "wall_s": m.wall_s,
                "max_rss_mb": m.max_rss_mb,
                "samples_cpu_s": [x.cpu_s for x in m.samples],
                "drifted": sorted(flagged),
            },
        }
        if flagged != PROCESS_SHIFTED:
            same.notes.append(
                f"process: mloop flagged {sorted(flagged ^ PROCESS_SHIFTED)} differently from "
                "the generator's shifted set"
            )
        if not self.with_evidently:
            return
        with tempfile.TemporaryDirectory(prefix="drift-ev-") as tmp:
            result = Path(tmp) / "result.json"
            ev_argv = [
                venv_python("evidently"),
                PEER_SCRIPT,
                "run",
                "--reference",
                ref_path,
                "--current",
                cur_path,
                "--result",
                result,
            ]
            load_ev = loadavg()
            s = run_process(ev_argv, timeout_s=3600)
            ev = json.loads(result.read_text())
        ev_flagged = set(ev["drifted"])
        cpu.evidently, wall.evidently = s.cpu_s, s.wall_s
        rss.evidently_text = f"{s.max_rss_mb:,.0f} MB"
        same.evidently_text = f"{len(ev_flagged)} of {len(ev['columns'])}"
        same.met = flagged == ev_flagged and out["dataset_drift"] == ev["dataset_drift"]
        if flagged != ev_flagged:
            same.notes.append(f"process: the tools disagree on {sorted(flagged ^ ev_flagged)}")
        sc = cpu.speedup
        cpu.met = sc is not None and sc >= TARGET_PROCESS_SPEEDUP
        cpu.notes.append(
            f"process: load average {load} before mloop, {load_ev} before Evidently; "
            f"Evidently's preset alone {ev['cpu_s']:.1f} CPU-s of its {s.cpu_s:.1f}"
        )
        self.details["process"]["evidently"] = {
            "cpu_s": s.cpu_s,
            "wall_s": s.wall_s,
            "max_rss_mb": s.max_rss_mb,
            "loadavg_before": load_ev,
            "drifted": sorted(ev_flagged),
            "preset_cpu_s": ev["cpu_s"],
        }
        log(f"process: Evidently {s.cpu_s:.1f} CPU-s, {s.wall_s:.1f} s wall (load {load_ev})")

    def stream(self) -> None:
        """Figure 7: peak RSS of streamed drift at two file sizes, and of a whole read."""
        import json

        big = self.sizes.big_rows
        small = big // 5
        chunk = "500000"
        fig_small = self.add(Figure("stream_small", "", ""))
        fig_big = self.add(Figure("stream_big", "", "", "flat (same as above)"))
        fig_whole = self.add(Figure("stream_whole", "", ""))
        paths = {}
        for rows in (small, big):
            paths[rows] = big_dataset(rows)
        out = {}
        for rows, fig, extra in (
            (small, fig_small, ["--chunk-rows", chunk]),
            (big, fig_big, ["--chunk-rows", chunk]),
            (small, fig_whole, []),
        ):
            ref, cur = paths[rows]
            size_mb = (ref.stat().st_size + cur.stat().st_size) / 1e6
            how = f"chunks of {int(chunk):,}" if extra else "whole files in memory"
            fig.label = f"drift {rows:,} rows a side ({size_mb:,.0f} MB Parquet), {how}: peak RSS"
            load = loadavg()
            s = run_process([MLOOP, "drift", ref, cur, "--json", *extra], ok=(0, 1), timeout_s=3600)
            try:  # exit status 1 is drift, and also a crash: the output tells them apart
                json.loads(s.stdout)
            except ValueError:
                raise RuntimeError(f"mloop drift crashed: {s.stderr[-800:]}") from None
            fig.mloop_text = f"{s.max_rss_mb:,.0f} MB ({s.wall_s:,.0f} s)"
            out[fig.key] = {
                "rows": rows,
                "bytes": size_mb * 1e6,
                "max_rss_mb": s.max_rss_mb,
                "wall_s": s.wall_s,
                "cpu_s": s.cpu_s,
                "loadavg_before": load,
            }
            log(f"stream: {fig.label}: {s.max_rss_mb:,.0f} MB, {s.wall_s:.0f} s (load {load})")
        a, b = out["stream_small"]["max_rss_mb"], out["stream_big"]["max_rss_mb"]
        fig_big.met = b <= a * 1.25
        self.details["stream"] = out

    def run(self) -> None:
        s = self.sizes
        parts = [
            (
                "numeric",
                lambda: self.compare(
                    "numeric", f"{s.numeric_rows:,} x 20 numeric", s.numeric_rows, NUMERIC_SHIFTED
                ),
            ),
            (
                "mixed",
                lambda: self.compare(
                    "mixed", f"{s.mixed_rows:,} x 50 mixed", s.mixed_rows, MIXED_SHIFTED
                ),
            ),
            ("merge", self.merge),
            ("profile", self.from_profile),
            ("process", self.process),
            ("stream", self.stream),
        ]
        for name, fn in parts:
            if name not in self.only:
                continue
            try:
                fn()
            except Exception as exc:  # reported in the table, the next part still runs
                traceback.print_exc()
                self.add(Figure(f"{name}_failed", name, "", error=f"{type(exc).__name__}: {exc}"))


# -- output -------------------------------------------------------------------------------------

HEADER = ["figure", "mloop", "Evidently", "ratio", "target", "met?"]


def rows(bench: Bench) -> list[list[str]]:
    out = []
    for f in bench.fig.values():
        sp = f.speedup
        ratio = f"{sp:,.0f}x faster" if sp is not None else "-"
        mloop = "FAILED" if f.error and f.mloop is None else fmt(f.mloop, f.unit, f.mloop_text)
        evidently = fmt(f.evidently, f.unit, f.evidently_text)
        out.append(table_row(f.label, mloop, evidently, ratio, f.target, f.met))
    return out


def print_results(bench: Bench, title: str) -> None:
    print_table(title, HEADER, rows(bench), width=130)
    for f in bench.fig.values():
        print_notes(f.notes, [(f.label, f.error)] if f.error else [])


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(
        "Drift benchmark: mloop vs Evidently side by side (see benchmarks/README.md).",
        peer="evidently",
        parts=PARTS,
    )
    p.add_argument(
        "--big-rows", type=int, metavar="N", help="rows a side of figure 7's larger file"
    )
    a = parse(p, argv)
    sizes = QUICK if a.quick else FULL
    if a.big_rows:
        sizes = dataclasses.replace(sizes, big_rows=a.big_rows)
    bench = Bench(sizes, not a.skip_evidently, a.only)
    try:
        import numpy
        import pandas

        info = machine_info(numpy=numpy.__version__, pandas=pandas.__version__)
        info["loadavg_1m"] = load_average()
        info["loadavg"] = loadavg()
        if bench.with_evidently:
            ensure_peer("evidently")
            info["evidently"] = peer_version("evidently", "evidently")
        run_logged(info, bench.run)
    except KeyboardInterrupt:
        return interrupted()
    print()
    title = (
        f"mloop {info['mloop']} vs Evidently {info.get('evidently', '(skipped)')}: drift, "
        f"{info['nproc']} CPUs, Python {info['python']}" + (" [--quick sizes]" if a.quick else "")
    )
    print_results(bench, title)
    print(
        f"  note: load average (1, 5, 15 min): {info['loadavg']} at the start, "
        + f"{loadavg()} at the end"
    )
    if a.json:
        write_json(
            a.json,
            script=__file__,
            argv=argv,
            machine=info,
            sizes=sizes,
            figures=bench.fig,
            computed=("speedup",),
            details=bench.details,
        )
    failed = any(f.error for f in bench.fig.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
