"""``mloop.Client``: the explicit tracking API, on any store (SQL directly or a shared server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mloop._core import (
    Settings,
    validate_key,
    validate_metric_value,
    validate_param_value,
    validate_tag_value,
)
from mloop._core._tags import TAG_USER
from mloop.errors import (
    ExperimentAlreadyExists,
    ExperimentNotFound,
    InvalidArgument,
    ParamConflict,
    StoreUnavailable,
)
from mloop.store import (
    ArtifactInfo,
    Experiment,
    MetricHistory,
    Run,
    RunInfo,
    RunsPage,
    RunStatus,
    Store,
    ViewType,
)
from mloop.store._context import derive, shared_store
from mloop.tracking._context import run_context
from mloop.tracking._offline import Offline
from mloop.tracking._writer import METRIC, PARAM, TAG, UPDATE, AsyncWriter, FlushStatus

# One background writer per (tracking URI, artifacts) in a process, over the store the current
# context shares for the same pair: the fluent API, every Client and every domain write to one
# store (one connection pool, one SQLite writer) per URI.
_writers: dict[tuple[str, str], AsyncWriter] = {}
_writers_lock = threading.Lock()


def _backend(settings: Settings) -> tuple[Store, AsyncWriter]:
    """The shared store of ``settings`` and the background writer over it."""
    store = shared_store(settings)
    key = (settings.tracking_uri, settings.artifacts)
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None or writer.store is not store:  # first use, or the store was reopened
            writer = _writers[key] = AsyncWriter(
                store,
                batch_size=settings.log_batch_size,
                batch_wait_s=settings.log_batch_wait_ms / 1000,
                queue_size=settings.log_queue_size,
                spool_dir=settings.home / "spool",
                retry_s=settings.spool_retry_s,
            )
        return store, writer


def close_writers(timeout: float = 10.0) -> None:
    """Flush and close every writer (tests call it, with
    :func:`mloop.store._context.close_stores`, between tests)."""
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.close(timeout=timeout)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Client:
    """The explicit tracking API.

    Writes (params, metrics, tags, run status) are asynchronous and batched; reads flush them
    first, so a client always reads its own writes.

    Args:
        tracking_uri: ``sqlite:///...``, ``postgresql://...`` or ``http(s)://host:port``;
            default the current store's (:func:`mloop.store.current`: a ``mloop.store.use``
            block, ``mloop.set_tracking_uri``, ``MLOOP_TRACKING_URI`` / ``mloop.toml`` /
            ``./.mloop/mloop.db``).
        artifacts: the artifact folder or fsspec URL for a SQL store (default: the current
            one).
        settings: full settings, instead of the two above.

    A client shares its store with every other client and context naming the same tracking
    URI and artifacts in the process.

    Example::

        client = mloop.Client()
        exp = client.create_experiment("churn")
        run = client.create_run(exp.experiment_id, run_name="baseline")
        client.log_metric(run.run_id, "auc", 0.91)
        client.set_terminated(run.run_id)
        page = client.search_runs([exp.experiment_id], "metrics.auc > 0.9")
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        artifacts: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        if settings is not None and (tracking_uri is not None or artifacts is not None):
            raise InvalidArgument("Client takes settings or tracking_uri/artifacts, not both")
        self.settings = settings if settings is not None else derive(tracking_uri, artifacts)
        self.store, self._writer = _backend(self.settings)
        # Per-process memory of what this process logged: step counters and params.
        self._steps: dict[str, dict[str, int]] = {}
        self._params: dict[str, dict[str, str]] = {}
        self._offline = Offline(self.settings, self._writer)

    @property
    def tracking_uri(self) -> str:
        return self.settings.tracking_uri

    def __repr__(self) -> str:
        return f"Client({self.store.uri!r})"

    # -- experiments ---------------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        artifact_location: str | None = None,
    ) -> Experiment:
        return self.store.create_experiment(name, tags=tags, artifact_location=artifact_location)

    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment named ``name``, created if missing (safe when several processes race).

        When a tracking server does not answer, a placeholder that runs can be started in
        offline (they are created, with the experiment, by ``mloop sync``)."""
        try:
            return self.get_experiment_by_name(name)
        except StoreUnavailable as exc:
            if not self._offline.possible:
                raise
            return self._offline.experiment(name, exc)
        except ExperimentNotFound:
            try:
                return self.create_experiment(name)
            except ExperimentAlreadyExists:  # another process created it meanwhile
                return self.get_experiment_by_name(name)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment:
        return self.store.get_experiment_by_name(name)

    def list_experiments(self, view: ViewType | str = ViewType.ACTIVE) -> list[Experiment]:
        return self.store.list_experiments(view)

    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        return self.store.rename_experiment(experiment_id, new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.store.set_experiment_tag(experiment_id, key, value)

    # -- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        capture_context: bool = True,
    ) -> Run:
        """Start a run. With ``capture_context``, records git commit, user, host, Python, entry
        point and the installed-packages hash as ``mloop.*`` tags."""
        all_tags = (
            run_context(
                top_level=parent_run_id is None, reproduces=self.settings.reproduce_of or None
            )
            if capture_context
            else {}
        )
        all_tags.update(tags or {})
        if not self._offline.depends_on(experiment_id, parent_run_id):
            try:
                return self.store.create_run(
                    experiment_id,
                    run_name=run_name,
                    parent_run_id=parent_run_id,
                    tags=all_tags,
                    user=all_tags.get(TAG_USER, ""),
                )
            except StoreUnavailable as exc:
                if not self._offline.possible:
                    raise
                self._offline.announce(exc)
        return self._offline.create_run(
            experiment_id,
            run_name=run_name,
            parent_run_id=parent_run_id,
            tags=all_tags,
            user=all_tags.get(TAG_USER, ""),
        )

    def get_run(self, run_id: str) -> Run:
        self.flush()
        return self.store.get_run(run_id)

    def set_terminated(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        end_time: int | None = None,
        *,
        wait: bool = True,
    ) -> None:
        """End a run; waits until everything logged to it is durable.

        ``wait=False`` queues the end behind what was logged to the run and returns at once (for
        many short runs, such as pipeline steps, ended together by one :meth:`flush`).
        """
        try:
            status_v = RunStatus(status)
        except ValueError:
            raise InvalidArgument(f"unknown run status {status!r}") from None
        self._writer.put(
            (UPDATE, run_id, {"status": status_v.value, "end_time": end_time or _now_ms()})
        )
        if wait:
            self._writer.flush()
        self._steps.pop(run_id, None)
        self._params.pop(run_id, None)

    def update_run(self, run_id: str, *, run_name: str | None = None) -> RunInfo:
        self.flush()
        return self.store.update_run(run_id, run_name=run_name)

    def delete_run(self, run_id: str) -> None:
        self.flush()
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    # -- logging (asynchronous) ----------------------------------------------------------------

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Params are immutable: logging another value for a key is an error."""
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        known = self._params.setdefault(run_id, {})
        ops = []
        for k, v in params.items():
            k = validate_key(k, "param key")
            text = validate_param_value(k, v)
            old = known.get(k)
            if old is not None and old != text:
                raise ParamConflict(
                    f"param {k!r} of run {run_id} is {old!r}; it cannot change to {text!r} "
                    "(params are immutable: log a new run, or use a tag or a metric)",
                    details={"run_id": run_id, "key": k},
                )
            known[k] = text
            ops.append((PARAM, run_id, k, text))
        self._writer.put_many(ops)

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Log one point. ``step`` defaults to one past the last step this process logged for
        the key (0 first); ``timestamp`` to now, in ms. Returns at once; the point is written in
        the background."""
        key = validate_key(key, "metric key")
        if type(value) is not float:
            value = validate_metric_value(key, value)
        steps = self._steps.get(run_id)
        if steps is None:
            steps = self._steps[run_id] = {}
        if step is None:
            step = steps.get(key, -1) + 1
        elif type(step) is not int:
            step = _as_step(step)
        steps[key] = step
        if timestamp is None:
            timestamp = time.time_ns() // 1_000_000
        elif type(timestamp) is not int:
            timestamp = _as_step(timestamp)
        self._writer.put((METRIC, run_id, key, value, step, timestamp))

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, Any],
        step: int | Sequence[int] | np.ndarray | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Log several metrics at one step, or whole series at once.

        A value may be a number (one point) or an array of numbers (one point per element, at
        the steps given by ``step`` as an array of the same length, or consecutive steps after
        the last one logged).

        Example::

            client.log_metrics(run_id, {"loss": 0.3, "acc": 0.9}, step=10)
            client.log_metrics(run_id, {"loss": np.array(losses)})  # steps 0..n-1
        """
        ts = timestamp if timestamp is not None else _now_ms()
        steps = self._steps.setdefault(run_id, {})
        ops: list[tuple[Any, ...]] = []
        for key, value in metrics.items():
            key = validate_key(key, "metric key")
            if isinstance(value, np.ndarray | list | tuple):
                arr = np.asarray(value)
                if arr.ndim != 1 or not (
                    np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
                ):
                    raise InvalidArgument(
                        f"metric {key!r}: an array of values must be one-dimensional and numeric"
                    )
                arr = arr.astype(np.float64)
                if step is None:
                    first = steps.get(key, -1) + 1
                    step_arr = np.arange(first, first + len(arr), dtype=np.int64)
                elif isinstance(step, int):
                    step_arr = np.full(len(arr), step, dtype=np.int64)
                else:
                    step_arr = np.asarray(step)
                    if step_arr.shape != arr.shape or not np.issubdtype(step_arr.dtype, np.integer):
                        raise InvalidArgument(
                            f"metric {key!r}: step must be an integer array of the values' "
                            f"length {len(arr)}"
                        )
                if len(arr):
                    steps[key] = int(step_arr[-1])
                ops.extend(
                    (METRIC, run_id, key, v, s, ts)
                    for v, s in zip(arr.tolist(), step_arr.tolist(), strict=True)
                )
            else:
                v = validate_metric_value(key, value)
                if step is None:
                    s = steps.get(key, -1) + 1
                elif isinstance(step, int) and not isinstance(step, bool):
                    s = step
                else:
                    raise InvalidArgument("step must be an integer when values are scalars")
                steps[key] = s
                ops.append((METRIC, run_id, key, v, s, ts))
        self._writer.put_many(ops)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.set_tags(run_id, {key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        ops = []
        for k, v in tags.items():
            k = validate_key(k, "tag key")
            ops.append((TAG, run_id, k, validate_tag_value(k, v)))
        self._writer.put_many(ops)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.flush()
        self.store.delete_tag(run_id, key)

    def flush(self, timeout: float | None = None) -> FlushStatus:
        """Wait until everything logged so far is durable; see :class:`FlushStatus`.

        Raises:
            LoggingFailed: a write failed (for example a param logged with two values by two
                processes); the cause is chained.
        """
        return self._writer.flush(timeout=timeout)

    # -- artifacts -----------------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        """Store a file or folder under the run's artifacts (sha256 recorded for each file).

        While the tracking server does not answer (or for a run started offline), a copy waits
        in the spool and is uploaded by the writer or ``mloop sync`` once it is back."""
        if self._offline.has_run(run_id):
            return self._offline.log_artifact(run_id, local_path, artifact_path)
        try:
            return self.store.log_artifact(run_id, local_path, artifact_path)
        except StoreUnavailable as exc:
            if not self._offline.possible:
                raise
            self._offline.announce(exc)
            return self._offline.log_artifact(run_id, local_path, artifact_path)

    def log_artifacts(
        self, run_id: str, local_dir: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        """Store the contents of a folder under ``artifact_path``."""
        local = Path(local_dir)
        if not local.is_dir():
            raise InvalidArgument(f"{str(local)!r} is not a folder")
        return self.log_artifact(run_id, local, artifact_path)

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactInfo]:
        return self.store.list_artifacts(run_id, path)

    def download_artifacts(self, run_id: str, path: str, dst_dir: str | Path) -> Path:
        return self.store.download_artifacts(run_id, path, dst_dir)

    # -- reading -------------------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str] | str | None = None,
        filter: str = "",
        order_by: Sequence[str] | str = (),
        max_results: int = 100,
        page_token: str | None = None,
        view: ViewType | str = ViewType.ACTIVE,
    ) -> RunsPage:
        """Search runs; see :meth:`mloop.store.Store.search_runs` for the filter language."""
        self.flush()
        return self.store.search_runs(
            experiment_ids, filter, order_by, max_results, page_token, view
        )

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self.flush()
        return self.store.get_metric_history(run_id, key)


def _as_step(step: Any) -> int:
    if isinstance(step, np.integer):
        return int(step)
    raise InvalidArgument(f"step must be an integer, got {type(step).__name__}: {step!r:.40}")
