"""Fixtures: tiny real models saved with ``mloop.models.save``, served by a real uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from mloop_serve_testlib import Doubler, RegistryServer, Served, StartServe, wait_ready
from sklearn.linear_model import LinearRegression, LogisticRegression

import mloop.models
from mloop.serve import create_serve_app
from mloop.server import ServerThread


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``iris``: a classifier on columns a (float64) and b (int64); ``reg``: a regressor on
    the same columns that predicts ``a + 10 * b`` exactly; ``doubler``: a pyfunc that raises
    on 666."""
    root = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=60), "b": rng.integers(0, 3, size=60)})
    labels = (x["a"] > 0).astype(np.int64)
    mloop.models.save(LogisticRegression().fit(x, labels), root / "iris", input_example=x.head(3))
    target = x["a"] + 10 * x["b"]
    mloop.models.save(LinearRegression().fit(x, target), root / "reg", input_example=x.head(3))
    mloop.models.save(Doubler(), root / "doubler", input_example=pd.DataFrame({"x": [1.0, 2.0]}))
    return root


@pytest.fixture
def start_serve() -> Iterator[StartServe]:
    """``start_serve(models, **create_serve_app_kwargs)``: a live server, ready."""
    stack: list[tuple[ServerThread, httpx.Client]] = []

    def start(models: Any, **kwargs: Any) -> Served:
        app = create_serve_app(models, **kwargs)
        thread = ServerThread(app).start()
        client = httpx.Client(base_url=thread.url, timeout=30)
        stack.append((thread, client))
        wait_ready(client)
        return Served(thread.url, client, app)

    yield start
    for thread, client in reversed(stack):
        client.close()
        thread.stop()


@pytest.fixture
def served(start_serve: StartServe, models_dir: Path) -> Served:
    return start_serve(
        [str(models_dir / "iris"), str(models_dir / "reg"), str(models_dir / "doubler")]
    )


@pytest.fixture
def registry_server(
    mloop_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RegistryServer]:
    """The registry behind an HTTP server this test can stop (a registry outage)."""
    from mloop.registry import Registry
    from mloop.server import create_app
    from mloop.store import SqlStore

    backend = SqlStore(f"sqlite:///{tmp_path / 'registry.db'}", str(tmp_path / "reg-artifacts"))
    thread = ServerThread(create_app(backend)).start()
    monkeypatch.setenv("MLOOP_TRACKING_URI", thread.url)
    yield RegistryServer(thread.url, Registry(backend, actor="test"), thread)
    thread.stop()
    backend.close()
