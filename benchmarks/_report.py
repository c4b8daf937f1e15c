"""What the benchmark scripts share: their common options, the scratch folder, the machine
report, the result table, the JSON file, and the recording of a failed measurement.

Each script keeps what is its own: its figures, how it formats and judges them, the headline
above its table. The table always has six columns, figure | mloop | peer | ratio | target |
met?, and a script hands ``print_table`` rows already formatted (``table_row``).

Imported in mloop's environment only (it imports mloop for the machine report); peer scripts
must not import it. Child processes are stopped by ``_peers`` (at exit, on Ctrl-C and SIGTERM).

Example::

    from _report import machine_info, parse, parser, print_table, table_row

    a = parse(parser("Drift benchmark: ...", peer="evidently"), argv)
    info = machine_info(numpy=numpy.__version__)
    ...
    print_table("mloop vs Evidently: drift", HEADER, [table_row(...) for f in figures])
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from _peers import PeerError

ROOT = Path(__file__).resolve().parent.parent
INTERRUPTED = 130  # the exit status on Ctrl-C
MET = {True: "yes", False: "NO", None: "-"}


class BenchError(RuntimeError):
    """A measurement could not be made; the message says why."""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- options -----------------------------------------------------------------------------------


def parser(
    description: str,
    *,
    peer: str,
    quick_help: str = "small sizes, for a smoke run",
    parts: Sequence[str] = (),
    keep: bool = False,
) -> argparse.ArgumentParser:
    """The options every script takes: ``--quick``, ``--skip-<peer>``, ``--json PATH``; with
    ``parts``, ``--only`` (a comma-separated subset of them); with ``keep``, ``--keep``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument(f"--skip-{peer}", action="store_true", help="measure mloop only")
    p.add_argument("--json", metavar="PATH", type=Path, help="also write the figures here")
    if parts:
        p.add_argument(
            "--only",
            metavar="PARTS",
            default="",
            help=f"comma-separated subset of: {', '.join(parts)}",
        )
        p.set_defaults(parts=tuple(parts))
    if keep:
        p.add_argument(
            "--keep",
            action="store_true",
            help="keep this run's scratch folder under benchmarks/.work/",
        )
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``p.parse_args(argv)``, with ``--only`` turned into a set of known parts (empty: all)."""
    a = p.parse_args(argv)
    if "only" in a:
        only = {x.strip() for x in a.only.split(",") if x.strip()}
        unknown = only - set(a.parts)
        if unknown:
            p.error(f"unknown parts in --only: {', '.join(sorted(unknown))}")
        a.only = only
    return a


# -- the run -----------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch(folder: Path, *, keep: bool) -> Iterator[Path]:
    """A fresh scratch folder for the run, which is also mloop's home (``MLOOP_HOME``), so
    nothing of the developer's is touched; removed at the end unless ``keep``."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["MLOOP_HOME"] = str(folder / "home")
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def run_logged(info: dict[str, Any], run: Callable[[], None]) -> None:
    """Log the machine, run the benchmark, and add its wall time to ``info``."""
    log("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    t0 = time.perf_counter()
    run()
    info["bench_wall_s"] = round(time.perf_counter() - t0, 1)


def interrupted() -> int:
    """On Ctrl-C: say so and return the exit status (``_peers`` stops the children at exit)."""
    log("interrupted; stopping child processes")
    return INTERRUPTED


@contextlib.contextmanager
def recording(what: str, record: Callable[[str], None]) -> Iterator[None]:
    """Hand a failed measurement's message to ``record`` (the table and the exit status show
    it) and go on with the next one. The traceback is printed unless the failure is one the
    benchmark expects (``BenchError``, ``PeerError``), whose message says it all."""
    try:
        yield
    except Exception as exc:  # reported, not hidden
        msg = f"{type(exc).__name__}: {exc}"
        log(f"{what} failed: {msg}")
        if not isinstance(exc, BenchError | PeerError):
            traceback.print_exc()
        record(msg)


# -- machine and versions ----------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def git_revision() -> str:
    """The short commit, marked when tracked files have uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + (
            " (with uncommitted changes)" if dirty else ""
        )
    return "unknown"


def load_average() -> float:
    """The 1-minute load average: other work on the machine skews every figure, so it is
    recorded for a reader to tell."""
    return round(os.getloadavg()[0], 2)


def machine_info(**versions: str) -> dict[str, Any]:
    """The machine, Python, mloop and the commit, then ``versions`` (what else the figures
    depend on), in that order; the script adds the load average under its own key."""
    import mloop

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mloop": mloop.__version__,
        "git": git_revision(),
        **versions,
    }


# -- output ------------------------------------------------------------------------------------


def fmt_ratio(
    ratio: float | None,
    speedup: float | None,
    *,
    better: str = "faster",
    worse: str = "slower",
    places: int = 1,
    same_within: float = 0.0,
) -> str:
    """``ratio`` (mloop / peer) and, in words, ``speedup`` (how many times better mloop is,
    below 1 when worse): "0.25 (4.0x faster)". Within ``same_within`` of 1: "about the same"."""
    if ratio is None or speedup is None:
        return "-"
    if same_within and 1 - same_within <= speedup <= 1 + same_within:
        word = "about the same"
    elif speedup >= 1:
        word = f"{speedup:,.1f}x {better}"
    else:
        word = f"{1 / speedup:,.1f}x {worse}"
    shown = (
        f"{ratio:,.0f}" if ratio >= 100 else f"{ratio:.{places}f}" if ratio >= 1 else f"{ratio:.3f}"
    )
    return f"{shown} ({word})"


def table_row(
    label: str, mloop: str, peer: str, ratio: str, target: str, met: bool | None
) -> list[str]:
    """One row of the table from its formatted cells; an empty target shows as "-"."""
    return [label, mloop, peer, ratio, target or "-", MET[met]]


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], *, width: int = 150
) -> None:
    """The six-column table, with rich when it is installed (a row is red when its target
    was missed or it failed), else as plain aligned text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        return
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i in (0, 4) else "right")
    for r in rows:
        table.add_row(*r, style="red" if r[5] == "NO" or "FAILED" in r else None)
    Console(width=max(width, shutil.get_terminal_size().columns)).print(table)


def print_notes(notes: Iterable[str], failures: Iterable[tuple[str, str]] = ()) -> None:
    """The lines under the table: each note, then each failure as (what, its message)."""
    for n in notes:
        print(f"  note: {n}")
    for what, err in failures:
        print(f"  FAILED {what}: {err.splitlines()[0]}")


def write_json(
    path: Path,
    *,
    script: str,
    argv: Sequence[str] | None,
    machine: dict[str, Any],
    sizes: Any,
    figures: Mapping[str, Any],
    computed: Sequence[str],
    details: dict[str, Any],
) -> None:
    """Every figure (its fields and the ``computed`` properties), the raw details, the sizes,
    the machine and the command line, as JSON."""
    out = {
        "machine": machine,
        "command": " ".join(
            [
                ".venv/bin/python",
                f"benchmarks/{Path(script).name}",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "sizes": dataclasses.asdict(sizes),
        "figures": {
            k: {**dataclasses.asdict(f), **{name: getattr(f, name) for name in computed}}
            for k, f in figures.items()
        },
        "details": details,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    log(f"figures written to {path}")
