"""The ``Store`` interface: one contract, two transports (SQL directly, or REST over HTTP).

Each public method validates its arguments, then calls a private hook that a store implements
(``create_run`` calls ``_create_run``). Domain code talks to this class only.
"""

from __future__ import annotations

import json
import re
import reprlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence, Sized
from pathlib import Path
from typing import IO, Any

from mloop._core import (
    known_keys,
    validate_experiment_name,
    validate_key,
    validate_metric_value,
    validate_param_value,
    validate_run_name,
    validate_tag_value,
)
from mloop.errors import InvalidArgument
from mloop.store._checks import (
    check_count,
    check_id,
    check_int,
    check_mapping,
    check_run_id,
    check_tags,
)
from mloop.store._datasets_base import DatasetStore
from mloop.store._entities import (
    ArtifactInfo,
    Experiment,
    Metric,
    MetricHistory,
    Run,
    RunInfo,
    RunsPage,
    RunStatus,
    ViewType,
)
from mloop.store._loop_base import LoopStore
from mloop.store._registry_base import RegistryStore
from mloop.store._tokens import TokenStore
from mloop.store._traces_base import TraceStore
from mloop.store._views_base import RunViewStore

MAX_RESULTS = 50_000
MAX_BATCH_METRICS = 1_000_000
MAX_BATCH_PARAMS = 10_000
MAX_BATCH_TAGS = 10_000
#: The most journal logs one append takes, and one read returns.
MAX_JOURNAL_LOGS = 10_000
#: The largest journal log, as JSON text.
MAX_JOURNAL_LOG_BYTES = 1_000_000
_JOURNAL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,255}$")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def normalize_metrics(metrics: Iterable[Any]) -> list[Metric]:
    """Validate metric points given as :class:`Metric` or ``(key, value, step, timestamp)``.

    The common point (a known key, a float value, int step and timestamp in range) is checked
    inline: this runs once per point of every batch (1,000 points per MLflow ``log-batch``).
    """
    out: list[Metric] = []
    append = out.append
    if isinstance(metrics, Sized) and len(metrics) > MAX_BATCH_METRICS:  # before any work
        raise InvalidArgument(f"a batch holds at most {MAX_BATCH_METRICS} metric points")
    known = known_keys()
    lo, hi = _INT64_MIN, _INT64_MAX
    # Metric(...) goes through a Python-level __new__: half the loop's time, so a point that
    # is already a Metric is kept and others are built with tuple.__new__ (no re-check)
    metric, new = Metric, tuple.__new__
    for i, m in enumerate(metrics):
        try:
            key, value, step, ts = m
        except (TypeError, ValueError):
            # reprlib: a bounded repr, so a point nested 1,000 deep is described, not recursed
            raise InvalidArgument(
                f"metric #{i} must be (key, value, step, timestamp), got {reprlib.repr(m):.60}"
            ) from None
        if (
            type(key) is str
            and key in known
            and type(step) is int
            and lo <= step <= hi
            and type(ts) is int
            and lo <= ts <= hi
            and type(value) is float
        ):
            append(m if type(m) is metric else new(metric, (key, value, step, ts)))
            continue
        # the slow path: the messages are only formatted for a bad point
        key = validate_key(key, "metric key")
        if type(step) is not int or not lo <= step <= hi:
            step = check_int(step, f"step of metric {key!r}")
        if type(ts) is not int or not lo <= ts <= hi:
            ts = check_int(ts, f"timestamp of metric {key!r}")
        append(new(metric, (key, validate_metric_value(key, value), step, ts)))
    if len(out) > MAX_BATCH_METRICS:
        raise InvalidArgument(f"a batch holds at most {MAX_BATCH_METRICS} metric points")
    return out


def validate_journal_key(key: Any) -> str:
    """Check the key of a tuning journal (see :meth:`Store.append_tune_journal`)."""
    if not isinstance(key, str) or not _JOURNAL_KEY.match(key):
        raise InvalidArgument(
            "a tune journal key is 1 to 256 characters: letters, digits and '_', '.', ':', '@', "
            f"'+', '-', starting with a letter or digit; got {key!r:.80}"
        )
    return key


def encode_journal_log(log: Any, i: int = 0) -> str:
    """One journal log as JSON text. Non-finite floats are kept (``NaN``, ``Infinity``, as
    Python's ``json`` and Optuna's own file journal write them)."""
    if not isinstance(log, Mapping):
        raise InvalidArgument(
            f"journal log #{i} must be a JSON object (a dict), got {type(log).__name__}"
        )
    try:
        text = json.dumps(log, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"journal log #{i} is not JSON-serializable: {exc}") from None
    if len(text) > MAX_JOURNAL_LOG_BYTES:
        raise InvalidArgument(
            f"journal log #{i} is {len(text)} bytes as JSON; at most {MAX_JOURNAL_LOG_BYTES}"
        )
    return text


