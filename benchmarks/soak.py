"""Soak: ``mloop server`` and ``mloop serve`` under mixed load for a while, as real processes.

Writers create runs and log a 200-point metric batch to each, readers search, clients predict, a
deployer moves ``@champion`` between two versions (the inference server follows it), and slow
clients open connections that send half a request's headers (each server must answer 408 after
its ``--header-timeout`` of 2 s and close). At the end every acknowledged write is read back.

    .venv/bin/python benchmarks/soak.py --seconds 600              # unpaced: as fast as it goes
    .venv/bin/python benchmarks/soak.py --seconds 300 --rate 6     # paced: 6 requests/s in total

Two modes:

- **unpaced** (no ``--rate``): closed loops, one thread per client (``--writers`` writers, one
  searcher, two predictors, a deployer that moves the alias once a second, one slow client), each
  sending its next request when the last one is answered. The servers run as hard as the
  machine lets them; for long runs that look for leaks and lost writes.
- **paced** (``--rate N``): open loop. Operations are drawn in a fixed interleaved order from
  ``--mix`` (operations per cycle; a write is two requests, a run then its batch) and each one has
  a slot on a schedule fixed in advance: the operation that follows ``k`` requests is due at
  ``start + k / N``. The driver sleeps until the next slot's absolute time (oversleeping does not
  accumulate) and hands the operation to a pool of threads, so a slow answer does not delay the
  ones after it; how late each operation started against its slot is reported as *lag*. Cheap
  enough to run beside other work.

Figures: requests per kind (2xx, unexpected 4xx, 5xx, transport failures), latency percentiles
per kind (sent to answered), the achieved rate, the resident memory (RSS) of both servers over
time, and CPU seconds of both servers and of this driver, during the load and for the whole run
(start-up, model setup and the read-back included).

**Memory flat**: the first ``--warmup`` seconds (default: a fifth of the run, at most 60 s) are
the warm-up (imports, caches, first model loads, SQLite's page cache). After it, a server's RSS
at the end (median of its last three samples) may exceed its RSS at the end of the warm-up by at
most ``max(--max-growth-mib, --max-growth-ratio x that RSS)``, 32 MiB or 10 % by default. The
least-squares slope after the warm-up (MiB per minute) is printed beside it. ``mloop server``'s
SQLite connections may each keep a page cache of up to 64 MiB (``PRAGMA cache_size``), filled
as pages are read: bounded, but for runs of hours possibly more than the default bound (raise
``--max-growth-mib``); the ``db MiB`` column shows the database file beside the RSS.

Exits 1 on any 5xx, transport failure or unexpected 4xx, any acknowledged write not readable
afterwards, an alias that does not read back as the last acknowledged move, or memory that is
not flat. ``--json PATH`` writes every figure (tests/server/test_soak.py reads it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MLOOP = Path(sys.executable).with_name("mloop")
KINDS = ("write", "search", "predict", "alias", "slow")
# Requests an operation of each kind sends (a write: create a run, then log its batch).
COST = {"write": 2, "search": 1, "predict": 1, "alias": 1, "slow": 1}
DEFAULT_MIX = "write=2,search=2,predict=4,alias=1,slow=1"
HEADER_TIMEOUT = 2.0
POINTS = 200
ROWS = {"records": [{"a": 2.0}, {"a": 3.0}]}
# What the two versions of the model answer for ROWS (y = 2a and y = 3a).
ANSWERS = ([4.0, 6.0], [6.0, 9.0])
TICK = os.sysconf("SC_CLK_TCK")

_SETUP = """
import pandas as pd
from sklearn.linear_model import LinearRegression
import mloop, mloop.models, mloop.registry
x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
for k in (2.0, 3.0):
    with mloop.start_run():
        mloop.models.log_model(LinearRegression().fit(x, x["a"] * k), "model",
                               input_example=x.head(2), registered_model_name="soak")
mloop.registry.set_alias("soak", "champion", 1)
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process and of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime


def _own_cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind.strip() not in COST or not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(f"--mix: {part!r} is not KIND=N, KIND one of {KINDS}")
        mix[kind.strip()] = int(weight)
    if not any(mix.values()):
        raise argparse.ArgumentTypeError("--mix: every weight is 0")
    return mix


def cycle(mix: dict[str, int]) -> list[str]:
    """One cycle of operations, interleaved (smooth weighted round-robin, as nginx balances):
    ``write=2,search=1`` gives write, search, write rather than write, write, search."""
    total = sum(mix.values())
    current = dict.fromkeys(mix, 0)
    order = []
    for _ in range(total):
        for kind, weight in mix.items():
            current[kind] += weight
        pick = max(current, key=lambda k: current[k])
        current[pick] -= total
        order.append(pick)
    return order


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile ``p`` (0-100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 1)


