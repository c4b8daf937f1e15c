"""The fluent API: ``with mloop.start_run(): mloop.log_metric(...)``.

The active runs form one stack per process (nested runs push onto it), shared by every thread,
so a data-loading thread logs to the run its training loop started. :func:`bind_run` gives one
thread (or asyncio task) a run of its own instead: pipeline steps running side by side each log
to their step's run.

The store is the current one (:func:`mloop.store.current`): new runs go where the innermost
``mloop.store.use`` block or the process default (:func:`set_tracking_uri`) says; a run, once
started, keeps logging to its store. The fluent client and the experiment chosen with
:func:`set_experiment` are kept per store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from mloop._core import Settings, validate_key
from mloop._core._tags import TAG_ERROR
from mloop.errors import (
    InvalidArgument,
    NoActiveRun,
    StoreUnavailable,
)
from mloop.store import ArtifactInfo, Experiment, Run, RunInfo, RunStatus
from mloop.store._context import current, in_scope, set_default
from mloop.tracking._client import Client
from mloop.tracking._context import DEFAULT_EXPERIMENT
from mloop.tracking._writer import METRIC, FlushStatus

_lock = threading.RLock()
_process_stack: list[ActiveRun] = []
# A stack bound to one context (a thread or an asyncio task) by bind_run; None: the process's.
_bound: ContextVar[list[ActiveRun] | None] = ContextVar("mloop_bound_runs", default=None)


@dataclass
class _PerStore:
    """The fluent API's client of one store, and the experiment chosen there."""

    client: Client
    experiment_id: str | None = None


_per_store: dict[tuple[str, str], _PerStore] = {}


def _stack() -> list[ActiveRun]:
    """The active runs of this context: its bound stack, else the process's."""
    bound = _bound.get()
    return _process_stack if bound is None else bound


def _state() -> _PerStore:
    """The fluent state of the current store (its client made on first use)."""
    settings = current().settings
    key = _key(settings)
    found = _per_store.get(key)
    if found is None:
        with _lock:
            found = _per_store.get(key)
            if found is None:
                found = _per_store[key] = _PerStore(Client(settings=settings))
    return found


def _get_client() -> Client:
    return _state().client


def set_tracking_uri(uri: str | None) -> None:
    """Log to another store from now on: make it the process's current store, for every domain
    (runs, models, the registry, datasets, tuning). ``None``: back to the default of the
    environment and ``mloop.toml``.

    Raises:
        InvalidArgument: a run is active, or the call is inside a ``mloop.store.use`` block
            (which decides the store until it ends).

    Example::

        mloop.set_tracking_uri("sqlite:///experiments.db")
    """
    with _lock:
        if _stack():
            raise InvalidArgument("end the active run before changing the tracking URI")
        if in_scope():
            raise InvalidArgument(
                "set_tracking_uri inside a `with mloop.store.use(...)` block: the block decides "
                "the store until it ends; call it outside, or nest another use() block"
            )
        for state in _per_store.values():
            state.client.flush()
        _per_store.clear()
        set_default(tracking_uri=uri)


def get_tracking_uri() -> str:
    """The tracking URI the fluent API logs to (the current store's)."""
    return current().settings.tracking_uri


def set_experiment(name: str | None = None, *, experiment_id: str | None = None) -> Experiment:
    """Make an experiment the one new runs go to, creating it by name if it does not exist.

    Example::

        mloop.set_experiment("churn")
    """
    state = _state()
    client = state.client
    if experiment_id is not None:
        try:
            exp = client.get_experiment(experiment_id)
        except StoreUnavailable as exc:
            if not client._offline.possible:
                raise
            exp = client._offline.experiment_by_id(experiment_id, exc)
    elif name is not None:
        exp = _get_or_create(client, name)
    else:
        raise InvalidArgument("set_experiment needs a name or an experiment_id")
    if exp.lifecycle_stage != "active":
        raise InvalidArgument(
            f"experiment {exp.name!r} is deleted; restore it with "
            f"`mloop experiments restore {exp.experiment_id}` first"
        )
    state.experiment_id = exp.experiment_id
    return exp


