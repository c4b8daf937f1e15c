"""Tracking follows the current store: the fluent API, ``Client()`` and ``get_tracking_uri``,
in the block, thread or task that set it."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from pathlib import Path
from typing import Any

import pytest

import mloop
import mloop.store
from mloop.errors import InvalidArgument, RunNotFound
from mloop.tracking import Client, current_client


def test_fluent_and_client_follow_set_tracking_uri(elsewhere: Any) -> None:
    assert mloop.get_tracking_uri() == elsewhere.uri
    mloop.set_experiment("churn")
    with mloop.start_run() as run:
        mloop.log_metric("auc", 0.9)
    client = Client()
    assert client.tracking_uri == elsewhere.uri
    got = client.get_run(run.run_id)
    assert got.data.metrics["auc"].value == 0.9
    assert client.get_experiment(got.info.experiment_id).name == "churn"


def test_one_store_per_uri(mloop_home: Path) -> None:
    """The context, Client() and the fluent client share one store object."""
    ctx = mloop.store.current()
    assert Client().store is ctx.store
    assert current_client().store is ctx.store
    assert Client(ctx.settings.tracking_uri).store is ctx.store


def test_a_use_block_scopes_the_store(mloop_home: Path, tmp_path: Path) -> None:
    scoped_uri = f"sqlite:///{tmp_path / 'scoped.db'}"
    mloop.set_experiment("outside")
    with mloop.store.use(scoped_uri) as ctx:
        assert ctx.settings.tracking_uri == scoped_uri
        assert mloop.get_tracking_uri() == scoped_uri
        with mloop.start_run() as inner:
            pass
        # the experiment chosen outside belongs to the other store
        assert Client().get_experiment(inner.info.experiment_id).name == "default"
        with pytest.raises(InvalidArgument, match="use"):
            mloop.set_tracking_uri("sqlite:///x.db")
    assert mloop.get_tracking_uri() != scoped_uri
    with pytest.raises(RunNotFound):
        Client().get_run(inner.run_id)
    assert Client(scoped_uri).get_run(inner.run_id).info.run_id == inner.run_id


def test_threads_and_tasks_see_the_context_they_were_started_with(
    mloop_home: Path, tmp_path: Path
) -> None:
    scoped_uri = f"sqlite:///{tmp_path / 'scoped.db'}"
    default_uri = mloop.get_tracking_uri()
    seen: dict[str, str] = {}

    def record(name: str) -> None:
        seen[name] = mloop.store.current().settings.tracking_uri

    async def in_tasks() -> None:
        await asyncio.gather(asyncio.create_task(_async_record(record, "task")))
        await asyncio.to_thread(record, "to_thread")

    with mloop.store.use(scoped_uri):
        copied = threading.Thread(target=contextvars.copy_context().run, args=(record, "copied"))
        plain = threading.Thread(target=record, args=("plain",))
        for th in (copied, plain):
            th.start()
            th.join()
        asyncio.run(in_tasks())
    assert seen == {
        "copied": scoped_uri,
        "task": scoped_uri,
        "to_thread": scoped_uri,
        # a thread started without the context sees the process default, not the block
        "plain": default_uri,
    }


async def _async_record(record: Any, name: str) -> None:
    await asyncio.sleep(0)
    record(name)


def test_set_tracking_uri_needs_no_active_run(mloop_home: Path, tmp_path: Path) -> None:
    with mloop.start_run(), pytest.raises(InvalidArgument, match="active run"):
        mloop.set_tracking_uri(f"sqlite:///{tmp_path / 'x.db'}")


def test_set_tracking_uri_none_goes_back_to_the_environment(
    mloop_home: Path, tmp_path: Path
) -> None:
    default_uri = mloop.get_tracking_uri()
    mloop.set_tracking_uri(f"sqlite:///{tmp_path / 'x.db'}")
    assert mloop.get_tracking_uri() != default_uri
    mloop.set_tracking_uri(None)
    assert mloop.get_tracking_uri() == default_uri
