"""The README's tour runs as written, in order, on the files of examples/tour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mloop_docblocks import ROOT, Block, as_script, blocks, section

README = ROOT / "README.md"
TOUR = ROOT / "examples" / "tour"
#: What the tour writes into its folder; a copy made for a test leaves them out.
GENERATED = ("*.parquet", ".mloop", "checks-draft.yaml", "*.html", "runs.json", "notes.txt")


def tour_blocks() -> list[Block]:
    readme = README.read_text(encoding="utf-8")
    return blocks(section(readme, "<!-- tour:begin -->", "<!-- tour:end -->"))


def test_the_tour_names_its_files_as_they_are() -> None:
    """A YAML block headed ``# <file>`` is that file of examples/tour, word for word."""
    shown = {}
    for block in tour_blocks():
        first = block.text.splitlines()[0]
        if block.lang == "yaml" and first.startswith("# "):
            shown[first[2:].strip()] = block.text
    assert "gate.yaml" in shown
    for name, text in shown.items():
        assert (TOUR / name).read_text(encoding="utf-8") == text, f"README's {name} differs"


def test_the_tour_files_parse() -> None:
    """The files the tour shows but does not run (deploy.yaml) are valid for their commands."""
    from mloop.evaluate import load_gate_policy
    from mloop.serve import load_deploy_policy

    policy = load_deploy_policy(TOUR / "deploy.yaml")
    assert "churn" in policy.models
    gate = load_gate_policy(TOUR / "gate.yaml")
    assert gate.sensitive_columns() == [] and gate.slice_columns() == ["region"]
    skipped = [b for b in tour_blocks() if b.skip]
    assert len(skipped) == 1 and "mloop serve" in skipped[0].text


@pytest.mark.slow
@pytest.mark.timeout(1200)  # about 40 commands; a loaded 2-core machine needs minutes
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(TOUR, tmp_path / "examples" / "tour", ignore=shutil.ignore_patterns(*GENERATED))
    script = as_script([b for b in tour_blocks() if b.lang in ("bash", "python") and not b.skip])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "COLUMNS": "160",
        "NO_COLOR": "1",
        # one thread per BLAS/OpenMP pool: the latency rule measures the model, not contention
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    tour = tmp_path / "examples" / "tour"
    out = done.stdout
    # the gate passed and moved @champion to version 2, naming the data file
    assert "gate passed" in out
    assert "slice[region=eu].recall" in out  # rule text printed as written, not eaten as markup
    assert "holdout.parquet" in (tour / "gate.html").read_text(encoding="utf-8")
    history = subprocess.run(
        ["mloop", "models", "history", "churn", "--json"],
        cwd=tour,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    moves = [e for e in json.loads(history.stdout)["entries"] if e["action"] == "set_alias"]
    assert [(e["after"]["alias"], e["after"]["version"]) for e in moves][-1] == ("champion", 2)
    runs = json.loads((tour / "runs.json").read_text(encoding="utf-8"))["runs"]
    assert {r["info"]["run_name"] for r in runs} >= {"hgb-depth2", "hgb-depth3"}
    assert (tour / "drift.html").is_file() and (tour / "checks-draft.yaml").is_file()
    assert "reproduced: every metric matches" in out
