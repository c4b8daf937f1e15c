"""What refusing an oversized metrics batch costs: counting its points before parsing (mloop)
against parsing it first and counting the list (what the server did before, and what a JSON
framework does when it validates the body).

    .venv/bin/python benchmarks/batch_limit.py --points 1000001

Times, best of a few runs, the refusal of a batch of ``--points`` points, and the check's cost
on an ordinary batch (100,000 points) that passes: there the count is one byte scan.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import orjson

from mloop.errors import InvalidArgument
from mloop.server._tracking import _refuse_too_many_points
from mloop.store._base import MAX_BATCH_METRICS

_POINT = b'["loss", 0.25, 1, 1700000000000]'


def _body(points: int) -> bytes:
    return b'{"metrics": [' + b",".join([_POINT] * points) + b"]}"


def _best_ms(call: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _count_first(body: bytes) -> None:
    try:
        _refuse_too_many_points(body)
    except InvalidArgument:
        return


def _parse_first(body: bytes) -> None:
    data = orjson.loads(body)
    if len(data["metrics"]) > MAX_BATCH_METRICS:
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=MAX_BATCH_METRICS + 1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    big, ordinary = _body(args.points), _body(100_000)
    rows = [
        (
            f"refuse {args.points:,} points ({len(big) / 1e6:.0f} MB)",
            _best_ms(lambda: _count_first(big), args.repeat),
            _best_ms(lambda: _parse_first(big), args.repeat),
        ),
        (
            f"check 100,000 points ({len(ordinary) / 1e6:.1f} MB)",
            _best_ms(lambda: _count_first(ordinary), args.repeat),
            _best_ms(lambda: _parse_first(ordinary), args.repeat),
        ),
    ]
    print(f"{'':40} {'count first (mloop)':>20} {'parse first':>14}")
    for name, mloop_ms, parse_ms in rows:
        print(f"{name:40} {mloop_ms:>17.1f} ms {parse_ms:>11.1f} ms")
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
