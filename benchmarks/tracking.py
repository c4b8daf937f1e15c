"""Tracking benchmark: mloop and MLflow side by side, on the same machine, in one run.

Figures (each for mloop and MLflow, with the ratio mloop/MLflow and mloop's target):

1. Logging 100,000 metric points with one ``log_metric`` call each, until durable, on a local
   SQLite store and through each tool's server; MLflow's ``log_batch`` of the same points; and
   the raw ``sqlite3`` insert rate of the same rows, the physical limit to approach.
2. Searching 10,000 runs (10 params, 10 metrics each) with a filter and an order, first page.
3. Reading a metric history of 100,000 points.
4. Server cold start to a healthy health check.

MLflow runs in its own virtual environment (``benchmarks/.venvs/mlflow``, built on first use);
the search data sets are built once per tool version and cached under ``benchmarks/.work/``.
Every child process is stopped at exit, also on Ctrl-C; all traffic stays on 127.0.0.1.

Usage::

    .venv/bin/python benchmarks/tracking.py [--quick] [--skip-mlflow] [--json PATH]

Exit status: 0 when every figure was measured (targets missed or not), 1 when a measurement
failed (the table says which), 130 on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from _peers import ensure_peer, peer_version, run_peer, spawn, stop, venv_bin
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
    run_logged,
    scratch,
    table_row,
    write_json,
)

WORK = BENCH / ".work"
CACHE = WORK / "cache"
PEER_SCRIPT = BENCH / "peers" / "mlflow_tracking.py"

# Only the stores named here are measured: a developer's own tracking URI must not redirect the
# fluent API (MLOOP_HOME is set to this run's scratch folder in main()).
os.environ.pop("MLOOP_TRACKING_URI", None)

SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
SEARCH_ORDER = "metrics.m0 DESC"
SEARCH_PAGE = 100
DATASET_VERSION = "1"  # bump when the generated search data set changes
FLUSH_TIMEOUT_S = 600.0
SERVER_START_TIMEOUT_S = 120.0
HEALTH_POLL_S = 0.02

# MLflow's server is measured as it ships (4 workers) and with one worker, which answers much
# faster on a small machine; its figure is the faster of the two, so mloop gets no easy win.
MLFLOW_SERVER_CONFIGS: dict[str, list[str]] = {
    "default (4 workers)": [],
    "--workers 1": ["--workers", "1"],
}

TARGET_LOG_RATE = 200_000
TARGET_VS_BATCH = 10.0
TARGET_SEARCH_MS = 50.0
TARGET_SEARCH_SPEEDUP = 20.0
TARGET_HISTORY_MS = 100.0
TARGET_START_S = 2.0


@dataclass(frozen=True)
class Sizes:
    points: int = 100_000  # metric points logged per run (figure 1)
    mlflow_calls: int = 2_000  # MLflow's synchronous log_metric: sample at most this many...
    mlflow_call_s: float = 20.0  # ...or this many seconds, and extrapolate the rate
    batch_max_s: float = 300.0  # MLflow log_batch: stop (and extrapolate) after this long
    runs: int = 10_000  # runs in the search data set (figure 2)
    history: int = 100_000  # points in the history read (figure 3)
    repeats: int = 5  # timed repetitions of a read, after one warm-up
    starts: int = 3  # timed server cold starts, after one untimed start


FULL = Sizes()
QUICK = Sizes(
    points=10_000,
    mlflow_calls=200,
    mlflow_call_s=5.0,
    batch_max_s=60.0,
    runs=500,
    history=10_000,
    repeats=3,
    starts=1,
)


@dataclass
class Figure:
    """One row of the table. ``higher`` says whether a larger value is better (rates)."""

    key: str
    label: str
    unit: str
    higher: bool
    target: str = ""
    mloop: float | None = None
    mlflow: float | None = None
    met: bool | None = None
    mloop_error: str = ""
    mlflow_error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.mloop is None or self.mlflow is None or self.mlflow == 0:
            return None
        return self.mloop / self.mlflow

    @property
    def speedup(self) -> float | None:
        """How many times faster mloop is (above 1) or slower (below 1)."""
        r = self.ratio
        if r is None or r == 0:
            return None
        return r if self.higher else 1 / r


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[list[float], Any]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


# -- versions -------------------------------------------------------------------------------------


def mloop_schema_fingerprint() -> str:
    """Changes whenever mloop's schema or migrations do, so a stale cache is never reused."""
    import mloop.store

    store_dir = Path(mloop.store.__file__).parent
    h = hashlib.sha256()
    for p in [store_dir / "_schema.py", *sorted((store_dir / "migrations").rglob("*.py"))]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


