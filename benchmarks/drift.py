"""Drift benchmark: mloop and Evidently 0.7 side by side, on the same machine, in one run.

Figures (mloop and Evidently's ``DataDriftPreset`` on the same Parquet files, same defaults):

1. 200,000 x 20 numeric columns (reference and current 200,000 rows each), 10 shifted.
2. 1,000,000 x 50 columns, 30 numeric and 20 categorical (reference and current 1,000,000 rows
   each), 12 shifted.
3. Both tools must flag the same columns: every disagreement is printed.
4. Merging 100 chunk profiles of a 50-column table (mloop only).
5. Profiling the 1,000,000 x 50 reference, and drift from that stored profile (mloop only).

Each tool is timed around the drift call alone, on tables already in memory (Parquet read by
pandas in each tool's own environment; read times are reported apart): wall and CPU seconds
of the process. mloop's figure is the median of 3 runs after one warm-up; Evidently's is one
run (it takes minutes). Evidently runs in its own virtual environment
(``benchmarks/.venvs/evidently``, pandas < 3, built on first use). The data is generated once
from fixed seeds and kept under ``benchmarks/.work/drift/``.

Usage::

    .venv/bin/python benchmarks/drift.py [--quick] [--skip-evidently] [--json PATH]

Exit status: 0 when every figure was measured (targets met or not: the table says), 1 when a
measurement failed, 130 on Ctrl-C.
"""

from __future__ import annotations

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
from _peers import PeerError, ensure_peer, peer_version, run_peer
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


FULL = Sizes()
QUICK = Sizes(numeric_rows=20_000, mixed_rows=50_000, repeats=1, chunks=100, chunk_rows=1_000)


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
    make = numeric_table if name == "numeric" else mixed_table
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
    def __init__(self, sizes: Sizes, with_evidently: bool) -> None:
        self.sizes = sizes
        self.with_evidently = with_evidently
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

    def run(self) -> None:
        s = self.sizes
        self.compare("numeric", f"{s.numeric_rows:,} x 20 numeric", s.numeric_rows, NUMERIC_SHIFTED)
        self.compare("mixed", f"{s.mixed_rows:,} x 50 mixed", s.mixed_rows, MIXED_SHIFTED)
        self.merge()
        self.from_profile()


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
    )
    a = parse(p, argv)
    sizes = QUICK if a.quick else FULL
    bench = Bench(sizes, not a.skip_evidently)
    try:
        import numpy
        import pandas

        info = machine_info(numpy=numpy.__version__, pandas=pandas.__version__)
        info["loadavg_1m"] = load_average()
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
