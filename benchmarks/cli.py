"""CLI start-up benchmark: ``mloop --help`` beside ``mlflow --help``, each a fresh process.

What a user waits for before any command does its work. The test suite keeps the cause in
check without a stopwatch (tests/cli/test_cli_main.py: no heavy module, a module budget); the
time itself is measured here.

Figures (median of ``repeats`` runs after one untimed warm-up, which also fills the bytecode
cache; wall time from spawn to exit):

1. ``mloop --help`` and ``mlflow --help`` (MLflow in its own environment, built on first use).
2. ``mloop --version``: the interpreter and the CLI package alone, for reading figure 1.
3. ``python -c pass`` in mloop's environment: the interpreter alone.

Usage::

    .venv/bin/python benchmarks/cli.py [--quick] [--skip-mlflow] [--json PATH]

Exit status: 0 when every figure was measured (targets met or not: the table says), 1 when a
measurement failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _peers import PEER_ENV, ensure_peer, peer_version, venv_bin
from _process import ProcessFailed, loadavg, measure
from _report import (
    BenchError,
    fmt_ratio,
    interrupted,
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

MLOOP = Path(sys.executable).with_name("mloop")
TARGET_HELP_S = 1.0
HEADER = ["figure", "mloop", "MLflow", "ratio (mloop / MLflow)", "target (mloop)", "met?"]


@dataclass
class Sizes:
    repeats: int


@dataclass
class Figure:
    label: str
    mloop_s: float | None = None
    peer_s: float | None = None
    target_s: float | None = None
    error: str = ""


def time_process(argv: Sequence[str], repeats: int, env: dict[str, str]) -> float:
    """Median wall seconds of ``argv`` from spawn to exit, after one untimed run."""
    try:
        return measure(argv, repeats=repeats, env=env, timeout_s=120).wall_s
    except ProcessFailed as exc:
        raise BenchError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(parser("CLI start-up: mloop --help vs mlflow --help", peer="mlflow"), argv)
    sizes = Sizes(repeats=3 if a.quick else 11)
    env = {**os.environ, **PEER_ENV, "NO_COLOR": "1"}
    figures = {
        "help": Figure("`--help`, fresh process", target_s=TARGET_HELP_S),
        "version": Figure("`mloop --version` (CLI package only)"),
        "python": Figure("`python -c pass` (the interpreter)"),
    }
    failures: list[tuple[str, str]] = []
    info = machine_info()
    versions: dict[str, str] = {}

    def run() -> None:
        info["load_before"] = loadavg()
        f = figures["help"]
        with recording("mloop --help", lambda e: failures.append(("mloop --help", e))):
            f.mloop_s = time_process([str(MLOOP), "--help"], sizes.repeats, env)
            log(f"mloop --help: {f.mloop_s * 1000:.0f} ms")
        if not a.skip_mlflow:
            with recording("mlflow --help", lambda e: failures.append(("mlflow --help", e))):
                ensure_peer("mlflow")
                versions["mlflow"] = peer_version("mlflow", "mlflow")
                f.peer_s = time_process(
                    [str(venv_bin("mlflow", "mlflow")), "--help"], sizes.repeats, env
                )
                log(f"mlflow --help: {f.peer_s * 1000:.0f} ms")
        with recording("mloop --version", lambda e: failures.append(("mloop --version", e))):
            figures["version"].mloop_s = time_process([str(MLOOP), "--version"], sizes.repeats, env)
        with recording("python", lambda e: failures.append(("python -c pass", e))):
            figures["python"].mloop_s = time_process(
                [sys.executable, "-c", "pass"], sizes.repeats, env
            )
        info["load_after"] = loadavg()

    try:
        run_logged(info, run)
    except KeyboardInterrupt:
        return interrupted()
    info.update(versions)

    def ms(s: float | None) -> str:
        return "-" if s is None else f"{s * 1000:,.0f} ms"

    rows = []
    for f in figures.values():
        ratio = f.mloop_s / f.peer_s if f.mloop_s and f.peer_s else None
        met = None if f.target_s is None or f.mloop_s is None else f.mloop_s <= f.target_s
        rows.append(
            table_row(
                f.label,
                ms(f.mloop_s),
                ms(f.peer_s),
                fmt_ratio(ratio, 1 / ratio if ratio else None),
                f"<= {ms(f.target_s)}" if f.target_s else "",
                met,
            )
        )
    print_table(f"CLI start-up (median of {sizes.repeats} runs)", HEADER, rows)
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
            figures=figures,
            computed=[],
            details={},
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
