"""The Metaflow side of ``benchmarks/pipeline.py``; runs only inside Metaflow's environment.

Writes two flows into ``--workdir``: a linear chain of ``--steps`` ``@step`` methods between
``start`` and ``end`` (each adds 1 to an artifact, as mloop's steps do), and a 3-step flow
(start, one step, end) for reference. Each is timed as ``python flow.py run`` in a fresh
process, wall clock from spawn to exit, ``--repeats`` times after one untimed run that creates
Metaflow's local datastore. Metadata and datastore are local (``.metaflow/`` in the work
folder); nothing leaves the machine.

Usage::

    python peers/metaflow_pipeline.py run --workdir DIR --steps 20 --repeats 5 --result FILE

Writes one JSON object: ``{"version", "chain": {...}, "three": {...}}`` with each flow's wall
times in seconds, their median, and the value the chain's ``end`` step printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ENV = {
    "METAFLOW_DEFAULT_METADATA": "local",
    "METAFLOW_DEFAULT_DATASTORE": "local",
    "METAFLOW_USER": "bench",
    "USERNAME": "bench",
}


def chain_flow(steps: int) -> str:
    names = [f"s{i:02d}" for i in range(steps)]
    lines = [
        "from metaflow import FlowSpec, step",
        "",
        "",
        "class Chain(FlowSpec):",
        "    @step",
        "    def start(self):",
        "        self.x = 0",
        f"        self.next(self.{names[0]})",
        "",
    ]
    for i, name in enumerate(names):
        nxt = names[i + 1] if i + 1 < len(names) else "end"
        lines += [
            "    @step",
            f"    def {name}(self):",
            "        self.x = self.x + 1",
            f"        self.next(self.{nxt})",
            "",
        ]
    lines += [
        "    @step",
        "    def end(self):",
        "        print('RESULT', self.x)",
        "",
        "",
        'if __name__ == "__main__":',
        "    Chain()",
        "",
    ]
    return "\n".join(lines)


THREE = """\
from metaflow import FlowSpec, step


class Three(FlowSpec):
    @step
    def start(self):
        self.x = 0
        self.next(self.middle)

    @step
    def middle(self):
        self.x = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        print('RESULT', self.x)


if __name__ == "__main__":
    Three()
"""


def time_flow(path: Path, repeats: int) -> dict[str, object]:
    env = {**os.environ, **ENV}
    walls: list[float] = []
    result = None
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(path), "--quiet", "run"],
            cwd=path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{path.name} run failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        for line in (proc.stdout + proc.stderr).splitlines():
            if "RESULT" in line:
                result = int(line.rsplit(None, 1)[-1])
        if i > 0:  # the first run creates the datastore
            walls.append(wall)
        print(f"[metaflow] {path.name} run {i}: {wall:.2f} s", file=sys.stderr, flush=True)
    return {"walls_s": walls, "median_s": statistics.median(walls), "result": result}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["run"])
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--result", type=Path, required=True)
    a = p.parse_args()
    import metaflow

    a.workdir.mkdir(parents=True, exist_ok=True)
    chain = a.workdir / "chain_flow.py"
    chain.write_text(chain_flow(a.steps))
    three = a.workdir / "three_flow.py"
    three.write_text(THREE)
    out = {
        "version": metaflow.__version__,
        "steps": a.steps,
        "chain": time_flow(chain, a.repeats),
        "three": time_flow(three, a.repeats),
    }
    a.result.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
