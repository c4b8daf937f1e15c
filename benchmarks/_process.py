"""Whole-process figures, as a user meets them: one command from spawn to exit.

A user runs ``mloop drift a.parquet b.parquet``, not ``drift(df_a, df_b)``: imports, reading
and writing the output count. ``run`` starts a command in its own process group (tracked by
``_peers`` so it is killed at exit) and reaps it with ``os.wait4``, which gives that process's
own resource usage: CPU seconds (user + system, its threads and the children it waited for
included) and peak resident memory. ``measure`` repeats a command and keeps the medians.

The machine's load is recorded beside every figure (``loadavg``): on a shared machine it
explains a slow figure better than anything else.

Needs only the standard library, so peer environments could use it too; it never imports mloop.

Example::

    from _process import measure

    m = measure(["mloop", "drift", "a.parquet", "b.parquet", "--json"], repeats=3, ok=(0, 1))
    m.cpu_s, m.wall_s, m.max_rss_mb
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _peers import spawn, stop


class ProcessFailed(RuntimeError):
    """The command exited with an unexpected status or ran past its time limit."""


@dataclass(frozen=True)
class Sample:
    """One run of a command."""

    wall_s: float
    cpu_s: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Measured:
    """Medians over ``samples`` (the warm-up run is not among them)."""

    argv: list[str]
    samples: list[Sample] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def cpu_s(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def max_rss_mb(self) -> float:
        return max(s.max_rss_mb for s in self.samples)

    @property
    def last(self) -> Sample:
        return self.samples[-1]


def loadavg() -> str:
    """``/proc/loadavg``'s three load averages (1, 5 and 15 minutes), e.g. ``"0.52 0.61 0.70"``."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout_s: float = 1800.0,
    ok: Collection[int] = (0,),
) -> Sample:
    """Run ``argv`` once, its output captured; return its wall and CPU seconds and peak RSS.

    Raises:
        ProcessFailed: the exit status is not in ``ok``, or it ran past ``timeout_s``.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = spawn(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        deadline = t0 + timeout_s
        status, usage = 0, None
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    raise ProcessFailed(f"{' '.join(map(str, argv))} ran past {timeout_s:.0f} s")
                time.sleep(0.002)
        finally:
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status) if usage is not None else None
            stop(proc, grace_s=1.0)
        out.seek(0)
        err.seek(0)
        sample = Sample(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
            returncode=os.waitstatus_to_exitcode(status),
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if sample.returncode not in ok:
        raise ProcessFailed(
            f"{' '.join(map(str, argv))} exited {sample.returncode}: {sample.stderr[-800:]}"
        )
    return sample


def measure(
    argv: Sequence[str | os.PathLike[str]],
    *,
    repeats: int,
    warmup: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout_s: float = 1800.0,
    ok: Collection[int] = (0,),
) -> Measured:
    """``run`` the command ``warmup`` times untimed (filling the bytecode and file caches),
    then ``repeats`` times; the result holds the timed samples and their medians."""
    m = Measured([str(a) for a in argv])
    for i in range(warmup + repeats):
        s = run(argv, env=env, cwd=cwd, timeout_s=timeout_s, ok=ok)
        if i >= warmup:
            m.samples.append(s)
    return m