def _get_or_create(client: Client, name: str) -> Experiment:
    return client.get_or_create_experiment(name)


class ActiveRun:
    """A run started by :func:`start_run`; a context manager that ends it.

    Leaving the ``with`` block normally ends the run FINISHED; an exception ends it FAILED (the
    error is recorded in the ``mloop.error`` tag), ``KeyboardInterrupt`` ends it KILLED.
    """

    def __init__(self, run: Run, client: Client) -> None:
        self._run = run
        self._client = client
        self._ended = False
        self._heart = _Heartbeat(client, run.info.run_id)

    @property
    def info(self) -> RunInfo:
        return self._run.info

    @property
    def run_id(self) -> str:
        return self._run.info.run_id

    def __repr__(self) -> str:
        return f"ActiveRun(run_id={self.run_id!r}, name={self.info.run_name!r})"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
            self._client.set_tag(self.run_id, TAG_ERROR, f"{exc_type.__name__}: {exc}"[:8000])
        self.end(status)

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """End this run (and pop it, with any runs nested inside it, off the active stack)."""
        if self._ended:
            return
        with _lock:
            stack = _stack()
            if self in stack:
                idx = stack.index(self)
                inner = stack[idx + 1 :]
                del stack[idx:]
            else:
                inner = []
        for child in reversed(inner):
            child.end(status)
        self._ended = True
        self._heart.stop()
        self._client.set_terminated(self.run_id, status)


#: Seconds between two heartbeats of an active run (a sweep marks a run KILLED after a silence
#: of many of these: ``Store.sweep_dead_runs``, ``mloop runs sweep``).
HEARTBEAT_INTERVAL_S = 30.0


class _Heartbeat:
    """A daemon thread telling the store, now and every :data:`HEARTBEAT_INTERVAL_S`, that
    the run's process is alive; a failure is logged and retried at the next beat (the run
    goes on without the store)."""

    def __init__(self, client: Client, run_id: str) -> None:
        self._client = client
        self._run_id = run_id
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="mloop-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while True:
            try:
                self._client.store.heartbeat(self._run_id)
            except Exception as exc:  # the store is down, or does not record heartbeats
                logging.getLogger("mloop.tracking").debug("heartbeat failed: %s", exc)
            if self._stopped.wait(HEARTBEAT_INTERVAL_S):
                return

    def stop(self) -> None:
        self._stopped.set()


def start_run(
    run_id: str | None = None,
    *,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    experiment_id: str | None = None,
) -> ActiveRun:
    """Start a run (or resume one by ``run_id``) and make it the active run.

    Args:
        run_id: resume this run instead of creating one.
        run_name: a name; default a readable random one such as ``brisk-otter-417``.
        nested: start a child of the active run. Without it, starting a run while one is active
            is an error.
        tags: tags to set at once.
        experiment_id: the experiment; default the one chosen with :func:`set_experiment`, or
            ``default``.

    Example::

        with mloop.start_run(run_name="baseline") as run:
            mloop.log_param("lr", 0.1)
            mloop.log_metric("loss", 0.3)
    """
    state = _state()
    client = state.client
    with _lock:
        stack = _stack()
        parent = stack[-1] if stack else None
        if parent is not None and not nested:
            raise InvalidArgument(
                f"run {parent.run_id} is already active: end it first with mloop.end_run(), "
                "or start a child run with start_run(nested=True)"
            )
        if run_id is not None:
            run = client.get_run(run_id)
            if run.info.status is not RunStatus.RUNNING:
                client.store.update_run(run_id, status=RunStatus.RUNNING)
                run = client.store.get_run(run_id)
            if tags:
                client.set_tags(run_id, {str(k): v for k, v in tags.items()})
        else:
            if experiment_id is None:
                if state.experiment_id is None:
                    state.experiment_id = _get_or_create(client, DEFAULT_EXPERIMENT).experiment_id
                experiment_id = state.experiment_id
            run = client.create_run(
                experiment_id,
                run_name=run_name,
                parent_run_id=parent.run_id if parent is not None else None,
                tags={str(k): str(v) for k, v in (tags or {}).items()},
            )
        active = ActiveRun(run, client)
        stack.append(active)
        return active


