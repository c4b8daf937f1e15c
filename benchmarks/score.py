"""Batch scoring: ``mloop score`` on the local engine and on Ray (2 workers), against a plain
pandas loop, over one Parquet file of N rows x 30 float columns and a scikit-learn model.

Figures per way of scoring: wall seconds (process start to exit, model load included), rows/s,
and peak memory: the largest sum of the resident memory of the process and every process it
started (Ray's workers and object store too), sampled every 100 ms.

The pandas loop is what one writes without a tool: ``pd.read_parquet`` the whole file,
``model.predict`` in 100,000-row slices, ``to_parquet``. Every way writes every row's
prediction; the outputs are checked equal.

Usage::

    .venv/bin/python benchmarks/score.py [--rows N] [--quick] [--json PATH]

The default is 10 million rows (2.3 GB of Parquet in, as much out per engine, and about
25 GB of scratch in all under benchmarks/.work/, removed at the end). ``--quick``: 1 million.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "score"
COLUMNS = 30
ROW_GROUP = 500_000
PY = sys.executable
MLOOP = str(Path(PY).parent / "mloop")

PANDAS_LOOP = textwrap.dedent(
    """
    import sys, pandas as pd, mloop.models
    model = mloop.models.load(sys.argv[1]).unwrap()
    df = pd.read_parquet(sys.argv[2])
    preds = []
    for start in range(0, len(df), 100_000):
        preds.append(model.predict(df.iloc[start:start + 100_000]))
    import numpy as np
    df["prediction"] = np.concatenate(preds)
    df.to_parquet(sys.argv[3])
    """
)


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            p = int(stat.parent.name)
            children.setdefault(int(fields[1]), []).append(p)
            rss[p] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds, peak tree RSS in bytes, stdout) of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - t0
    # Ray leaves its daemons to the session: end them with the group.
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{err[-3000:]}")
    return wall, peak, out


def make_data(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(COLUMNS)]
    with pq.ParquetWriter(path, pa.schema([(n, pa.float64()) for n in names])) as writer:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            block = rng.normal(size=(n, COLUMNS))
            writer.write_table(pa.table({name: block[:, i] for i, name in enumerate(names)}))


def make_model(home: Path) -> str:
    code = textwrap.dedent(
        f"""
        import numpy as np, pandas as pd, mloop
        from sklearn.linear_model import LogisticRegression
        rng = np.random.default_rng(1)
        names = [f"f{{i}}" for i in range({COLUMNS})]
        x = pd.DataFrame(rng.normal(size=(5000, {COLUMNS})), columns=names)
        y = (x.f0 + x.f1 - x.f2 > 0).astype(int)
        with mloop.start_run():
            mloop.models.log_model(LogisticRegression().fit(x, y), input_example=x.head(3),
                                   registered_model_name="bench-scorer")
        """
    )
    subprocess.run([PY, "-c", code], env={**os.environ, "MLOOP_HOME": str(home)}, check=True)
    return "models:/bench-scorer/1"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--quick", action="store_true", help="1 million rows")
    p.add_argument("--chunk-rows", type=int, default=500_000)
    p.add_argument("--json", type=Path)
    p.add_argument("--skip-ray", action="store_true")
    a = p.parse_args()
    rows = 1_000_000 if a.quick else a.rows
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    home = WORK / "home"
    env = {**os.environ, "MLOOP_HOME": str(home), "RAY_DISABLE_USAGE_STATS": "1"}
    results: dict[str, dict[str, Any]] = {}
    try:
        data = WORK / "data.parquet"
        log(f"writing {rows:,} rows x {COLUMNS} columns")
        make_data(data, rows)
        uri = make_model(home)
        size = data.stat().st_size
        cases = {
            "mloop score (local)": [
                MLOOP,
                "score",
                uri,
                "--data",
                str(data),
                "--out",
                str(WORK / "local.parquet"),
                "--chunk-rows",
                str(a.chunk_rows),
                "--json",
            ],
            "mloop score (ray, 2 workers)": [
                MLOOP,
                "score",
                uri,
                "--data",
                str(data),
                "--out",
                str(WORK / "ray.parquet"),
                "--engine",
                "ray",
                "--workers",
                "2",
                "--chunk-rows",
                str(a.chunk_rows),
                "--json",
            ],
            "pandas loop": [PY, "-c", PANDAS_LOOP, uri, str(data), str(WORK / "pandas.parquet")],
        }
        if a.skip_ray:
            del cases["mloop score (ray, 2 workers)"]
        for name, cmd in cases.items():
            log(f"{name} ...")
            wall, peak, _ = run_measured(cmd, env)
            results[name] = {
                "wall_s": round(wall, 2),
                "rows_per_s": round(rows / wall),
                "peak_rss_mb": round(peak / 2**20),
            }
            log(f"{name}: {results[name]}")
        import pyarrow.parquet as pq

        reference = pq.read_table(WORK / "pandas.parquet", columns=["prediction"]).column(0)
        for out in ("local.parquet", "ray.parquet"):
            if (WORK / out).exists():
                got = pq.read_table(WORK / out, columns=["prediction"]).column(0)
                assert got.equals(reference), f"{out} differs from the pandas loop's predictions"
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    load = os.getloadavg()[0]
    print(
        f"\nscoring {rows:,} rows x {COLUMNS} float64 columns ({size / 2**30:.2f} GiB of "
        f"Parquet) with a scikit-learn LogisticRegression; {os.cpu_count()} CPUs, load {load:.1f}"
    )
    print(f"{'way':<30} {'wall s':>8} {'rows/s':>12} {'peak RSS MiB':>13}")
    for name, r in results.items():
        print(f"{name:<30} {r['wall_s']:>8.1f} {r['rows_per_s']:>12,} {r['peak_rss_mb']:>13,}")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