def _ms(value: float | None) -> str:
    return f"{value:>9.1f}" if value is not None else f"{'-':>9}"


class Load:
    """The operations of each kind, what they got back, and the writes to read back."""

    def __init__(self, api: str, serve: str, experiment_id: str) -> None:
        self.api_url, self.serve_url, self.experiment_id = api, serve, experiment_id
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.api = httpx.Client(base_url=api, timeout=60, limits=limits)
        self.serve = httpx.Client(base_url=serve, timeout=60, limits=limits)
        self.outcomes: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
        self.latency_ms: dict[str, list[float]] = defaultdict(list)
        self.lag_ms: list[float] = []
        self.failures: list[str] = []
        self.runs: list[str] = []  # runs acknowledged (201)
        self.batches: list[tuple[str, int]] = []  # (run_id, points) acknowledged (204)
        self.alias_lock = threading.Lock()
        self.alias_version = 1  # the last acknowledged move (setup points it at 1)
        self.slow_target = 0
        self.lock = threading.Lock()

    def close(self) -> None:
        self.api.close()
        self.serve.close()

    def _send(
        self,
        kind: str,
        client: httpx.Client,
        method: str,
        url: str,
        check: Callable[[httpx.Response], str] | None = None,
        **kw: Any,
    ) -> httpx.Response | None:
        """One request, its outcome and latency recorded: the response, or None. ``check``
        says what is wrong with a 2xx answer ("" if nothing)."""
        start = time.perf_counter()
        try:
            response = client.request(method, url, **kw)
            status = response.status_code
            wrong = check(response) if check is not None and status < 400 else ""
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self._record(kind, "failed", start, f"{method} {url}: {exc!r}")
            return None
        if status >= 500:
            self._record(kind, "5xx", start, f"{method} {url}: {status} {response.text[:200]}")
        elif status >= 400:
            self._record(kind, "4xx", start, f"{method} {url}: {status} {response.text[:200]}")
        elif wrong:
            self._record(kind, "failed", start, f"{method} {url}: {wrong}")
        else:
            self._record(kind, "ok", start)
        return response

    def _record(self, kind: str, outcome: str, start: float, failure: str = "") -> None:
        elapsed = (time.perf_counter() - start) * 1000
        with self.lock:
            self.outcomes[kind][outcome] += 1
            self.latency_ms[kind].append(elapsed)
            if failure:
                self.failures.append(f"{kind}: {failure}")

    def run(self, kind: str, due: float | None = None) -> None:
        """One operation of ``kind``; ``due`` is its slot on a paced schedule (monotonic)."""
        if due is not None:
            lag = (time.monotonic() - due) * 1000
            with self.lock:
                self.lag_ms.append(lag)
        start = time.perf_counter()
        try:
            getattr(self, kind)()
        except Exception as exc:  # an answer the operation could not use: counted, not lost
            self._record(kind, "failed", start, f"{exc!r}")

    def write(self) -> None:
        run = self._send("write", self.api, "POST", "/api/v1/runs",
                         json={"experiment_id": self.experiment_id})  # fmt: skip
        if run is None or run.status_code != 201:
            return
        run_id = run.json()["info"]["run_id"]
        with self.lock:
            self.runs.append(run_id)
        points = [["loss", 1.0 / (i + 1), i, 1_700_000_000_000 + i] for i in range(POINTS)]
        batch = self._send("write", self.api, "POST", f"/api/v1/runs/{run_id}/batch",
                           json={"metrics": points})  # fmt: skip
        if batch is not None and batch.status_code == 204:
            with self.lock:
                self.batches.append((run_id, POINTS))

    def search(self) -> None:
        body = {"filter": "metrics.loss < 0.5", "max_results": 50}
        self._send("search", self.api, "POST", "/api/v1/runs/search", json=body)

    def predict(self) -> None:
        def check(response: httpx.Response) -> str:
            answer = [round(float(v), 6) for v in response.json()["predictions"]]
            return "" if answer in ANSWERS else f"predicted {answer}, neither version's answer"

        self._send("predict", self.serve, "POST", "/v1/models/soak:predict", check, json=ROWS)

    def alias(self) -> None:
        # One move at a time, so the last acknowledged move is the one that must read back.
        with self.alias_lock:
            version = 3 - self.alias_version
            url = "/api/v1/registered-models/soak/aliases/champion"
            response = self._send("alias", self.api, "PUT", url, json={"version": version})
            if response is not None and response.status_code == 200:
                self.alias_version = version

    def slow(self) -> None:
        """Half a request's headers, then nothing: the server must answer 408 and close.
        Alternates between the two servers."""
        with self.lock:
            self.slow_target += 1
            url = self.serve_url if self.slow_target % 2 else self.api_url
        host, port = url.removeprefix("http://").split(":")
        start = time.perf_counter()
        reply = b""
        try:
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and nothing more
                sock.settimeout(10 * HEADER_TIMEOUT)
                while chunk := sock.recv(4096):
                    reply += chunk
        except OSError as exc:
            self._record("slow", "failed", start, f"{url}: {exc!r} after {reply[:40]!r}")
            return
        if reply.startswith(b"HTTP/1.1 408"):
            self._record("slow", "ok", start)
        else:
            self._record("slow", "failed", start, f"{url}: answered {reply[:80]!r}")

    def verify(self) -> tuple[int, int | None]:
        """Read back every acknowledged write: (writes not readable, the alias's version)."""
        missing = 0
        batched = {run_id for run_id, _ in self.batches}
        for run_id, n in self.batches:
            history = self.api.get(f"/api/v1/runs/{run_id}/metrics/loss/history")
            if history.status_code != 200 or len(history.json()["steps"]) != n:
                missing += 1
        for run_id in self.runs:
            if run_id not in batched and self.api.get(f"/api/v1/runs/{run_id}").status_code != 200:
                missing += 1
        alias = self.api.get("/api/v1/registered-models/soak/aliases/champion")
        return missing, (int(alias.json()["version"]) if alias.status_code == 200 else None)