def active_run() -> ActiveRun | None:
    """The innermost active run, or None."""
    stack = _stack()
    return stack[-1] if stack else None


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run (a no-op when none is active)."""
    run = active_run()
    if run is not None:
        run.end(status)


def _require_run() -> ActiveRun:
    stack = _stack()
    if not stack:
        raise NoActiveRun(
            "no active run: wrap the call in `with mloop.start_run():` or call mloop.start_run()"
        )
    return stack[-1]


def log_param(key: str, value: Any) -> None:
    """Log a param of the active run; params are immutable."""
    run = _require_run()
    run._client.log_param(run.run_id, key, value)


def log_params(params: Mapping[str, Any]) -> None:
    run = _require_run()
    run._client.log_params(run.run_id, params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one metric point to the active run; returns at once (written in the background).

    ``step`` defaults to one past the last step logged for this key (0 first).
    """
    bound = _bound.get()  # _stack(), inlined: this is the hot path
    stack = _process_stack if bound is None else bound
    run = stack[-1] if stack else _require_run()
    client = run._client
    run_id = run._run.info.run_id
    if step is None and type(value) is float:
        # The hot path, inlined: a training loop may call this millions of times.
        key = validate_key(key, "metric key")
        steps = client._steps.get(run_id)
        if steps is None:
            steps = client._steps[run_id] = {}
        step = steps[key] = steps.get(key, -1) + 1
        client._writer.put((METRIC, run_id, key, value, step, time.time_ns() // 1_000_000))
        return
    client.log_metric(run_id, key, value, step)


def log_metrics(
    metrics: Mapping[str, float | Sequence[float] | np.ndarray],
    step: int | Sequence[int] | np.ndarray | None = None,
) -> None:
    """Log several metrics at one step, or whole arrays of points (see Client.log_metrics)."""
    run = _require_run()
    run._client.log_metrics(run.run_id, metrics, step)


def set_tag(key: str, value: Any) -> None:
    run = _require_run()
    run._client.set_tag(run.run_id, key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    run = _require_run()
    run._client.set_tags(run.run_id, tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
    """Store a file or folder with the active run."""
    run = _require_run()
    return run._client.log_artifact(run.run_id, local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
    """Store the contents of a folder with the active run."""
    run = _require_run()
    return run._client.log_artifacts(run.run_id, local_dir, artifact_path)


def flush(timeout: float | None = None) -> FlushStatus:
    """Wait until everything logged is durable (see :class:`FlushStatus`)."""
    return _get_client().flush(timeout=timeout)


@contextmanager
def bind_run(run: Run, client: Client | None = None) -> Iterator[ActiveRun]:
    """Make ``run`` the active run of the calling thread (or asyncio task) only, until the block
    ends; other threads keep the process's active runs. The run is not ended on exit.

    Used where several runs are active at once in one process, each in its own thread, such as
    pipeline steps running side by side.

    Example::

        with bind_run(client.get_run(step_run_id)):
            mloop.log_metric("rows", 1000)  # lands on step_run_id
    """
    active = ActiveRun(run, client if client is not None else _get_client())
    token = _bound.set([active])
    try:
        yield active
    finally:
        _bound.reset(token)


def current_client() -> Client:
    """The client the fluent API logs through: the current store's (made on first use)."""
    return _get_client()


def current_settings() -> Settings:
    """The settings the fluent API logs with: the current store's (without opening it)."""
    return current().settings


def current_experiment_id() -> str | None:
    """The experiment chosen with :func:`set_experiment` in the current store, or None."""
    found = _per_store.get(_key(current().settings))
    return found.experiment_id if found is not None else None


def _key(settings: Settings) -> tuple[str, str]:
    return (settings.tracking_uri, settings.artifacts)


def reset() -> None:
    """End every active run and forget the per-store state (tests call it between tests)."""
    with _lock:
        while _process_stack:
            _process_stack[-1].end()
        _per_store.clear()
