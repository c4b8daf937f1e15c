"""Prediction log benchmark: what ``PredictionLog.record`` costs the request path, and how fast
its writer turns records into Parquet segments, beside a plain ``pyarrow.parquet`` write of the
same rows (the limit to approach: no queue, no sampling, no segments, no atomic rename).

The test suite checks what the log does (every row written, a full queue never blocks); the
times are measured here. Figures, 10 float inputs and one output per record, one row each:

1. ``record()`` per call, on the request thread (writer not running, queue large enough):
   median of ``rounds`` batches of ``n`` calls, in microseconds. Target: <= 20 us.
2. The writer: rows per second from ``flush()`` of ``n`` queued records to their segment on a
   local artifact store. Target: >= 20,000 rows/s.
3. Plain pyarrow: the same rows as one Arrow table built from Python lists and written with
   ``pyarrow.parquet.write_table``, rows per second.

Usage::

    .venv/bin/python benchmarks/predlog.py [--quick] [--json PATH]

Exit status: 0 when every figure was measured (targets met or not: the table says), 1 when a
measurement failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _report import (
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
    run_logged,
    table_row,
    write_json,
)

TARGET_RECORD_US = 20.0
TARGET_ROWS_S = 20_000.0
HEADER = ["figure", "mloop", "plain pyarrow", "ratio (mloop / pyarrow)", "target", "met?"]


@dataclass
class Sizes:
    n: int
    rounds: int


@dataclass
class Figures:
    record_us: float | None = None
    writer_rows_s: float | None = None
    pyarrow_rows_s: float | None = None


def _inputs(n: int) -> tuple[list[Any], list[str]]:
    from mloop.serve._payload import Inputs

    rows = [Inputs(1, {f"f{j}": [float(i + j)] for j in range(10)}) for i in range(n)]
    return rows, [uuid.uuid4().hex for _ in range(n)]


def measure_record(sizes: Sizes, root: Path) -> tuple[float, float]:
    """(median us per record() call, writer rows/s)."""
    import numpy as np

    from mloop.serve import PredictionLog
    from mloop.store import open_artifact_store

    inputs, ids = _inputs(sizes.n)
    out = np.array([0.5])
    per_call: list[float] = []
    rates: list[float] = []
    for r in range(sizes.rounds):
        log_ = PredictionLog(open_artifact_store(root / f"r{r}"), max_queue=sizes.n)
        record = log_.record
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            for i in range(sizes.n):
                record(ids[i], 1.9e9, "m", "1", inputs[i], out, 0.001)
            per_call.append((time.perf_counter_ns() - t0) / sizes.n / 1000)
        finally:
            gc.enable()
        t0 = time.perf_counter_ns()
        if not log_.flush(300):
            raise RuntimeError("the writer did not finish within 300 s")
        rates.append(sizes.n / ((time.perf_counter_ns() - t0) / 1e9))
        assert log_.rows_written == sizes.n
    return statistics.median(per_call), statistics.median(rates)


def measure_pyarrow(sizes: Sizes, root: Path) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq

    inputs, ids = _inputs(sizes.n)
    rates = []
    for r in range(sizes.rounds):
        t0 = time.perf_counter_ns()
        columns: dict[str, list[Any]] = {"request_id": ids, "output": [0.5] * sizes.n}
        for j in range(10):
            columns[f"input.f{j}"] = [x.columns[f"f{j}"][0] for x in inputs]
        pq.write_table(pa.table(columns), root / f"plain-{r}.parquet")
        rates.append(sizes.n / ((time.perf_counter_ns() - t0) / 1e9))
    return statistics.median(rates)


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(parser("Prediction log: record() and the writer", peer="pyarrow"), argv)
    sizes = Sizes(n=20_000 if a.quick else 100_000, rounds=3 if a.quick else 7)
    figures = Figures()
    failures: list[tuple[str, str]] = []
    info = machine_info()

    def run() -> None:
        info["load_before"] = load_average()
        with tempfile.TemporaryDirectory(prefix="mloop-bench-predlog-") as tmp:
            root = Path(tmp)
            with recording("record", lambda e: failures.append(("mloop", e))):
                figures.record_us, figures.writer_rows_s = measure_record(sizes, root)
                log(f"record(): {figures.record_us:.2f} us a call")
                log(f"writer: {figures.writer_rows_s:,.0f} rows/s")
            if not a.skip_pyarrow:
                with recording("pyarrow", lambda e: failures.append(("pyarrow", e))):
                    figures.pyarrow_rows_s = measure_pyarrow(sizes, root)
        info["load_after"] = load_average()

    try:
        run_logged(info, run)
    except KeyboardInterrupt:
        return interrupted()

    f = figures
    ratio = f.writer_rows_s / f.pyarrow_rows_s if f.writer_rows_s and f.pyarrow_rows_s else None
    rows = [
        table_row(
            "`record()` per call (request thread)",
            "-" if f.record_us is None else f"{f.record_us:.2f} us",
            "-",
            "-",
            f"<= {TARGET_RECORD_US:.0f} us",
            None if f.record_us is None else f.record_us <= TARGET_RECORD_US,
        ),
        table_row(
            f"{sizes.n:,} rows to Parquet",
            "-" if f.writer_rows_s is None else f"{f.writer_rows_s:,.0f} rows/s",
            "-" if f.pyarrow_rows_s is None else f"{f.pyarrow_rows_s:,.0f} rows/s",
            fmt_ratio(ratio, ratio),
            f">= {TARGET_ROWS_S:,.0f} rows/s",
            None if f.writer_rows_s is None else f.writer_rows_s >= TARGET_ROWS_S,
        ),
    ]
    print_table(f"Prediction log (median of {sizes.rounds} rounds)", HEADER, rows)
    print_notes(
        [
            f"machine: {info['nproc']} CPUs ({info['cpu']}), load {info['load_before']} before "
            f"and {info['load_after']} after",
        ],
        failures,
    )
    if a.json:
        write_json(
            a.json,
            script=__file__,
            argv=argv,
            machine=info,
            sizes=sizes,
            figures={"predlog": figures},
            computed=[],
            details={},
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
