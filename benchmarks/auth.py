"""What `--auth` costs: the same requests to `mloop server` with tokens off and on.

    .venv/bin/python benchmarks/auth.py --requests 2000

Sequential keep-alive requests (a read and a small write) against an in-process server on
127.0.0.1; prints the median latency of each with auth off and on, and the ratio. With auth on
a verified token is cached (30 s), so the cost is one dictionary lookup and the role table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mloop.server import ServerThread, create_app
from mloop.store import SqlStore


def _measure(auth: bool, n: int, root: Path) -> dict[str, float]:
    store = SqlStore(f"sqlite:///{root / f'auth-{auth}.db'}", str(root / "artifacts"))
    headers = {}
    if auth:
        headers = {"Authorization": f"Bearer {store.create_token('bench', 'editor').token}"}
    exp = store.create_experiment("bench").experiment_id
    run = store.create_run(exp).info.run_id
    thread = ServerThread(create_app(store, auth=auth)).start()
    out: dict[str, float] = {}
    try:
        with httpx.Client(base_url=thread.url, headers=headers) as client:
            for name, call in (
                ("GET /experiments/{id}", lambda: client.get(f"/api/v1/experiments/{exp}")),
                (
                    "POST /runs/{id}/batch",
                    lambda: client.post(
                        f"/api/v1/runs/{run}/batch", json={"metrics": [["m", 1.0, 0, 0]]}
                    ),
                ),
            ):
                for _ in range(50):  # warm up
                    call()
                times = []
                for _ in range(n):
                    start = time.perf_counter()
                    response = call()
                    times.append(time.perf_counter() - start)
                    assert response.status_code < 300, response.text
                out[name] = statistics.median(times) * 1000
    finally:
        thread.stop()
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        off = _measure(False, args.requests, Path(tmp))
        on = _measure(True, args.requests, Path(tmp))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"auth cost, median of {args.requests} sequential requests (load {' '.join(load)})")
    print(f"  {'request':<24} {'auth off ms':>12} {'auth on ms':>12} {'on/off':>8}")
    for name in off:
        print(f"  {name:<24} {off[name]:>12.3f} {on[name]:>12.3f} {on[name] / off[name]:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
