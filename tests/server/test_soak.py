"""A bounded soak (benchmarks/soak.py): both servers under mixed load as real processes, with
0 5xx, every acknowledged write readable afterwards and memory flat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.mark.slow
def test_soak_has_no_server_errors() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", "30"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 5xx" in done.stdout
    assert "not readable afterwards 0" in done.stdout
