"""A fully cached run on SQLite is recorded in one transaction, without opening the store: the
same runs, tags and params as the loop records, and none of the store's heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.pipeline.conftest import client, statuses

import mloop.pipeline as mp
import mloop.tracking as tracking


@mp.step
def load(n: int) -> list[int]:
    return list(range(n))


@mp.step
def total(data: list[int], k: int) -> int:
    return sum(data) * k


@mp.pipeline
def flow(n: int = 3, k: int = 2) -> dict[str, int]:
    data = load(n)
    return {"a": total(data, k), "b": total(data, k + 1)}


def _parent(result: Any) -> tuple[Any, ...]:
    """What the store holds for a pipeline's run, less its id and clocks."""
    run = client().get_run(result.run_id)
    info = run.info
    assert info.start_time <= (info.end_time or 0)
    return (
        info.experiment_id,
        info.run_name,
        info.status.value,
        info.user,
        info.parent_run_id,
        run.data.params,
        run.data.tags,
        run.data.metrics,
    )


def _step(result: Any, step_id: str) -> tuple[Any, ...]:
    """What the store holds for a step's nested run, less its id and clocks."""
    run = client().get_run(result.step(step_id).run_id)
    assert run.info.parent_run_id == result.run_id
    assert run.info.start_time <= (run.info.end_time or 0)
    return (run.info.run_name, run.info.status.value, run.info.user, run.data.tags)


def test_a_cached_run_records_what_the_loop_records(mloop_home: Path) -> None:
    first = mp.run(flow, {"n": 4, "k": 2})  # the loop: every step runs
    assert set(statuses(first).values()) == {"done"}
    quick = mp.run(flow, {"n": 4, "k": 2})  # every step cached: one transaction
    assert set(statuses(quick).values()) == {"cached"}
    assert quick.output == first.output == {"a": 12, "b": 18}
    partial = mp.run(flow, {"n": 4, "k": 10})  # the loop again: load cached, the totals run
    assert statuses(partial) == {"load": "cached", "total": "done", "total.1": "done"}
    # the pipeline's run: as the loop recorded it for the same params
    assert _parent(quick) == _parent(first)
    # a cached step's run: as the loop records a cached step
    assert _step(quick, "load") == _step(partial, "load")
    tags = _step(quick, "total")[3]
    assert tags["mloop.step.cached"] == "true"
    assert tags["mloop.step.cached_from"] == first.step("total").run_id
    assert tags["mloop.step.output.sha256"] == first.step("total").output_sha256
    parent = _parent(quick)
    assert parent[5] == {"n": "4", "k": "2"}
    assert parent[6]["mloop.pipeline.name"] == "flow"
    assert "mloop.env.packages_sha256" in parent[6]
    assert "mloop.env.packages" in parent[6]


def test_a_cached_run_nests_in_an_active_run_and_creates_its_experiment(
    mloop_home: Path,
) -> None:
    mp.run(flow, {"n": 5})
    with tracking.start_run(run_name="outer") as outer:
        nested = mp.run(flow, {"n": 5})
    assert client().get_run(nested.run_id).info.parent_run_id == outer.run_id
    elsewhere = mp.run(flow, {"n": 5}, experiment="new-one")
    assert set(statuses(elsewhere).values()) == {"cached"}
    run = client().get_run(elsewhere.run_id)
    assert client().get_experiment(run.info.experiment_id).name == "new-one"


FLOW_FILE = """
from mloop.pipeline import pipeline, step


@step
def inc(x: int) -> int:
    return x + 1


@pipeline
def chain(start: int = 0) -> int:
    return inc(inc(inc(start)))
"""

# What opening the store would import; a cached run needs none of it.
STORE_STACK = (
    "sqlalchemy",
    "alembic",
    "numpy",
    "pandas",
    "mloop.store._sqlstore",
    "mloop.store._entities",
    "mloop.tracking._client",
)


def test_a_cached_cli_run_imports_no_store_stack(mloop_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "chain.py"
    path.write_text(textwrap.dedent(FLOW_FILE))
    code = (
        "import json, sys\n"
        "from mloop.cli import main\n"
        f"sys.argv = ['mloop', 'pipeline', 'run', {f'{path}:chain'!r}, '--json']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(json.dumps([m for m in {STORE_STACK!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    env = {**os.environ, "MLOOP_HOME": str(mloop_home), "NO_COLOR": "1"}
    outs = []
    for _ in range(2):  # cold, then fully cached
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outs.append((json.loads(done.stdout), json.loads(done.stderr.splitlines()[-1])))
    (cold, cold_imports), (cached, cached_imports) = outs
    assert [s["status"] for s in cold["steps"]] == ["done"] * 3
    assert "sqlalchemy" in cold_imports  # the loop opens the store
    assert [s["status"] for s in cached["steps"]] == ["cached"] * 3
    assert cached["output"] == 3
    assert cached_imports == []
    run = client().get_run(cached["run_id"])
    assert run.info.status.value == "FINISHED"
    assert run.data.tags["mloop.pipeline.target"] == f"{path}:chain"
    assert run.data.params == {"start": "0"}
    children = [client().get_run(s["run_id"]) for s in cached["steps"]]
    assert [c.info.parent_run_id for c in children] == [cached["run_id"]] * 3
    assert [c.data.tags["mloop.step.cached_from"] for c in children] == [
        s["run_id"] for s in cold["steps"]
    ]