def unpaced(load: Load, seconds: float, writers: int) -> None:
    until = time.monotonic() + seconds

    def loop(kind: str, pause: float = 0.0) -> None:
        while time.monotonic() < until:
            load.run(kind)
            if pause:
                time.sleep(pause)

    jobs = [("write", 0.0)] * writers + [("search", 0.0), ("predict", 0.0), ("predict", 0.0)]
    jobs += [("alias", 1.0), ("slow", 0.0)]
    threads = [threading.Thread(target=loop, args=job, daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def paced(load: Load, seconds: float, rate: float, mix: dict[str, int]) -> None:
    order = cycle(mix)
    start = time.monotonic()
    sent = 0  # requests scheduled so far: the next operation's slot is start + sent / rate
    # Threads enough for a few seconds of slow answers; a slow client holds one ~2 s.
    with ThreadPoolExecutor(max_workers=max(16, math.ceil(rate * 4))) as pool:
        for i in itertools.count():
            due = start + sent / rate
            if due >= start + seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            kind = order[i % len(order)]
            pool.submit(load.run, kind, due)
            sent += COST[kind]


@dataclass
class Sample:
    t: float
    rss: dict[str, float]
    cpu: dict[str, float]
    db_mib: float  # the SQLite file and its WAL: the server's page caches grow with it


def memory_verdict(
    samples: list[Sample], who: str, warmup: float, bound_mib: float, bound_ratio: float
) -> dict[str, Any]:
    after = [s for s in samples if s.t >= warmup] or samples[-1:]
    base = after[0].rss[who]
    end = statistics.median(s.rss[who] for s in after[-3:])
    peak = max(s.rss[who] for s in after)
    allowed = max(bound_mib, bound_ratio * base)
    slope = None
    if len(after) >= 3:
        fit = statistics.linear_regression([s.t for s in after], [s.rss[who] for s in after])
        slope = round(fit.slope * 60, 2)
    return {
        "warmup_s": warmup,
        "at_warmup_mib": round(base, 1),
        "end_mib": round(end, 1),
        "peak_mib": round(peak, 1),
        "growth_mib": round(end - base, 1),
        "allowed_mib": round(allowed, 1),
        "slope_mib_per_min": slope,
        "flat": bool(end - base <= allowed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--seconds", type=float, default=300.0, help="length of the load")
    add("--rate", type=float, default=None, help="paced: requests/s in total (default: unpaced)")
    add("--mix", type=parse_mix, default=parse_mix(DEFAULT_MIX), help=f"paced: {DEFAULT_MIX}")
    add("--writers", type=int, default=2, help="unpaced: writer threads")
    add("--warmup", type=float, default=None, help="memory flat after (default: min(60, 20%%))")
    add("--max-growth-mib", type=float, default=32.0)
    add("--max-growth-ratio", type=float, default=0.10)
    add("--sample-every", type=float, default=None, help="RSS, CPU samples (default: 5 s)")
    add("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else min(60.0, args.seconds / 5)
    every = args.sample_every or min(5.0, max(args.seconds / 30, 0.5))

    began = time.monotonic()
    load_before = _loadavg()
    with tempfile.TemporaryDirectory(prefix="mloop-soak-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
        env.update({"MLOOP_HOME": str(root / "home"), "NO_COLOR": "1"})
        api_port, serve_port = _port(), _port()
        api = f"http://127.0.0.1:{api_port}"
        serve = f"http://127.0.0.1:{serve_port}"
        timeout = str(HEADER_TIMEOUT)
        server = subprocess.Popen(
            [str(MLOOP), "server", "--port", str(api_port), "--log-level", "warning",
             "--backend-store-uri", f"sqlite:///{root / 'soak.db'}", "--header-timeout", timeout],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs = [server]
        try:
            _wait(f"{api}/healthz", server)
            client_env = {**env, "MLOOP_TRACKING_URI": api, "MLOOP_HOME": str(root / "client")}
            subprocess.run([sys.executable, "-c", _SETUP], env=client_env, check=True)
            inference = subprocess.Popen(
                [str(MLOOP), "serve", "models:/soak@champion", "--port", str(serve_port),
                 "--poll-interval", "0.5", "--log-sample-rate", "0", "--header-timeout", timeout],
                env={**client_env, "MLOOP_HOME": str(root / "serve")},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(inference)
            _wait(f"{serve}/readyz", inference)
            pids = {"server": server.pid, "serve": inference.pid}
            experiment = httpx.post(f"{api}/api/v1/experiments", json={"name": "soak"}, timeout=60)
            experiment.raise_for_status()
            load = Load(api, serve, experiment.json()["experiment_id"])

            def sample(t0: float) -> Sample:
                cpu = {name: _cpu_s(pid) for name, pid in pids.items()}
                cpu["driver"] = _own_cpu_s()
                rss = {name: _rss_mib(pid) for name, pid in pids.items()}
                db = sum(f.stat().st_size for f in root.glob("soak.db*")) / 2**20
                return Sample(time.monotonic() - t0, rss, cpu, db)

            if args.rate:
                target = threading.Thread(
                    target=paced, args=(load, args.seconds, args.rate, args.mix), daemon=True
                )
            else:
                target = threading.Thread(
                    target=unpaced, args=(load, args.seconds, args.writers), daemon=True
                )
            t0 = time.monotonic()
            samples = [sample(t0)]
            target.start()
            while target.is_alive():
                target.join(timeout=max(0.0, t0 + len(samples) * every - time.monotonic()))
                samples.append(sample(t0))
            wall = time.monotonic() - t0
            missing, alias_read = load.verify()
            load.close()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    total_cpu = _own_cpu_s() + _own_cpu_s(resource.RUSAGE_CHILDREN)
    total_wall = time.monotonic() - began
    result = report(args, load, samples, wall, missing, alias_read, warmup, load_before)
    result["whole_run"] = {
        "wall_s": round(total_wall, 1),
        "cpu_s": round(total_cpu, 1),
        "cpu_percent_of_one_core": round(100 * total_cpu / total_wall, 1),
    }
    print(
        f"CPU of the whole run (start-up, model setup, read-back): {total_cpu:.1f} s over "
        f"{total_wall:.0f} s = {100 * total_cpu / total_wall:.1f}% of one core"
    )
    print("OK" if result["ok"] else "FAILED")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


def report(
    args: argparse.Namespace,
    load: Load,
    samples: list[Sample],
    wall: float,
    missing: int,
    alias_read: int | None,
    warmup: float,
    load_before: list[str],
) -> dict[str, Any]:
    """Print the figures; return them (with the verdict under "ok")."""
    requests = sum(sum(c.values()) for c in load.outcomes.values())
    mode = f"paced at {args.rate:g} requests/s" if args.rate else "unpaced"
    print(
        f"soak: {mode} for {args.seconds:.0f} s; {requests} requests in {wall:.1f} s = "
        f"{requests / wall:.1f}/s; load {' '.join(load_before)} before, "
        f"{' '.join(_loadavg())} after"
    )
    kinds: dict[str, Any] = {}
    print(
        f"  {'kind':<8}{'requests':>9}{'2xx':>8}{'4xx':>6}{'5xx':>6}{'failed':>7}"
        f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    for kind in KINDS:
        c, lat = load.outcomes[kind], load.latency_ms[kind]
        row = {
            "requests": sum(c.values()),
            "ok": c["ok"],
            "4xx": c["4xx"],
            "5xx": c["5xx"],
            "failed": c["failed"],
            **{f"p{p}_ms": percentile(lat, p) for p in (50, 90, 99, 100)},
        }
        kinds[kind] = row
        print(
            f"  {kind:<8}{row['requests']:>9}{row['ok']:>8}{row['4xx']:>6}{row['5xx']:>6}"
            f"{row['failed']:>7}{_ms(row['p50_ms'])}{_ms(row['p90_ms'])}{_ms(row['p99_ms'])}"
            f"{_ms(row['p100_ms'])}"
        )
    lag = {f"p{p}_ms": percentile(load.lag_ms, p) for p in (50, 99, 100)}
    if args.rate:
        print(
            f"  lag (operation started after its slot): p50 {lag['p50_ms']} ms, "
            f"p99 {lag['p99_ms']} ms, max {lag['p100_ms']} ms"
        )
    print(
        f"  acknowledged: {len(load.runs)} runs, {len(load.batches)} batches of {POINTS} points; "
        f"not readable afterwards: {missing}; alias @champion: last moved to "
        f"{load.alias_version}, reads {alias_read}"
    )
    print(f"  {'t s':>6}  {'RSS MiB server':>14}{'serve':>7}{'db MiB':>8}   {'CPU % server':>12}"
          f"{'serve':>7}{'driver':>8}")  # fmt: skip
    show = max(1, round(len(samples) / 12))
    for i in range(show, len(samples), show):
        a, b = samples[i - show], samples[i]
        dt = b.t - a.t
        pct = {k: 100 * (b.cpu[k] - a.cpu[k]) / dt for k in b.cpu}
        print(
            f"  {b.t:>6.0f}  {b.rss['server']:>14.0f}{b.rss['serve']:>7.0f}{b.db_mib:>8.0f}   "
            f"{pct['server']:>12.1f}{pct['serve']:>7.1f}{pct['driver']:>8.1f}"
        )
    memory = {}
    for who in ("server", "serve"):
        v = memory_verdict(samples, who, warmup, args.max_growth_mib, args.max_growth_ratio)
        memory[who] = v
        print(
            f"  memory {who}: {v['at_warmup_mib']} MiB after {warmup:.0f} s warm-up -> "
            f"{v['end_mib']} at the end (peak {v['peak_mib']}; slope {v['slope_mib_per_min']} "
            f"MiB/min): +{v['growth_mib']}, allowed +{v['allowed_mib']}: "
            f"{'flat' if v['flat'] else 'GREW'}"
        )
    first, last = samples[0], samples[-1]
    cpu = {k: round(last.cpu[k] - first.cpu[k], 2) for k in last.cpu}
    cpu_total = sum(cpu.values())
    cpu_pct = 100 * cpu_total / wall
    print(
        f"  CPU during the load: server {cpu['server']:.1f} s, serve {cpu['serve']:.1f} s, "
        f"driver {cpu['driver']:.1f} s = {cpu_total:.1f} s over {wall:.0f} s = "
        f"{cpu_pct:.1f}% of one core"
    )
    for line in load.failures[:10]:
        print("  failure:", line)
    errors = sum(k["5xx"] + k["4xx"] + k["failed"] for k in kinds.values())
    ok = (
        errors == 0
        and missing == 0
        and alias_read == load.alias_version
        and all(v["flat"] for v in memory.values())
    )
    return {
        "mode": "paced" if args.rate else "unpaced",
        "rate": args.rate,
        "mix": args.mix if args.rate else None,
        "seconds": args.seconds,
        "wall_s": round(wall, 1),
        "requests": requests,
        "achieved_rate": round(requests / wall, 2),
        "kinds": kinds,
        "lag": lag if args.rate else None,
        "runs_acknowledged": len(load.runs),
        "batches_acknowledged": len(load.batches),
        "unreadable": missing,
        "alias": {"last_acknowledged": load.alias_version, "read_back": alias_read},
        "memory": memory,
        "rss_timeline": [
            {
                "t": round(s.t, 1),
                **{k: round(v, 1) for k, v in s.rss.items()},
                "db": round(s.db_mib, 1),
            }
            for s in samples
        ],
        "load_cpu": {
            **{f"{k}_s": v for k, v in cpu.items()},
            "total_s": round(cpu_total, 2),
            "cpu_percent_of_one_core": round(cpu_pct, 1),
        },
        "loadavg": {"before": load_before, "after": _loadavg()},
        "failures": load.failures[:50],
        "ok": ok,
    }


if __name__ == "__main__":
    sys.exit(main())
