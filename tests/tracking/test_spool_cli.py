"""A store that does not answer: the script says at exit that its records wait in the spool,
and ``mloop sync`` sends them once the store is back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mloop.cli import app
from mloop.tracking._writer import spool_notice

pytestmark = pytest.mark.slow  # a server and a child process

SCRIPT = """\
import sys
from mloop.store import HttpStore
from mloop.tracking._writer import METRIC, AsyncWriter

store = HttpStore(sys.argv[1])
writer = AsyncWriter(store, spool_dir=__import__("pathlib").Path(sys.argv[2]), retry_s=60)
for step in range(3):
    writer.put((METRIC, sys.argv[3], "loss", 1.0 / (step + 1), step, 1_700_000_000_000 + step))
print(writer.flush().spooled)
"""


def test_spooled_records_are_announced_at_exit_and_sent_by_sync(
    live_server: str, tmp_path: Path
) -> None:
    from mloop.store import HttpStore

    server = HttpStore(live_server)
    try:
        check_spool_and_sync(server, live_server, tmp_path)
    finally:
        from mloop.store import _context
        from mloop.tracking import _client

        _client.close_writers()  # the writer `mloop sync` opened in this process
        _context.close_stores()
        server.close()


def check_spool_and_sync(server: Any, live_server: str, tmp_path: Path) -> None:
    run = server.create_run(server.create_experiment("offline").experiment_id, run_name="r")
    with socket.socket() as sock:  # a port nobody listens on: the server is "down"
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}"
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, down, str(home / "spool"), run.info.run_id],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "1"  # the three points, in one batch
    last = done.stderr.strip().splitlines()[-1]
    assert "1 record of logging calls wait in the local spool" in last
    assert f"{down} did not answer" in last and "`mloop sync`" in last

    env = {"MLOOP_HOME": str(home), "MLOOP_TRACKING_URI": live_server, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["sync", "--timeout", "30"], env=env)
    assert result.exit_code == 0, result.output
    assert "spool empty" in result.stdout
    history = server.get_metric_history(run.info.run_id, "loss")
    assert list(history.steps) == [0, 1, 2]


def test_the_notice_counts_and_names_the_folder() -> None:
    line = spool_notice(2, "http://mloop:5000", [os.path.join("/h", "spool", "a.jsonl")])
    assert line.startswith("mloop: 2 records of logging calls wait in the local spool (/h/spool)")
    assert "http://mloop:5000 did not answer" in line
