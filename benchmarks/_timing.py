"""The per-call timing of a wrapper's ``predict`` against the framework's own, shared by
``benchmarks/models.py`` and its MLflow peer so that both tools are timed the same way.

Needs only the standard library and numpy: it is imported in mloop's environment and in each
peer's, and never imports mloop.

Method: after a warm-up, alternate batches of ``batch`` calls of the raw call and of the wrapper
(raw first in even rounds, wrapper first in odd ones), each batch timed with
``time.perf_counter_ns``; a batch's time divided by ``batch`` is one per-call sample. The
overhead is the median of the per-round differences wrapper - raw, which cancels the slow drift
of a shared machine better than a difference of two medians. The garbage collector is off
while the batches run, as in ``timeit``. Rounds are bounded by a count and a time limit.

Each input is timed twice: passing the same DataFrame object to every call (a wrapper may
cache what it learnt about that object), and passing a new DataFrame to each call, as a server
does with each request (built before the clock starts, so building it is not timed).

Example::

    from _timing import compare

    r = compare(model.predict, loaded.predict, df, batch=100, rounds=40, warmup=50, max_s=30)
    r["overhead_us"]
"""

from __future__ import annotations

import gc
import hashlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

MIN_ROUNDS = 5  # a time limit never cuts a comparison below this many rounds

# case -> (the input it reads, a new DataFrame for each call?)
CASES: dict[str, tuple[str, bool]] = {
    "one": ("one", False),
    "one_new": ("one", True),
    "many": ("many", False),
    "many_new": ("many", True),
}


def digest(predictions: Any) -> str:
    """A short fingerprint of predictions, whatever the container (array, Series, DataFrame),
    so that two tools' outputs can be compared across processes."""
    values = np.ascontiguousarray(np.asarray(predictions).ravel(), dtype=np.float64)
    return hashlib.sha256(values.tobytes()).hexdigest()[:16]


def new_frame(df: Any) -> Any:
    """A DataFrame equal to ``df`` that shares no object with it (data, columns, index)."""
    return type(df)(df.to_numpy(copy=True), columns=list(df.columns))


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def compare(
    raw: Callable[[Any], Any],
    wrapped: Callable[[Any], Any],
    data: Any,
    *,
    batch: int,
    rounds: int,
    warmup: int,
    max_s: float,
    new: bool = False,
) -> dict[str, Any]:
    """Time ``raw(data)`` and ``wrapped(data)`` per call; see the module docstring.

    With ``new``, each call of a batch gets its own copy of ``data`` (``new_frame``), the same
    copies for the raw call and the wrapper.

    Returns:
        ``raw_us`` and ``wrapped_us`` (medians per call), ``overhead_us`` (median of the
        per-round differences), ``overhead_q1_us``/``overhead_q3_us`` (its quartiles), the
        samples, and ``digest_raw``/``digest_wrapped`` (fingerprints of the predictions).
    """
    out_raw = out_wrapped = None
    for _ in range(warmup):
        out_raw = raw(data)
        out_wrapped = wrapped(data)
    raw_ns: list[int] = []
    wrapped_ns: list[int] = []
    calls = [new_frame(data) for _ in range(batch)] if new else [data] * batch
    deadline = time.perf_counter_ns() + int(max_s * 1e9)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for fn, sink in ((raw, raw_ns), (wrapped, wrapped_ns))[:: 1 if r % 2 == 0 else -1]:
                t0 = time.perf_counter_ns()
                for x in calls:
                    fn(x)
                sink.append(time.perf_counter_ns() - t0)
            if r + 1 >= MIN_ROUNDS and time.perf_counter_ns() > deadline:
                break
    finally:
        if was_enabled:
            gc.enable()
    raw_us = [t / batch / 1000 for t in raw_ns]
    wrapped_us = [t / batch / 1000 for t in wrapped_ns]
    diffs = [w - r for w, r in zip(wrapped_us, raw_us, strict=True)]
    q1, q3 = _quartiles(diffs)
    return {
        "rows": len(data),
        "new_frame_each_call": new,
        "batch": batch,
        "rounds": len(raw_us),
        "warmup": warmup,
        "raw_us": statistics.median(raw_us),
        "wrapped_us": statistics.median(wrapped_us),
        "overhead_us": statistics.median(diffs),
        "overhead_q1_us": q1,
        "overhead_q3_us": q3,
        "raw_samples_us": raw_us,
        "wrapped_samples_us": wrapped_us,
        "digest_raw": digest(out_raw) if warmup else "",
        "digest_wrapped": digest(out_wrapped) if warmup else "",
        "wrapped_type": type(out_wrapped).__name__,
    }


def run_cases(
    raw: Callable[[Any], Any],
    wrapped: Callable[[Any], Any],
    frames: dict[str, Any],
    sizes: dict[str, Any],
    say: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """``compare`` for every case of ``CASES``; ``frames`` maps "one" and "many" to the inputs,
    ``sizes`` holds ``batch_<input>``, ``rounds_<input>``, ``warmup`` and ``max_s``."""
    out = {}
    for key, (which, new) in CASES.items():
        data = frames[which]
        r = compare(
            raw,
            wrapped,
            data,
            batch=sizes[f"batch_{which}"],
            rounds=sizes[f"rounds_{which}"],
            warmup=sizes["warmup"],
            max_s=sizes["max_s"],
            new=new,
        )
        say(
            f"predict {len(data):,} rows{' (a new DataFrame each call)' if new else ''}: raw "
            f"{r['raw_us']:,.1f} us, wrapper {r['wrapped_us']:,.1f} us, overhead "
            f"{r['overhead_us']:,.1f} us ({r['rounds']} rounds of {r['batch']})"
        )
        out[key] = r
    return out
