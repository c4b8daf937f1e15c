"""A real server on an ephemeral 127.0.0.1 port, over a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mloop.server import ServerThread, create_app
from mloop.store import SqlStore, Store


@dataclass
class LiveServer:
    url: str
    client: httpx.Client
    app: FastAPI
    store: Store
    db_uri: str
    artifacts: Path

    def reader(self) -> SqlStore:
        """A second store on the same database, to check what the server stored."""
        return SqlStore(self.db_uri, str(self.artifacts))


StartServer = Callable[..., LiveServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start a server; ``start_server(store_cls=..., **create_app_kwargs)``."""
    stack: list[tuple[ServerThread, httpx.Client, Store]] = []

    def start(store_cls: type[SqlStore] = SqlStore, **app_kwargs: Any) -> LiveServer:
        folder = tmp_path / f"server{len(stack)}"
        folder.mkdir()
        db_uri = f"sqlite:///{folder}/mloop.db"
        artifacts = folder / "artifacts"
        store = store_cls(db_uri, str(artifacts))
        app = create_app(store, **app_kwargs)
        thread = ServerThread(app).start()
        client = httpx.Client(base_url=thread.url, timeout=30)
        stack.append((thread, client, store))
        return LiveServer(thread.url, client, app, store, db_uri, artifacts)

    yield start
    for thread, client, store in reversed(stack):
        client.close()
        thread.stop()
        store.close()


@pytest.fixture
def server(start_server: StartServer) -> LiveServer:
    return start_server()


@pytest.fixture
def run_id(server: LiveServer) -> str:
    exp = server.client.post("/api/v1/experiments", json={"name": "exp"}).json()
    run = server.client.post("/api/v1/runs", json={"experiment_id": exp["experiment_id"]})
    return str(run.json()["info"]["run_id"])
