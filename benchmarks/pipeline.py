"""Pipeline benchmark: mloop pipelines beside Metaflow and plain Ray, on one machine, in one run.

The pipeline is a chain of 20 trivial steps (each adds 1 to an int), generated into a file in
the scratch folder; Metaflow runs the same chain as 20 ``@step`` methods between ``start`` and
``end``. Figures:

1. 20 steps, cold (no cached result), as a fresh ``mloop pipeline run FILE:chain20`` process:
   wall time from spawn to exit, process start included. Each repetition passes a new
   ``--param start=N``, so every step misses the cache, while the database already exists.
   Metaflow: ``python flow.py run``, also a fresh process.
2. The same, fully cached (the same ``start`` again: all 20 steps reused), beside ``mloop
   --help`` in fresh processes of the same run, the two alternated: target at most 1.5x
   ``--help``, in wall time and in CPU seconds of the process (``os.wait4``; on a shared
   machine the CPU figure is the steadier one). Metaflow has no cache across runs, so its
   re-run costs what its cold run does.
3. Per-step overhead, in-process, local engine: (a cold ``mloop.pipeline.run`` - the 20 bare
   function calls) / 20. Metaflow's figure beside it is its marginal cost of a step: (the
   22-step flow - the 3-step flow) / 19. Target: < 20 ms.
4. Per-step time of a fully cached run, in-process.
5. Per-step overhead on a local Ray (``ray.init(num_cpus=2)`` in this process): a cold
   ``mloop.pipeline.run(..., engine="ray")`` beside the same chain of plain ``ray.remote``
   tasks, each minus the bare calls, / 20.
6. 20 steps cold as a fresh ``mloop pipeline run --engine ray`` process (it starts Ray).
7. 3 steps cold, fresh process, mloop and Metaflow (the issue quotes Metaflow at about 2.4 s).
8. Process start alone: ``mloop --version``, for reading the fresh-process figures.

Each figure is the median of ``repeats`` timings after one untimed warm-up. Metaflow runs in
its own environment (``benchmarks/.venvs/metaflow``, built on first use), with its local
metadata and datastore in the scratch folder.

Usage::

    .venv/bin/python benchmarks/pipeline.py [--quick] [--skip-metaflow] [--json PATH]
        [--only cli,inprocess,ray,metaflow] [--keep]

Exit status: 0 when every figure was measured (targets met or not: the table says), 1 when a
measurement failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from _peers import ensure_peer, peer_version, run_peer
from _process import loadavg, measure
from _process import run as run_process
from _report import (
    BenchError,
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

PEER_SCRIPT = BENCH / "peers" / "metaflow_pipeline.py"
WORK = BENCH / ".work" / "pipeline"
STEPS = 20
TARGET_CACHED_HELP_RATIO = 1.5  # a fully cached re-run, fresh process, vs `mloop --help`
TARGET_STEP_MS = 20.0
PARTS = ("cli", "inprocess", "ray", "metaflow")
CHILD_TIMEOUT_S = 300


@dataclass(frozen=True)
class Sizes:
    repeats: int = 5
    ray_cli_repeats: int = 1


FULL = Sizes()
QUICK = Sizes(repeats=2, ray_cli_repeats=1)


# -- the pipeline ------------------------------------------------------------------------------


def pipeline_source(steps: int) -> str:
    """``chain<steps>`` and ``chain3``: chains of distinct steps, each adding 1."""
    lines = ["from mloop.pipeline import pipeline, step", ""]
    for i in range(steps):
        lines += ["", "@step", f"def s{i:02d}(x: int) -> int:", "    return x + 1", ""]
    for name, n in ((f"chain{steps}", steps), ("chain3", 3)):
        lines += ["", "@pipeline", f"def {name}(start: int = 0) -> int:", "    x = start"]
        lines += [f"    x = s{i:02d}(x)" for i in range(n)]
        lines += ["    return x", ""]
    return "\n".join(lines)


def load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("bench_chain", path)
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- timing ------------------------------------------------------------------------------------


def median_of(fn: Callable[[int], Any], repeats: int, *, warmup: bool = True) -> list[float]:
    """Wall seconds of ``fn(i)`` for i in 0..repeats-1, after one untimed ``fn(-1)``."""
    if warmup:
        fn(-1)
    walls = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        walls.append(time.perf_counter() - t0)
    return walls


def bare_seconds(steps: Sequence[Any], rounds: int = 2000) -> float:
    """Median wall seconds of the chain of bare calls (the steps' own work)."""
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        x = 0
        for s in steps:
            x = s(x)
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1e9


@dataclass
class Figure:
    key: str
    label: str
    unit: str  # "s" or "ms"
    target: str = ""
    mloop: float | None = None
    peer: float | None = None
    peer_name: str = "Metaflow"
    met: bool | None = None
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float | None:
        """How many times faster mloop is than the peer."""
        if self.mloop is None or self.peer is None or self.mloop <= 0:
            return None
        return self.peer / self.mloop


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "ms":
        return f"{v * 1000:,.1f} ms" if v < 1 else f"{v * 1000:,.0f} ms"
    return f"{v:,.2f} s"


class Bench:
    def __init__(self, sizes: Sizes, folder: Path, with_metaflow: bool, only: set[str]) -> None:
        self.sizes = sizes
        self.folder = folder
        self.with_metaflow = with_metaflow
        self.only = only
        self.fig: dict[str, Figure] = {}
        self.details: dict[str, Any] = {}
        self.flow = folder / "flows" / "chain.py"
        self.flow.parent.mkdir(parents=True, exist_ok=True)
        self.flow.write_text(pipeline_source(STEPS))
        self._param = 1_000_000  # a new start value for every cold run: every step misses
        self._cli = self._find_cli()

    def wants(self, part: str) -> bool:
        return not self.only or part in self.only

    def add(self, fig: Figure) -> Figure:
        self.fig[fig.key] = fig
        return fig

    def fail(self, key: str) -> Callable[[str], None]:
        def record(msg: str) -> None:
            self.fig[key].error = msg

        return record

    def fresh_param(self) -> int:
        # Spaced by more than the chain's length: the steps share their code, so a start value
        # one apart would find steps 2..19 cached from the previous run, shifted by one.
        self._param += 1000
        return self._param

    # -- fresh processes -------------------------------------------------------------------------

    def _find_cli(self) -> list[str]:
        mloop = Path(sys.executable).parent / "mloop"
        probe = subprocess.run(
            [str(mloop), "pipeline", "--help"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return [str(mloop)]
        # `mloop pipeline` not registered in this checkout: the same command through its module.
        log("`mloop pipeline` is not registered here; timing mloop.cli._pipeline's app instead")
        return [sys.executable, "-c", "from mloop.cli._pipeline import app; app()"]

    def cli_run(self, target: str, *extra: str) -> dict[str, Any]:
        cmd = (
            [*self._cli, "pipeline", "run"]
            if self._cli[0].endswith("mloop")
            else [*self._cli, "run"]
        )
        proc = run_process(
            [*cmd, f"{self.flow}:{target}", *extra, "--json"],
            cwd=self.folder,
            timeout_s=CHILD_TIMEOUT_S,
        )
        out: dict[str, Any] = json.loads(proc.stdout)
        out["_cpu_s"] = proc.cpu_s
        return out

    def cli(self) -> None:
        r = self.sizes.repeats
        cold = self.add(Figure("cold_cli", f"{STEPS} steps, cold, fresh process", "s"))
        cached = self.add(
            Figure(
                "cached_cli",
                f"{STEPS} steps, fully cached re-run, fresh process",
                "s",
                f"<= {TARGET_CACHED_HELP_RATIO}x `mloop --help`",
                peer_name="`mloop --help`",
            )
        )
        cached_cpu = self.add(
            Figure(
                "cached_cli_cpu",
                f"{STEPS} steps, fully cached re-run, fresh process, CPU seconds",
                "s",
                f"<= {TARGET_CACHED_HELP_RATIO}x `mloop --help`",
                peer_name="`mloop --help`",
            )
        )
        three = self.add(Figure("three_cli", "3 steps, cold, fresh process", "s"))
        start = self.add(
            Figure("start", "process start: `mloop --version`", "s", peer_name="Metaflow")
        )
        with recording("fresh-process runs", self.fail("cold_cli")):
            statuses: dict[str, list[str]] = {}

            def cold_run(_i: int) -> None:
                out = self.cli_run(f"chain{STEPS}", "--param", f"start={self.fresh_param()}")
                statuses["cold"] = [s["status"] for s in out["steps"]]

            walls = median_of(cold_run, r)
            cold.mloop = statistics.median(walls)
            self.details["cold_cli_s"] = walls
            base = self.fresh_param()
            self.cli_run(f"chain{STEPS}", "--param", f"start={base}")  # fills the cache

            cpus: list[float] = []

            def cached_run(_i: int) -> None:
                out = self.cli_run(f"chain{STEPS}", "--param", f"start={base}")
                statuses["cached"] = [s["status"] for s in out["steps"]]
                if out["output"] != base + STEPS:
                    raise BenchError(f"wrong output {out['output']!r}")
                cpus.append(out["_cpu_s"])

            load = loadavg()
            helped = measure([*self._cli, "--help"], repeats=0, cwd=self.folder)  # warm-up
            walls = []
            for i in range(r):  # alternated: both sides see the same load
                t0 = time.perf_counter()
                cached_run(i)
                walls.append(time.perf_counter() - t0)
                helped.samples.append(run_process([*self._cli, "--help"], cwd=self.folder))
            cached.mloop = statistics.median(walls)
            cached.peer = helped.wall_s
            cached.met = cached.mloop <= TARGET_CACHED_HELP_RATIO * cached.peer
            cached_cpu.mloop = statistics.median(cpus)
            cached_cpu.peer = helped.cpu_s
            cached_cpu.met = cached_cpu.mloop <= TARGET_CACHED_HELP_RATIO * cached_cpu.peer
            cached.notes.append(
                f"fully cached re-run {cached.mloop:.2f} s vs `mloop --help` {helped.wall_s:.2f} s "
                f"({cached.mloop / helped.wall_s:.2f}x); CPU {cached_cpu.mloop:.2f} s vs "
                f"{helped.cpu_s:.2f} s ({cached_cpu.mloop / helped.cpu_s:.2f}x); load average "
                f"{load} before, {loadavg()} after"
            )
            self.details["cached_cli_s"] = walls
            self.details["cached_cli_cpu_s"] = cpus
            self.details["help_cli_s"] = [x.wall_s for x in helped.samples]
            self.details["help_cli_cpu_s"] = [x.cpu_s for x in helped.samples]
            if set(statuses["cold"]) != {"done"} or set(statuses["cached"]) != {"cached"}:
                raise BenchError(f"unexpected step statuses: {statuses}")
            cached.notes.append(
                f"cold run: all {STEPS} steps ran; re-run: all {STEPS} came from the cache"
            )
            walls = median_of(
                lambda _i: self.cli_run("chain3", "--param", f"start={self.fresh_param()}"),
                r,
            )
            three.mloop = statistics.median(walls)
            self.details["three_cli_s"] = walls
        with recording("process start", self.fail("start")):
            mloop = Path(sys.executable).parent / "mloop"
            walls = median_of(
                lambda _i: subprocess.run(
                    [str(mloop), "--version"], check=True, capture_output=True, timeout=60
                ),
                r,
            )
            start.mloop = statistics.median(walls)
            start.peer_name = ""

    # -- in-process --------------------------------------------------------------------------

    def inprocess(self) -> None:
        import mloop.pipeline

        module = load_module(self.flow)
        pipe = getattr(module, f"chain{STEPS}")
        steps = [getattr(module, f"s{i:02d}") for i in range(STEPS)]
        r = self.sizes.repeats
        over = self.add(
            Figure(
                "step_overhead",
                "per-step overhead, local engine, in-process",
                "ms",
                f"< {TARGET_STEP_MS:.0f} ms",
            )
        )
        cached = self.add(Figure("step_cached", "per-step time, fully cached, in-process", "ms"))
        with recording("in-process runs", self.fail("step_overhead")):
            bare = bare_seconds(steps)
            self.details["bare_chain_s"] = bare

            def cold(_i: int) -> None:
                res = mloop.pipeline.run(pipe, {"start": self.fresh_param()})
                if {s.status for s in res.steps} != {"done"}:
                    raise BenchError(f"a cold run reused results: {[s.status for s in res.steps]}")

            walls = median_of(cold, r)
            self.details["cold_inprocess_s"] = walls
            over.mloop = (statistics.median(walls) - bare) / STEPS
            over.met = over.mloop * 1000 < TARGET_STEP_MS
            over.notes.append(
                f"in-process: cold {STEPS}-step run {statistics.median(walls) * 1000:,.0f} ms, "
                f"the bare calls {bare * 1e6:,.1f} us"
            )
            base = self.fresh_param()

            def warm(_i: int) -> None:
                res = mloop.pipeline.run(pipe, {"start": base})
                if _i >= 0 and {s.status for s in res.steps} != {"cached"}:
                    raise BenchError("a re-run ran steps again")

            walls = median_of(warm, r)
            self.details["cached_inprocess_s"] = walls
            cached.mloop = statistics.median(walls) / STEPS

    # -- Ray ---------------------------------------------------------------------------------

    def ray(self) -> None:
        import ray

        import mloop.pipeline

        module = load_module(self.flow)
        pipe = getattr(module, f"chain{STEPS}")
        steps = [getattr(module, f"s{i:02d}") for i in range(STEPS)]
        r = self.sizes.repeats
        over = self.add(
            Figure(
                "ray_overhead",
                "per-step overhead on local Ray, in-process",
                "ms",
                peer_name="ray.remote",
            )
        )
        cli = self.add(
            Figure("ray_cli", f"{STEPS} steps, cold, `--engine ray`, fresh process", "s")
        )
        with recording("Ray in-process", self.fail("ray_overhead")):
            bare = bare_seconds(steps)
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            try:

                @ray.remote
                def inc(x: int) -> int:
                    return x + 1

                def plain(_i: int) -> None:
                    ref: Any = 0
                    for _ in range(STEPS):
                        ref = inc.remote(ref)
                    if ray.get(ref) != STEPS:
                        raise BenchError("plain Ray chain gave a wrong result")

                def on_ray(_i: int) -> None:
                    res = mloop.pipeline.run(pipe, {"start": self.fresh_param()}, engine="ray")
                    if {s.status for s in res.steps} != {"done"}:
                        raise BenchError(f"Ray run: {[s.status for s in res.steps]}")

                plain_walls = median_of(plain, r)
                ray_walls = median_of(on_ray, r)
            finally:
                ray.shutdown()
            over.mloop = (statistics.median(ray_walls) - bare) / STEPS
            over.peer = (statistics.median(plain_walls) - bare) / STEPS
            self.details["ray_inprocess_s"] = ray_walls
            self.details["ray_plain_s"] = plain_walls
            over.notes.append(
                f"Ray: mloop {STEPS}-step chain {statistics.median(ray_walls):.2f} s, the same "
                f"chain of plain ray.remote tasks {statistics.median(plain_walls):.3f} s"
            )
        with recording("Ray fresh process", self.fail("ray_cli")):
            walls = median_of(
                lambda _i: self.cli_run(
                    f"chain{STEPS}", "--engine", "ray", "--param", f"start={self.fresh_param()}"
                ),
                self.sizes.ray_cli_repeats,
                warmup=False,
            )
            cli.mloop = statistics.median(walls)
            self.details["ray_cli_s"] = walls

    # -- Metaflow ----------------------------------------------------------------------------

    def metaflow(self) -> None:
        key = "cold_cli" if "cold_cli" in self.fig else "three_cli"
        with recording("Metaflow", self.fail(key)):
            out = run_peer(
                "metaflow",
                PEER_SCRIPT,
                [
                    "run",
                    "--workdir",
                    str(self.folder / "metaflow"),
                    "--steps",
                    str(STEPS),
                    "--repeats",
                    str(self.sizes.repeats),
                ],
                cwd=self.folder,
                timeout_s=1800,
            )
            if out["chain"]["result"] != STEPS:
                raise BenchError(f"Metaflow's chain gave {out['chain']['result']}")
            self.details["metaflow"] = out
            chain, three = out["chain"]["median_s"], out["three"]["median_s"]
            if "cold_cli" not in self.fig:
                self.add(Figure("cold_cli", f"{STEPS} steps, cold, fresh process", "s"))
            for k in ("cold_cli", "cached_cli"):
                if k in self.fig:
                    self.fig[k].peer = chain
            if "cached_cli" in self.fig:
                self.fig["cached_cli"].notes.append(
                    "Metaflow keeps no results across runs: its re-run is a cold run"
                )
            if "three_cli" in self.fig:
                self.fig["three_cli"].peer = three
            else:
                self.add(Figure("three_cli", "3 steps, cold, fresh process", "s", peer=three))
            # Its flow has start and end around the 20 steps: 22 steps against 3.
            per_step = (chain - three) / (STEPS + 2 - 3)
            if "step_overhead" in self.fig:
                self.fig["step_overhead"].peer = per_step
                self.fig["step_overhead"].notes.append(
                    f"Metaflow per step: (its {STEPS + 2}-step flow {chain:.2f} s - its 3-step "
                    f"flow {three:.2f} s) / {STEPS + 2 - 3}, each step a new process"
                )

    def run(self) -> None:
        if self.wants("cli"):
            self.cli()
        if self.wants("inprocess"):
            self.inprocess()
        if self.wants("ray"):
            self.ray()
        if self.with_metaflow and self.wants("metaflow"):
            self.metaflow()


# -- output ------------------------------------------------------------------------------------

HEADER = ["figure", "mloop", "peer", "ratio (mloop/peer)", "target (mloop)", "met?"]


def rows(bench: Bench) -> list[list[str]]:
    out = []
    for f in bench.fig.values():
        sp = f.speedup
        ratio = "-"
        if sp is not None and f.mloop is not None and f.peer is not None:
            word = f"{sp:,.1f}x faster" if sp >= 1 else f"{1 / sp:,.1f}x slower"
            ratio = f"{f.mloop / f.peer:.3f} ({word})"
        mloop = "FAILED" if f.error and f.mloop is None else fmt(f.mloop, f.unit)
        peer = f"{fmt(f.peer, f.unit)} ({f.peer_name})" if f.peer is not None else "-"
        out.append(table_row(f.label, mloop, peer, ratio, f.target, f.met))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(
        "Pipeline benchmark: mloop vs Metaflow and plain Ray (see benchmarks/README.md).",
        peer="metaflow",
        parts=PARTS,
        keep=True,
    )
    a = parse(p, argv)
    sizes = QUICK if a.quick else FULL
    try:
        import ray

        info = machine_info(ray=ray.__version__)
        info["loadavg_1m"] = load_average()
        with_metaflow = not a.skip_metaflow
        if with_metaflow and (not a.only or "metaflow" in a.only):
            ensure_peer("metaflow")
            info["metaflow"] = peer_version("metaflow", "metaflow")
        with scratch(WORK / f"run-{os.getpid()}", keep=a.keep) as folder:
            bench = Bench(sizes, folder, with_metaflow, a.only)
            run_logged(info, bench.run)
    except KeyboardInterrupt:
        return interrupted()
    print()
    title = (
        f"mloop {info['mloop']} vs Metaflow {info.get('metaflow', '(skipped)')}: a {STEPS}-step "
        f"pipeline, {info['nproc']} CPUs, Python {info['python']}"
        + (" [--quick sizes]" if a.quick else "")
    )
    print_table(title, HEADER, rows(bench), width=150)
    for f in bench.fig.values():
        print_notes(f.notes, [(f.label, f.error)] if f.error else [])
    if a.json:
        write_json(
            a.json,
            script=__file__,
            argv=argv,
            machine=info,
            sizes=sizes,
            figures=bench.fig,
            computed=("speedup",),
            details=bench.details,
        )
    return 1 if any(f.error for f in bench.fig.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