def decode_journal_log(text: str, i: int = 0) -> dict[str, Any]:
    """The inverse of :func:`encode_journal_log`."""
    try:
        log = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
        raise InvalidArgument(f"journal log #{i} is not valid JSON") from None
    if not isinstance(log, dict):
        raise InvalidArgument(f"journal log #{i} must be a JSON object")
    return log


class Store(RegistryStore, LoopStore, DatasetStore, RunViewStore, TraceStore, TokenStore, ABC):
    """Metadata and artifacts of experiments and runs, the model registry, and datasets.

    Implementations: :class:`~mloop.store.SqlStore` (SQLite or PostgreSQL, plus an artifact
    store) and :class:`~mloop.store.HttpStore` (a shared ``mloop server``). Both pass one
    contract test suite.
    """

    #: a short description of where the data lives, for messages and ``mloop --json`` output
    uri: str

    # -- experiments ---------------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        artifact_location: str | None = None,
    ) -> Experiment:
        """Create an experiment.

        Raises:
            ExperimentAlreadyExists: an experiment (active or deleted) has that name.
        """
        name = validate_experiment_name(name)
        tag_map = check_tags(tags, MAX_BATCH_TAGS)
        return self._create_experiment(name, tag_map, artifact_location)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Raises: ExperimentNotFound."""
        return self._get_experiment(check_id(str(experiment_id), "experiment id"))

    def get_experiment_by_name(self, name: str) -> Experiment:
        """Raises: ExperimentNotFound."""
        return self._get_experiment_by_name(validate_experiment_name(name))

    def list_experiments(self, view: ViewType | str = ViewType.ACTIVE) -> list[Experiment]:
        """Experiments by name; ``view`` is ``active``, ``deleted`` or ``all``."""
        return self._list_experiments(_view(view))

    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Raises: ExperimentNotFound, ExperimentAlreadyExists."""
        return self._rename_experiment(
            check_id(str(experiment_id), "experiment id"), validate_experiment_name(new_name)
        )

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and hide its runs; :meth:`restore_experiment` undoes it."""
        self._set_experiment_stage(check_id(str(experiment_id), "experiment id"), "deleted")

    def restore_experiment(self, experiment_id: str) -> None:
        """Bring back a soft-deleted experiment."""
        self._set_experiment_stage(check_id(str(experiment_id), "experiment id"), "active")

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        key = validate_key(key, "tag key")
        self._set_experiment_tag(
            check_id(str(experiment_id), "experiment id"), key, validate_tag_value(key, value)
        )

    # -- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
        user: str = "",
        run_id: str | None = None,
    ) -> Run:
        """Start a run in state RUNNING.

        ``run_id`` gives the run an id chosen by the caller (32 lowercase hex characters, as
        :func:`mloop._core.new_run_id` makes): a run created offline and replayed from the
        spool keeps the id its script used. Creating a run whose id exists in the same
        experiment returns that run unchanged, so a replay is idempotent.

        Raises:
            ExperimentNotFound: no active experiment with that id.
            RunNotFound: ``parent_run_id`` names no run.
            InvalidArgument: ``run_id`` is malformed or belongs to a run of another experiment.
        """
        return self._create_run(
            check_id(str(experiment_id), "experiment id"),
            run_name=None if run_name is None else validate_run_name(run_name),
            parent_run_id=None
            if parent_run_id is None
            else check_id(parent_run_id, "parent run id"),
            start_time=None if start_time is None else check_count(start_time, "start_time"),
            tags=check_tags(tags, MAX_BATCH_TAGS),
            user=str(user)[:256],
            run_id=None if run_id is None else check_run_id(run_id),
        )

    def get_run(self, run_id: str) -> Run:
        """Raises: RunNotFound."""
        return self._get_run(check_id(run_id, "run id"))

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        """Change a run's status, end time or name."""
        try:
            status_v = None if status is None else RunStatus(status)
        except ValueError:
            raise InvalidArgument(
                f"status must be one of {', '.join(s.value for s in RunStatus)}, got {status!r}"
            ) from None
        return self._update_run(
            check_id(run_id, "run id"),
            status=status_v,
            end_time=None if end_time is None else check_count(end_time, "end_time"),
            run_name=None if run_name is None else validate_run_name(run_name),
        )

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(check_id(run_id, "run id"), "deleted")

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(check_id(run_id, "run id"), "active")

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[Metric | Sequence[Any]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Write metric points, params and tags of one run in one transaction.

        ``batch_id`` makes the call idempotent: a batch with an id the store has seen before is
        acknowledged without being written again (retries after a timeout, replayed spools).

        Raises:
            RunNotFound: no such run.
            ParamConflict: a param exists with another value (nothing of the batch is written).
        """
        self._log_batch(
            check_id(run_id, "run id"),
            normalize_metrics(metrics),
            check_mapping(params, "param", validate_param_value, MAX_BATCH_PARAMS),
            check_tags(tags, MAX_BATCH_TAGS),
            None if batch_id is None else check_id(batch_id, "batch id"),
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        """Raises: RunNotFound, or NotFound when the run has no such tag."""
        self._delete_tag(check_id(run_id, "run id"), validate_key(key, "tag key"))

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric, ordered by step then timestamp. Raises: RunNotFound."""
        return self._get_metric_history(check_id(run_id, "run id"), validate_key(key))

    def search_runs(
        self,
        experiment_ids: Sequence[str] | str | None = None,
        filter: str = "",
        order_by: Sequence[str] | str = (),
        max_results: int = 100,
        page_token: str | None = None,
        view: ViewType | str = ViewType.ACTIVE,
    ) -> RunsPage:
        """Find runs with the filter language, compiled to SQL.

        Example::

            store.search_runs(["1"], "metrics.auc > 0.9 and params.model = 'lgbm'",
                              order_by="metrics.auc desc", max_results=10)

        Raises:
            InvalidFilter: the filter or an order-by clause does not parse (names the position).
        """
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        ids = [check_id(str(e), "experiment id") for e in (experiment_ids or [])]
        if isinstance(order_by, str):
            order_by = [order_by] if order_by.strip() else []
        if not isinstance(filter, str):
            raise InvalidArgument("filter must be a string")
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise InvalidArgument("max_results must be an integer")
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_RESULTS}")
        return self._search_runs(ids, filter, list(order_by), max_results, page_token, _view(view))

    # -- liveness ------------------------------------------------------------------------------

    def heartbeat(self, run_id: str) -> None:
        """Record that the process of a run is alive (the fluent API sends one every 30 s
        while a run is active).

        Raises:
            RunNotFound: no such run.
        """
        self._heartbeat(check_id(run_id, "run id"))

    def sweep_dead_runs(self, timeout_ms: int) -> list[str]:
        """Mark KILLED every RUNNING run whose last heartbeat is older than ``timeout_ms``
        (its end time: that heartbeat); returns their ids. Runs that never sent a heartbeat
        (clients that do not send them) are left alone.

        Example::

            store.sweep_dead_runs(10 * 60_000)  # silent for 10 minutes
        """
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms < 1000:
            raise InvalidArgument("timeout_ms must be an integer of at least 1000 (1 s)")
        return self._sweep_dead_runs(timeout_ms)

    # -- artifacts -----------------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        """Copy a file or a folder under the run's artifact root; returns what was stored,
        with the sha256 of every file.

        Raises:
            UnsafeArtifactPath: ``artifact_path`` is absolute or leaves the root.
            FileNotFoundError: ``local_path`` does not exist.
        """
        local = Path(local_path)
        if not local.exists():
            raise InvalidArgument(f"no such file or folder: {str(local)!r}")
        return self._log_artifact(check_id(run_id, "run id"), local, artifact_path or "")

    def put_artifact(self, run_id: str, path: str, stream: IO[bytes]) -> ArtifactInfo:
        """Store the bytes read from ``stream`` as the file ``path`` (streamed, never all in
        memory)."""
        return self._put_artifact(check_id(run_id, "run id"), path, stream)

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactInfo]:
        """Files and folders directly under ``path`` in the run's artifact root."""
        return self._list_artifacts(check_id(run_id, "run id"), path or "")

    def download_artifacts(self, run_id: str, path: str, dst_dir: str | Path) -> Path:
        """Copy an artifact file or folder into ``dst_dir``; returns the local path."""
        dst = Path(dst_dir)
        dst.mkdir(parents=True, exist_ok=True)
        return self._download_artifacts(check_id(run_id, "run id"), path or "", dst)

    def open_artifact(self, run_id: str, path: str) -> IO[bytes]:
        """A binary stream of one artifact file; close it when done."""
        return self._open_artifact(check_id(run_id, "run id"), path)

    # -- tuning journals -----------------------------------------------------------------------

    def append_tune_journal(self, key: str, logs: Sequence[Mapping[str, Any]]) -> int:
        """Append logs to the journal ``key``, all in one transaction; returns the index of the
        first one. Indexes count 0, 1, 2, ... per key with no gaps, in the order appends
        committed, also when many processes append at once: every reader sees one order.

        This is the storage of Optuna studies (see ``mloop.pipeline``): a journal holds the
        operation log of the studies of one namespace.

        Raises:
            InvalidArgument: a bad key, no logs, too many (over 10,000), a log that is not a
                JSON object or is over 1 MB.
        """
        key = validate_journal_key(key)
        if isinstance(logs, (str, bytes, Mapping)) or not isinstance(logs, Sequence):
            raise InvalidArgument("logs must be a list of JSON objects")
        if not logs:
            raise InvalidArgument("logs must hold at least one log")
        if len(logs) > MAX_JOURNAL_LOGS:
            raise InvalidArgument(
                f"one append takes at most {MAX_JOURNAL_LOGS} logs, got {len(logs)}"
            )
        return self._append_tune_journal(
            key, [encode_journal_log(log, i) for i, log in enumerate(logs)]
        )

    def read_tune_journal(
        self, key: str, start: int = 0, limit: int = MAX_JOURNAL_LOGS
    ) -> list[tuple[int, dict[str, Any]]]:
        """The logs of journal ``key`` from index ``start`` on, in order, as ``(index, log)``;
        at most ``limit`` of them (read again from the next index for more). A key nobody
        appended to reads as empty.

        Raises:
            InvalidArgument: a bad key, a negative start, a limit outside 1..10,000.
        """
        key = validate_journal_key(key)
        check_count(start, "start")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidArgument(f"limit must be an integer, got {limit!r:.40}")
        if not 1 <= limit <= MAX_JOURNAL_LOGS:
            raise InvalidArgument(f"limit must be between 1 and {MAX_JOURNAL_LOGS}, got {limit}")
        return [
            (idx, decode_journal_log(text, idx))
            for idx, text in self._read_tune_journal(key, start, limit)
        ]

    # -- lifecycle -----------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the store answers.

        Raises:
            StoreUnavailable: it does not.
        """
        self._ping()

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hooks ---------------------------------------------------------------------------------

    @abstractmethod
    def _heartbeat(self, run_id: str) -> None:
        raise InvalidArgument(f"{type(self).__name__} does not record heartbeats")

    def _sweep_dead_runs(self, timeout_ms: int) -> list[str]:
        raise InvalidArgument(f"{type(self).__name__} does not record heartbeats")

    def _ping(self) -> None: ...

    @abstractmethod
    def _create_experiment(
        self, name: str, tags: dict[str, str], artifact_location: str | None
    ) -> Experiment: ...

    @abstractmethod
    def _get_experiment(self, experiment_id: str) -> Experiment: ...

    @abstractmethod
    def _get_experiment_by_name(self, name: str) -> Experiment: ...

    @abstractmethod
    def _list_experiments(self, view: ViewType) -> list[Experiment]: ...

    @abstractmethod
    def _rename_experiment(self, experiment_id: str, new_name: str) -> Experiment: ...

    @abstractmethod
    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None: ...

    @abstractmethod
    def _set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    @abstractmethod
    def _create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None,
        parent_run_id: str | None,
        start_time: int | None,
        tags: dict[str, str],
        user: str,
        run_id: str | None = None,
    ) -> Run: ...

    @abstractmethod
    def _get_run(self, run_id: str) -> Run: ...

    @abstractmethod
    def _update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo: ...

    @abstractmethod
    def _set_run_stage(self, run_id: str, stage: str) -> None: ...

    @abstractmethod
    def _log_batch(
        self,
        run_id: str,
        metrics: list[Metric],
        params: dict[str, str],
        tags: dict[str, str],
        batch_id: str | None = None,
    ) -> None: ...

    @abstractmethod
    def _delete_tag(self, run_id: str, key: str) -> None: ...

    @abstractmethod
    def _get_metric_history(self, run_id: str, key: str) -> MetricHistory: ...

    @abstractmethod
    def _search_runs(
        self,
        experiment_ids: list[str],
        filter: str,
        order_by: list[str],
        max_results: int,
        page_token: str | None,
        view: ViewType,
    ) -> RunsPage: ...

    @abstractmethod
    def _log_artifact(self, run_id: str, local: Path, artifact_path: str) -> list[ArtifactInfo]: ...

    @abstractmethod
    def _put_artifact(self, run_id: str, path: str, stream: IO[bytes]) -> ArtifactInfo: ...

    @abstractmethod
    def _list_artifacts(self, run_id: str, path: str) -> list[ArtifactInfo]: ...

    @abstractmethod
    def _download_artifacts(self, run_id: str, path: str, dst: Path) -> Path: ...

    @abstractmethod
    def _open_artifact(self, run_id: str, path: str) -> IO[bytes]: ...

    @abstractmethod
    def _append_tune_journal(self, key: str, texts: list[str]) -> int: ...

    @abstractmethod
    def _read_tune_journal(self, key: str, start: int, limit: int) -> list[tuple[int, str]]: ...


def _view(view: ViewType | str) -> ViewType:
    try:
        return ViewType(view)
    except ValueError:
        raise InvalidArgument(f"view must be active, deleted or all, got {view!r}") from None