# -- processes and servers ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def tail(path: Path, n: int = 2000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-n:]
    return ""


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[Any]
    port: int
    health: str
    log_path: Path
    started: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout_s: float = SERVER_START_TIMEOUT_S) -> float:
        """Poll the health path every 20 ms; return seconds from spawn to the first 200."""
        deadline = self.started + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} server exited with status {self.proc.returncode} before it "
                    f"was healthy; its log ends:\n{tail(self.log_path)}"
                )
            if http_status(self.port, self.health, timeout=1.0) == 200:
                return time.perf_counter() - self.started
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"{self.name} server not healthy at {self.url}{self.health} after "
                    f"{timeout_s:.0f} s; its log ends:\n{tail(self.log_path)}"
                )
            time.sleep(HEALTH_POLL_S)

    def cpu_s(self) -> float:
        """CPU seconds used so far by every process of the server's group (workers too)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.proc.pid:  # the process group id
                    total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / tick

    def wait_settled(self, timeout_s: float = 60.0, window_s: float = 0.5) -> float:
        """Wait until the server is idle (its workers may still be starting after the first
        health answer), so that a measurement does not share the CPUs with its start-up."""
        t0 = time.perf_counter()
        before = self.cpu_s()
        while time.perf_counter() - t0 < timeout_s:
            time.sleep(window_s)
            now = self.cpu_s()
            if now - before < 0.1 * window_s:
                break
            before = now
        return time.perf_counter() - t0

    def stop(self) -> None:
        stop(self.proc)


def mloop_exe() -> Path:
    return Path(sys.executable).parent / "mloop"


def mloop_server_available() -> str:
    """'' when ``mloop server`` works here, else why not."""
    exe = mloop_exe()
    if not exe.exists():
        return f"{exe} does not exist"
    try:
        out = subprocess.run(
            [str(exe), "server", "--help"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "`mloop server --help` did not answer within 60 s"
    if out.returncode != 0:
        last = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`mloop server --help` failed (exit {out.returncode}): {last[0]}"
    return ""


def start_server(tool: str, db: Path, workdir: Path, extra: Sequence[str] = ()) -> Server:
    """Spawn ``tool``'s server on a free 127.0.0.1 port over the SQLite file ``db``."""
    port = free_port()
    artifacts = workdir / f"{tool}-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    if tool == "mloop":
        cmd: list[str | Path] = [
            mloop_exe(),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--artifacts-uri",
            str(artifacts),
        ]
        health = "/healthz"
    else:
        cmd = [
            venv_bin("mlflow", "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--artifacts-destination",
            str(artifacts),
        ]
        health = "/health"
    cmd += extra
    log_path = workdir / f"{tool}-server-{port}.log"
    fh = log_path.open("wb")
    try:
        started = time.perf_counter()
        proc = spawn(
            cmd,
            cwd=workdir,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={"MLOOP_HOME": str(workdir / "server-home")},
        )
    finally:
        fh.close()
    return Server(tool, proc, port, health, log_path, started)


@contextlib.contextmanager
def running_server(
    tool: str, db: Path, workdir: Path, extra: Sequence[str] = ()
) -> Iterator[Server]:
    server = start_server(tool, db, workdir, extra)
    try:
        took = server.wait_healthy()
        settled = server.wait_settled()
        log(f"{tool} server healthy at {server.url} after {took:.2f} s, idle {settled:.1f} s later")
        yield server
    finally:
        server.stop()


# -- MLflow peer -------------------------------------------------------------------------------


def mlflow_peer(
    command: str, workdir: Path, *, timeout_s: float = 900.0, **options: Any
) -> dict[str, Any]:
    """Run one command of the MLflow peer script: ``mlflow_peer("log", w, max_s=20)`` runs
    ``mlflow_tracking.py log --max-s 20`` in MLflow's environment, from ``workdir``."""
    args = [command]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return run_peer("mlflow", PEER_SCRIPT, args, timeout_s=timeout_s, cwd=workdir)


# -- figure 1: logging -------------------------------------------------------------------------


def raw_sqlite_rate(db: Path, n: int) -> float:
    """Plain sqlite3: n rows into a table indexed like mloop's ``metrics``, WAL, one
    transaction, synchronous=FULL: the physical limit of a durable insert here."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_pk INTEGER NOT NULL, "
            "key VARCHAR(250) NOT NULL, step BIGINT NOT NULL, timestamp BIGINT NOT NULL, "
            "value FLOAT)"
        )
        conn.execute(
            "CREATE INDEX ix_metrics_run_key_step ON metrics (run_pk, key, step, timestamp, value)"
        )
        ts = time.time_ns() // 1_000_000
        rows = [(1, "loss", i, ts, i * 0.001) for i in range(n)]
        gc.collect()
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO metrics (run_pk, key, step, timestamp, value) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        (count,) = conn.execute("SELECT count(*) FROM metrics").fetchone()
    finally:
        conn.close()
    if count != n:
        raise BenchError(f"raw sqlite3 stored {count} rows, expected {n}")
    return n / elapsed


def mloop_log(uri: str, n: int, experiment: str) -> dict[str, Any]:
    """n calls of ``mloop.log_metric`` in one run, then ``mloop.flush()``: points/s until
    durable. Checks afterwards that all n points are stored."""
    import mloop

    mloop.set_tracking_uri(uri)
    mloop.set_experiment(experiment)
    with mloop.start_run() as run:
        log_metric = mloop.log_metric
        # Warm-up, as on the MLflow side: the writer thread and the connection are up.
        log_metric("warmup", 0.0)
        mloop.flush(timeout=FLUSH_TIMEOUT_S)
        gc.collect()
        t0 = time.perf_counter()
        for i in range(n):
            log_metric("loss", i * 0.001)
        t_calls = time.perf_counter()
        status = mloop.flush(timeout=FLUSH_TIMEOUT_S)
        t1 = time.perf_counter()
    if not status.complete:
        raise BenchError(f"mloop.flush() returned with {status.pending} points not stored")
    stored = len(mloop.Client(uri).get_metric_history(run.run_id, "loss"))
    mloop.set_tracking_uri(None)
    if stored != n:
        raise BenchError(f"mloop stored {stored} of {n} points")
    return {
        "points": n,
        "calls_s": t_calls - t0,
        "flush_s": t1 - t_calls,
        "elapsed_s": t1 - t0,
        "rate": n / (t1 - t0),
        "run_id": run.run_id,
    }


def mlflow_log(uri: str, sizes: Sizes, workdir: Path, experiment: str) -> dict[str, Any]:
    return mlflow_peer(
        "log",
        workdir,
        uri=uri,
        experiment=experiment,
        points=sizes.points,
        max_calls=sizes.mlflow_calls,
        max_s=sizes.mlflow_call_s,
    )


def sample_note(r: dict[str, Any], where: str) -> str:
    if not r.get("extrapolated"):
        return ""
    return (
        f"MLflow log_metric {where}: {r['calls']:,} synchronous calls timed "
        f"({r['elapsed_s']:.1f} s), rate extrapolated to {r['points']:,} points "
        f"(~{r['points'] / r['rate'] / 60:.1f} min)"
    )


# -- figures 2 and 3: search and history -------------------------------------------------------


def make_dataset(runs: int, history: int) -> dict[str, Any]:
    """The same runs for both tools: p0 in a..e (so p0 = 'a' picks ~20%), m0..m9 uniform."""
    rng = random.Random(20240601)
    out = []
    for i in range(runs):
        params = {"p0": rng.choice("abcde")}
        params.update({f"p{j}": f"v{rng.randrange(1000)}" for j in range(1, 10)})
        metrics = {f"m{j}": rng.random() for j in range(10)}
        out.append({"name": f"run-{i:05d}", "params": params, "metrics": metrics})
    return {"runs": out, "history_points": history}


def expected_names(data: dict[str, Any]) -> list[str]:
    hits = [r for r in data["runs"] if r["metrics"]["m0"] > 0.5 and r["params"]["p0"] == "a"]
    hits.sort(key=lambda r: r["metrics"]["m0"], reverse=True)
    return [r["name"] for r in hits[:SEARCH_PAGE]]


def cached(key: str, populate: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """A populated store under ``.work/cache/<key>/``; ``meta.json`` marks it complete."""
    folder = CACHE / key
    meta_path = folder / "meta.json"
    if meta_path.exists():
        log(f"reusing {folder.relative_to(ROOT)}")
        return folder, dict(json.loads(meta_path.read_text()))
    shutil.rmtree(folder, ignore_errors=True)
    # Caches of the same sizes for other versions of the tool are stale: drop them.
    tool, sized = key.split("-", 1)[0], key.rsplit("-runs", 1)[-1]
    for old in CACHE.glob(f"{tool}-*-runs{sized}"):
        if old != folder:
            log(f"removing the stale cache {old.relative_to(ROOT)}")
            shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"populating {folder.relative_to(ROOT)} (once; reruns reuse it)")
    meta = populate(folder)
    meta_path.write_text(json.dumps(meta))
    return folder, meta


def checkpoint(db: Path) -> None:
    """Fold the WAL into the database file so the cached file stands alone."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def populate_mloop(folder: Path, data: dict[str, Any]) -> dict[str, Any]:
    """mloop's fastest public bulk path: create_run, then log_params and log_metrics (queued
    and written in batches by the background writer); the history as one numpy array."""
    import numpy as np

    import mloop

    db = folder / "mloop.db"
    client = mloop.Client(f"sqlite:///{db}", artifacts=str(folder / "artifacts"))
    t0 = time.perf_counter()
    deadline = t0 + 3600
    exp_id = client.create_experiment("search").experiment_id
    for i, r in enumerate(data["runs"]):
        run_id = client.create_run(exp_id, run_name=r["name"], capture_context=False).run_id
        client.log_params(run_id, r["params"])
        client.log_metrics(run_id, r["metrics"], step=0)
        if i % 1000 == 999:
            log(f"mloop populate: {i + 1} runs, {time.perf_counter() - t0:.0f} s")
        if time.perf_counter() > deadline:
            raise BenchError(f"mloop populate ran past an hour after {i + 1} runs")
    hist_exp = client.create_experiment("history").experiment_id
    hist_run = client.create_run(hist_exp, run_name="history", capture_context=False).run_id
    n = data["history_points"]
    client.log_metrics(hist_run, {"loss": np.arange(n, dtype=np.float64) * 0.001})
    client.set_terminated(hist_run)  # waits until everything above is durable
    elapsed = time.perf_counter() - t0
    client.store.close()
    checkpoint(db)
    log(f"mloop populate: {len(data['runs'])} runs + {n} history points in {elapsed:.0f} s")
    return {"experiment_id": exp_id, "history_run_id": hist_run, "elapsed_s": elapsed}


def populate_mlflow(folder: Path, dataset: Path, workdir: Path) -> dict[str, Any]:
    db = folder / "mlflow.db"
    r = mlflow_peer("populate", workdir, timeout_s=3900, db=db, dataset=dataset, max_s=3600)
    checkpoint(db)
    return {k: r[k] for k in ("experiment_id", "history_run_id", "elapsed_s")}


def mloop_search(db: Path, exp_id: str, repeats: int) -> dict[str, Any]:
    import mloop

    client = mloop.Client(f"sqlite:///{db}")
    times, page = timed(
        lambda: client.search_runs([exp_id], SEARCH_FILTER, [SEARCH_ORDER], SEARCH_PAGE),
        repeats,
    )
    return {
        "times_s": times,
        "median_s": statistics.median(times),
        "names": [r.info.run_name for r in page.runs],
    }


def mloop_history(db: Path, run_id: str, repeats: int) -> dict[str, Any]:
    import mloop

    client = mloop.Client(f"sqlite:///{db}")
    times, hist = timed(lambda: client.get_metric_history(run_id, "loss"), repeats)
    return {"times_s": times, "median_s": statistics.median(times), "points": len(hist)}


# -- figure 4: cold start ----------------------------------------------------------------------


def cold_starts(tool: str, workdir: Path, starts: int, extra: Sequence[str] = ()) -> dict[str, Any]:
    """One untimed start creates the database (schema, migrations), so that the timed starts
    measure starting a server over an existing store; then ``starts`` timed starts."""
    db = workdir / f"{tool}-start.db"
    times = []
    for i in range(starts + 1):
        server = start_server(tool, db, workdir, extra)
        try:
            took = server.wait_healthy()
        finally:
            server.stop()
        config = " ".join([tool, "server", *extra])
        log(f"{config} {'warm-up' if i == 0 else 'cold'} start: {took:.2f} s")
        if i:
            times.append(took)
    return {"times_s": times, "median_s": statistics.median(times)}


# -- the run -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, sizes: Sizes, with_mlflow: bool, only: set[str], workdir: Path) -> None:
        self.sizes = sizes
        self.with_mlflow = with_mlflow
        self.only = only
        self.workdir = workdir
        self.details: dict[str, Any] = {}
        self.failed = False
        n = sizes.points
        self.fig = {
            "log_local": Figure(
                "log_local",
                f"log_metric x {n:,}, local SQLite, until durable",
                "points/s",
                True,
                f">= {TARGET_LOG_RATE:,}/s",
            ),
            "log_vs_batch": Figure(
                "log_vs_batch",
                "mloop log_metric vs MLflow log_batch, local",
                "points/s",
                True,
                f">= {TARGET_VS_BATCH:g}x MLflow",
            ),
            "raw_sqlite": Figure(
                "raw_sqlite", "raw sqlite3 executemany, same rows (the limit)", "rows/s", True
            ),
            "log_server": Figure(
                "log_server", f"log_metric x {n:,} through the server", "points/s", True
            ),
            "search": Figure(
                "search",
                f"search {sizes.runs:,} runs, first page of {SEARCH_PAGE}",
                "ms",
                False,
                f"< {TARGET_SEARCH_MS:g} ms, >= {TARGET_SEARCH_SPEEDUP:g}x faster",
            ),
            "history": Figure(
                "history",
                f"metric history, {sizes.history:,} points",
                "ms",
                False,
                f"< {TARGET_HISTORY_MS:g} ms",
            ),
            "cold_start": Figure(
                "cold_start", "server cold start to healthy", "s", False, f"< {TARGET_START_S:g} s"
            ),
        }

    def wants(self, part: str) -> bool:
        return not self.only or part in self.only

    def measuring(self, fig: Figure, tool: str) -> contextlib.AbstractContextManager[None]:
        """Record a failed measurement in the figure and go on with the next one."""

        def record(msg: str) -> None:
            self.failed = True
            setattr(fig, f"{tool}_error", msg)

        return recording(f"{tool} {fig.key}", record)

    def run(self) -> None:
        if self.wants("log"):
            self.logging_local()
        if self.wants("server"):
            self.logging_server()
        if self.wants("search") or self.wants("history"):
            self.reads()
        if self.wants("start"):
            self.starts()
        self.judge()

    # figure 1 ---------------------------------------------------------------------------------

    def logging_local(self) -> None:
        s, w = self.sizes, self.workdir
        raw = self.fig["raw_sqlite"]
        with self.measuring(raw, "mloop"):
            raw.mloop = raw_sqlite_rate(w / "raw.db", s.points)
            log(f"raw sqlite3: {raw.mloop:,.0f} rows/s")
        local, vs = self.fig["log_local"], self.fig["log_vs_batch"]
        with self.measuring(local, "mloop"):
            r = mloop_log(f"sqlite:///{w / 'mloop-log.db'}", s.points, "log")
            self.details["mloop_log_local"] = r
            local.mloop = vs.mloop = r["rate"]
            log(
                f"mloop local: {r['rate']:,.0f} points/s (calls {r['calls_s']:.3f} s, "
                f"flush {r['flush_s']:.3f} s)"
            )
        if not self.with_mlflow:
            return
        with self.measuring(local, "mlflow"):
            r = mlflow_log(f"sqlite:///{w / 'mlflow-log.db'}", s, w, "log")
            self.details["mlflow_log_local"] = r
            local.mlflow = r["rate"]
            if note := sample_note(r, "local"):
                local.notes.append(note)
        with self.measuring(vs, "mlflow"):
            uri = f"sqlite:///{w / 'mlflow-log.db'}"
            r = mlflow_peer("log-batch", w, uri=uri, points=s.points, max_s=s.batch_max_s)
            self.details["mlflow_log_batch"] = r
            vs.mlflow = r["rate"]
            if r["extrapolated"]:
                vs.notes.append(
                    f"MLflow log_batch: {r['points_logged']:,} points timed, "
                    f"rate extrapolated to {s.points:,}"
                )

    def logging_server(self) -> None:
        s, w = self.sizes, self.workdir
        fig = self.fig["log_server"]
        with self.measuring(fig, "mloop"):
            why = mloop_server_available()
            if why:
                raise BenchError(f"mloop server is not available: {why}")
            with running_server("mloop", w / "mloop-server.db", w) as server:
                r = mloop_log(server.url, s.points, "log-server")
            self.details["mloop_log_server"] = r
            fig.mloop = r["rate"]
            log(
                f"mloop via server: {r['rate']:,.0f} points/s (calls {r['calls_s']:.3f} s, "
                f"flush {r['flush_s']:.3f} s)"
            )
        if not self.with_mlflow:
            return
        best: dict[str, Any] | None = None
        for config, extra in MLFLOW_SERVER_CONFIGS.items():
            with self.measuring(fig, "mlflow"):
                ensure_peer("mlflow")
                db = w / f"mlflow-server-{len(extra)}.db"
                with running_server("mlflow", db, w, extra) as server:
                    r = mlflow_log(server.url, s, w, "log-server")
                r["config"] = config
                self.details.setdefault("mlflow_log_server", []).append(r)
                fig.notes.append(f"MLflow server, {config}: {r['rate']:,.0f} points/s")
                if best is None or r["rate"] > best["rate"]:
                    best = r
        if best is not None:
            fig.mlflow = best["rate"]
            fig.mlflow_error = ""  # one configuration sufficed
            if note := sample_note(best, f"through its server ({best['config']})"):
                fig.notes.append(note)
            fig.notes.append(
                "the MLflow figure is its faster server configuration; the mloop "
                "server runs with its defaults (1 worker)"
            )

    # figures 2 and 3 --------------------------------------------------------------------------

    def reads(self) -> None:
        s, w = self.sizes, self.workdir
        search, history = self.fig["search"], self.fig["history"]
        data = make_dataset(s.runs, s.history)
        expected = expected_names(data)
        sized = f"runs{s.runs}-hist{s.history}-data{DATASET_VERSION}"
        import mloop

        key = f"mloop-{mloop.__version__}-schema{mloop_schema_fingerprint()}-{sized}"
        meta: dict[str, Any] | None = None
        with self.measuring(search, "mloop"):
            folder, meta = cached(key, lambda f: populate_mloop(f, data))
            self.details["mloop_populate"] = meta
        if meta is not None:
            db = folder / "mloop.db"
            if self.wants("search"):
                with self.measuring(search, "mloop"):
                    r = mloop_search(db, meta["experiment_id"], s.repeats)
                    self.details["mloop_search"] = r
                    search.mloop = r["median_s"] * 1000
                    log(f"mloop search: {search.mloop:.1f} ms")
                    if r["names"] != expected:
                        raise BenchError("mloop's search returned other runs than expected")
            if self.wants("history"):
                with self.measuring(history, "mloop"):
                    r = mloop_history(db, meta["history_run_id"], s.repeats)
                    self.details["mloop_history"] = r
                    history.mloop = r["median_s"] * 1000
                    log(f"mloop history: {history.mloop:.1f} ms")
                    if r["points"] != s.history:
                        raise BenchError(f"mloop's history has {r['points']} points")
        if not self.with_mlflow:
            return
        meta = None
        with self.measuring(search, "mlflow"):
            ensure_peer("mlflow")
            version = peer_version("mlflow", "mlflow")
            dataset = CACHE / f"dataset-{sized}.json"
            if not dataset.exists():
                CACHE.mkdir(parents=True, exist_ok=True)
                dataset.write_text(json.dumps(data))
            folder, meta = cached(
                f"mlflow-{version}-{sized}", lambda f: populate_mlflow(f, dataset, w)
            )
            self.details["mlflow_populate"] = meta
        if meta is None:
            return
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        if self.wants("search"):
            with self.measuring(search, "mlflow"):
                r = mlflow_peer(
                    "search",
                    w,
                    uri=uri,
                    experiment_id=meta["experiment_id"],
                    filter=SEARCH_FILTER,
                    order_by=SEARCH_ORDER,
                    max_results=SEARCH_PAGE,
                    repeats=s.repeats,
                )
                self.details["mlflow_search"] = r
                search.mlflow = r["median_s"] * 1000
                if r["names"] != expected:
                    raise BenchError("MLflow's search returned other runs than expected")
                if search.mloop is not None and not search.mloop_error:
                    search.notes.append(
                        f"search: both tools returned the same {len(expected)} runs in the "
                        "same order (checked against the data set)"
                    )
        if self.wants("history"):
            with self.measuring(history, "mlflow"):
                r = mlflow_peer(
                    "history",
                    w,
                    uri=uri,
                    run_id=meta["history_run_id"],
                    key="loss",
                    repeats=s.repeats,
                )
                self.details["mlflow_history"] = r
                history.mlflow = r["median_s"] * 1000
                if r["points"] != s.history:
                    raise BenchError(f"MLflow's history has {r['points']} points")

    # figure 4 ---------------------------------------------------------------------------------

    def starts(self) -> None:
        s, w = self.sizes, self.workdir
        fig = self.fig["cold_start"]
        with self.measuring(fig, "mloop"):
            why = mloop_server_available()
            if why:
                raise BenchError(f"mloop server is not available: {why}")
            r = cold_starts("mloop", w, s.starts)
            self.details["mloop_cold_start"] = r
            fig.mloop = r["median_s"]
        if not self.with_mlflow:
            return
        best: dict[str, Any] | None = None
        for config, extra in MLFLOW_SERVER_CONFIGS.items():
            with self.measuring(fig, "mlflow"):
                ensure_peer("mlflow")
                r = cold_starts("mlflow", w, s.starts, extra)
                r["config"] = config
                self.details.setdefault("mlflow_cold_start", []).append(r)
                fig.notes.append(f"MLflow server cold start, {config}: {r['median_s']:.2f} s")
                if best is None or r["median_s"] < best["median_s"]:
                    best = r
        if best is not None:
            fig.mlflow = best["median_s"]
            fig.mlflow_error = ""

    # verdicts ---------------------------------------------------------------------------------

    def judge(self) -> None:
        f = self.fig
        if f["log_local"].mloop is not None:
            f["log_local"].met = f["log_local"].mloop >= TARGET_LOG_RATE
        vs = f["log_vs_batch"]
        if vs.ratio is not None:
            vs.met = vs.ratio >= TARGET_VS_BATCH
        raw = f["raw_sqlite"]
        if raw.mloop and f["log_local"].mloop:
            raw.target = f"mloop local = {f['log_local'].mloop / raw.mloop:.0%} of this"
        search = f["search"]
        if search.mloop is not None:
            fast = search.mloop < TARGET_SEARCH_MS
            search.met = fast and (
                search.speedup is None or search.speedup >= TARGET_SEARCH_SPEEDUP
            )
            if search.speedup is None:
                search.notes.append("search: only the absolute target was checked (no MLflow)")
        if f["history"].mloop is not None:
            f["history"].met = f["history"].mloop < TARGET_HISTORY_MS
        if f["cold_start"].mloop is not None:
            f["cold_start"].met = f["cold_start"].mloop < TARGET_START_S


# -- output ------------------------------------------------------------------------------------


def fmt_value(v: float | None, unit: str, err: str) -> str:
    if err:
        return "FAILED"
    if v is None:
        return "-"
    if unit in ("points/s", "rows/s"):
        return f"{v:,.0f}/s"
    if unit == "ms":
        return f"{v:,.1f} ms"
    return f"{v:.2f} s"


def rows(bench: Bench) -> list[list[str]]:
    return [
        table_row(
            fig.label,
            fmt_value(fig.mloop, fig.unit, fig.mloop_error),
            fmt_value(fig.mlflow, fig.unit, fig.mlflow_error),
            fmt_ratio(fig.ratio, fig.speedup),
            fig.target,
            fig.met,
        )
        for fig in bench.fig.values()
        if fig.mloop is not None or fig.mlflow is not None or fig.mloop_error or fig.mlflow_error
    ]


HEADER = ["figure", "mloop", "MLflow", "ratio mloop/MLflow", "target (mloop)", "met?"]


def print_results(bench: Bench) -> None:
    print_table("mloop vs MLflow: tracking", HEADER, rows(bench))
    figs = bench.fig.values()
    print_notes(
        [n for fig in figs for n in fig.notes if n],
        [
            (f"{tool}, {fig.label}", err)
            for fig in figs
            for tool, err in (("mloop", fig.mloop_error), ("MLflow", fig.mlflow_error))
            if err
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(
        "Tracking benchmark: mloop vs MLflow side by side (see benchmarks/README.md).",
        peer="mlflow",
        parts=["log", "server", "search", "history", "start"],
        keep=True,
    )
    a = parse(p, argv)
    sizes = QUICK if a.quick else FULL

    # Servers and peers are stopped by _peers at exit; the scratch folder goes with the block.
    with scratch(WORK / f"run-{os.getpid()}", keep=a.keep) as workdir:
        bench = Bench(sizes, not a.skip_mlflow, a.only, workdir)
        try:
            info = machine_info(sqlite=sqlite3.sqlite_version)
            info["loadavg_1m_at_start"] = load_average()
            if bench.with_mlflow:
                ensure_peer("mlflow")
                info["mlflow"] = peer_version("mlflow", "mlflow")
            run_logged(info, bench.run)
        except KeyboardInterrupt:
            return interrupted()
    print()
    print(
        f"mloop {info['mloop']} vs MLflow {info.get('mlflow', '(skipped)')} on {info['cpu']}, "
        f"{info['nproc']} CPUs, Python {info['python']}, SQLite {info['sqlite']}"
        + (" [--quick sizes]" if a.quick else "")
    )
    print_results(bench)
    if a.json:
        write_json(
            a.json,
            script=__file__,
            argv=argv,
            machine=info,
            sizes=sizes,
            figures=bench.fig,
            computed=("ratio", "speedup"),
            details=bench.details,
        )
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
