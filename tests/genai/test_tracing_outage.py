"""Spans written while the server is down wait in the spool and are replayed when it is back."""

from __future__ import annotations

from pathlib import Path

import pytest

import mloop
import mloop.store
from mloop._core import load_settings
from mloop.server import ServerThread, create_app
from mloop.store import SqlStore


@pytest.mark.slow
def test_spans_survive_a_server_outage(tmp_path: Path, mloop_home: Path) -> None:
    backend = SqlStore(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "art"))
    server = ServerThread(create_app(backend)).start()
    port = server.port
    settings = load_settings(
        home=tmp_path / "client-home",
        tracking_uri=server.url,
        spool_retry_s=0.2,
        log_batch_wait_ms=20,
    )
    revived = None
    try:
        with mloop.store.use(settings):
            with mloop.start_span("before"):
                pass
            assert mloop.flush().complete
            server.stop()
            for i in range(5):
                with mloop.start_span(f"during {i}"), mloop.start_span("child"):
                    pass
            status = mloop.flush()
            assert not status.complete and status.spooled > 0  # safe in the spool
            revived = ServerThread(create_app(backend), port=port).start()
            assert mloop.flush(timeout=20).complete
        names = sorted(t.name for t in backend.search_traces())
        assert names == ["before"] + [f"during {i}" for i in range(5)]
        assert all(t.span_count == 2 for t in backend.search_traces() if t.name != "before")
    finally:
        if revived is not None:
            revived.stop()
        backend.close()
