"""Soak: ``mloop server`` and ``mloop serve`` under mixed load for a while, as real processes.

Writers log metric batches to new runs, readers search, clients predict, a deployer moves
``@champion`` between two versions (the inference server follows it), and slow clients open
connections that send half a request. At the end every acknowledged write is read back.

    .venv/bin/python benchmarks/soak.py --seconds 300

Prints requests and 5xx per kind, the resident memory of both servers over time, and exits 1
on any 5xx, any acknowledged write not readable, or memory that grew by more than
``--max-growth`` (a ratio).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

MLOOP = Path(sys.executable).with_name("mloop")

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


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


class Load:
    def __init__(self, api: str, serve: str, until: float) -> None:
        self.api, self.serve, self.until = api, serve, until
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.failures: list[str] = []
        self.written: list[tuple[str, int]] = []  # (run_id, points acknowledged)
        self.lock = threading.Lock()

    def _count(self, kind: str, response: httpx.Response) -> None:
        with self.lock:
            self.requests[kind] += 1
            if response.status_code >= 500:
                self.errors[kind] += 1
                self.failures.append(f"{kind}: {response.status_code} {response.text[:200]}")

    def writer(self) -> None:
        with httpx.Client(base_url=self.api, timeout=30) as c:
            exp = c.post("/api/v1/experiments", json={"name": f"soak-{threading.get_ident()}"})
            self._count("write", exp)
            exp_id = exp.json()["experiment_id"]
            while time.monotonic() < self.until:
                run = c.post("/api/v1/runs", json={"experiment_id": exp_id})
                self._count("write", run)
                if run.status_code != 201:
                    continue
                run_id = run.json()["info"]["run_id"]
                points = [["loss", 1.0 / (i + 1), i, 1_700_000_000_000 + i] for i in range(200)]
                batch = c.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": points})
                self._count("write", batch)
                if batch.status_code == 204:
                    with self.lock:
                        self.written.append((run_id, len(points)))

    def searcher(self) -> None:
        with httpx.Client(base_url=self.api, timeout=30) as c:
            while time.monotonic() < self.until:
                body = {"filter": "metrics.loss < 0.5", "max_results": 50}
                self._count("search", c.post("/api/v1/runs/search", json=body))

    def predictor(self) -> None:
        rows = {"records": [{"a": 2.0}, {"a": 3.0}]}
        with httpx.Client(base_url=self.serve, timeout=30) as c:
            while time.monotonic() < self.until:
                self._count("predict", c.post("/v1/models/soak:predict", json=rows))

    def deployer(self) -> None:
        with httpx.Client(base_url=self.api, timeout=30) as c:
            version = 1
            while time.monotonic() < self.until:
                version = 3 - version
                url = "/api/v1/registered-models/soak/aliases/champion"
                self._count("alias", c.put(url, json={"version": version}))
                time.sleep(1.0)

    def slow_client(self) -> None:
        host, port = self.serve.removeprefix("http://").split(":")
        while time.monotonic() < self.until:
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and nothing more
                sock.settimeout(30)
                try:
                    while sock.recv(4096):
                        pass
                except OSError:
                    pass
            with self.lock:
                self.requests["slow"] += 1

    def verify(self) -> int:
        missing = 0
        with httpx.Client(base_url=self.api, timeout=30) as c:
            for run_id, n in self.written:
                history = c.get(f"/api/v1/runs/{run_id}/metrics/loss/history")
                if history.status_code != 200 or len(history.json()["steps"]) != n:
                    missing += 1
        return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--max-growth", type=float, default=1.5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mloop-soak-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
        env.update({"MLOOP_HOME": str(root / "home"), "NO_COLOR": "1"})
        api_port, serve_port = _port(), _port()
        api = f"http://127.0.0.1:{api_port}"
        serve = f"http://127.0.0.1:{serve_port}"
        server = subprocess.Popen(
            [str(MLOOP), "server", "--port", str(api_port), "--log-level", "warning",
             "--backend-store-uri", f"sqlite:///{root / 'soak.db'}", "--header-timeout", "2"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs = [server]
        try:
            _wait(f"{api}/healthz", server)
            client_env = {**env, "MLOOP_TRACKING_URI": api, "MLOOP_HOME": str(root / "client")}
            subprocess.run([sys.executable, "-c", _SETUP], env=client_env, check=True)
            inference = subprocess.Popen(
                [str(MLOOP), "serve", "models:/soak@champion", "--port", str(serve_port),
                 "--poll-interval", "0.5", "--log-sample-rate", "0", "--header-timeout", "2"],
                env={**client_env, "MLOOP_HOME": str(root / "serve")},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(inference)
            _wait(f"{serve}/readyz", inference)

            load = Load(api, serve, time.monotonic() + args.seconds)
            workers = [load.writer] * args.writers + [
                load.searcher,
                load.predictor,
                load.predictor,
                load.deployer,
                load.slow_client,
            ]
            threads = [threading.Thread(target=w, daemon=True) for w in workers]
            memory: list[tuple[float, float, float]] = []
            start = time.monotonic()
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                memory.append(
                    (time.monotonic() - start, _rss_mb(server.pid), _rss_mb(inference.pid))
                )
                time.sleep(min(5.0, max(args.seconds / 20, 0.5)))
            missing = load.verify()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    print(f"soak: {args.seconds:.0f} s, load {Path('/proc/loadavg').read_text().split()[:3]}")
    for kind in sorted(load.requests):
        print(f"  {kind:<8} {load.requests[kind]:>8} requests  {load.errors[kind]:>4} 5xx")
    print(f"  writes acknowledged {len(load.written)}, not readable afterwards {missing}")
    first, last = memory[min(1, len(memory) - 1)], memory[-1]
    peak = (max(m[1] for m in memory), max(m[2] for m in memory))
    print(
        f"  RSS MiB  server {first[1]:.0f} -> {last[1]:.0f} (peak {peak[0]:.0f})   "
        f"serve {first[2]:.0f} -> {last[2]:.0f} (peak {peak[1]:.0f})"
    )
    for line in load.failures[:10]:
        print("  5xx:", line)
    grown = [
        name
        for name, a, b in (("server", first[1], last[1]), ("serve", first[2], last[2]))
        if a == a and b > a * args.max_growth  # a == a: not NaN
    ]
    ok = not load.failures and missing == 0 and not grown
    if grown:
        print(f"  memory grew more than x{args.max_growth}: {', '.join(grown)}")
    print("  OK" if ok else "  FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
