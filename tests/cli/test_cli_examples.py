"""The examples run as documented and leave runs the CLI can read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
def test_quickstart(cli: Any, mloop_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=mloop_home.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "mloop runs compare" in done.stdout
    result = cli("runs", "list", "-e", "quickstart", "-o", "metrics.val_loss asc", "--json")
    runs = json.loads(result.stdout)["runs"]
    assert [r["info"]["run_name"] for r in runs] == ["gd-lr0.2", "gd-lr0.05", "gd-lr0.01"]
    assert all(r["info"]["status"] == "FINISHED" for r in runs)
    assert len(runs) == 3
