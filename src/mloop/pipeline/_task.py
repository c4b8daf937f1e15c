"""One step attempt as a unit of work: what travels to a worker and what comes back.

A :class:`StepTask` carries the step function (shipped by value with cloudpickle), its
arguments with every upstream output replaced by an :class:`InputRef` (an artifact path and
a content hash), the cache key, the step's run and where the artifact and tracking stores are.
:func:`execute_task` runs on the worker -- a thread, a child process or a Ray worker: it loads
the inputs from the artifact store, runs the function with the step's run active, stores the
result under ``pipeline-cache/<key>/`` and returns a small :class:`TaskOutcome`.
"""

from __future__ import annotations

import hashlib
import io
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mloop.pipeline._cache import StoredResult, cache_store, entry_dir
from mloop.pipeline._model import select

#: How results are stored, by format name: (file name, loader).
PICKLE, PANDAS, ARROW = "cloudpickle", "pandas-parquet", "arrow-parquet"
_FILES = {PICKLE: "result.pkl", PANDAS: "result.parquet", ARROW: "result.arrow.parquet"}


@dataclass(frozen=True)
class InputRef:
    """A stored step output that another step takes as input."""

    step_id: str
    path: str
    sha256: str
    format: str
    item: tuple[Any, ...] = ()  # the part of the output taken: ref[0], ref["key"]


@dataclass
class StepTask:
    """One attempt of one step (see the module docstring)."""

    pipeline: str
    step_id: str
    name: str
    fn: Callable[..., Any]
    arguments: dict[str, Any]
    key: str
    artifacts: str
    tracking_uri: str
    run: Any  # the step's store Run
    timeout: float | None = None
    resources: dict[str, float] = field(default_factory=dict)
    attempt: int = 1
    max_system_retries: int = 3
    sys_path: list[str] = field(default_factory=list)
    # Outputs already in this process's memory, by artifact path (never shipped).
    local_values: dict[str, Any] = field(default_factory=dict)

    def shippable(self) -> StepTask:
        """This task without the in-memory values, ready to pickle."""
        return replace(self, local_values={})


@dataclass
class TaskOutcome:
    """What comes back from a worker: small metadata, never the value itself (except
    ``value``, set only for a step that ran in this process)."""

    ok: bool
    result: StoredResult | None = None
    duration_s: float = 0.0
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    kind: str = ""  # "error", "unpicklable", "timeout", "lost"
    value: Any = None
    has_value: bool = False


# -- serialization -----------------------------------------------------------------------------


def _is_pandas_frame(value: Any) -> bool:
    t = type(value)
    return t.__name__ == "DataFrame" and t.__module__.split(".")[0] == "pandas"


def _is_arrow_table(value: Any) -> bool:
    t = type(value)
    return t.__name__ == "Table" and t.__module__.split(".")[0] == "pyarrow"


def serialize(value: Any) -> tuple[str, bytes]:
    """``(format, bytes)`` of a step's output: Parquet for pandas DataFrames and Arrow tables
    (when they convert), cloudpickle otherwise.

    Raises:
        TypeError: the value cannot be pickled.
    """
    if _is_pandas_frame(value):
        buf = io.BytesIO()
        try:
            value.to_parquet(buf)
            return PANDAS, buf.getvalue()
        except Exception:  # mixed-type object columns and the like: fall back to pickle
            pass
    elif _is_arrow_table(value):
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        try:
            pq.write_table(value, buf)
            return ARROW, buf.getvalue()
        except Exception:
            pass
    import pickle

    import cloudpickle  # type: ignore[import-untyped]

    try:
        return PICKLE, cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise TypeError(str(exc)) from exc


def deserialize(fmt: str, data: bytes) -> Any:
    if fmt == PANDAS:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    if fmt == ARROW:
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data))
    import cloudpickle  # type: ignore[import-untyped]

    return cloudpickle.loads(data)


def store_result(artifacts: str, key: str, value: Any) -> StoredResult:
    """Serialize ``value`` and write it under the entry of ``key``.

    Raises:
        TypeError: the value cannot be pickled.
    """
    fmt, data = serialize(value)
    path = f"{entry_dir(key)}/{_FILES[fmt]}"
    cache_store(artifacts).write(path, data)
    t = type(value)
    return StoredResult(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        format=fmt,
        type_name=f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__name__,
    )


class MissingResult(Exception):
    """A stored output is gone or does not match its hash."""


def load_result(artifacts: str, ref: InputRef | StoredResult) -> Any:
    """Read a stored output back, checking its sha256.

    Raises:
        MissingResult: it is missing or its bytes changed.
    """
    data = cache_store(artifacts).read(ref.path)
    if data is None:
        raise MissingResult(f"the stored output {ref.path!r} is missing from the artifact store")
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise MissingResult(f"the stored output {ref.path!r} does not match its sha256")
    return deserialize(ref.format, data)


# -- running -----------------------------------------------------------------------------------


def _resolve(value: Any, task: StepTask, loaded: dict[str, Any]) -> Any:
    if isinstance(value, InputRef):
        if value.path in task.local_values:
            whole = task.local_values[value.path]
        else:
            if value.path not in loaded:
                loaded[value.path] = load_result(task.artifacts, value)
            whole = loaded[value.path]
        return select(whole, value.item, value.step_id) if value.item else whole
    if isinstance(value, list):
        return [_resolve(v, task, loaded) for v in value]
    if isinstance(value, tuple):
        items = [_resolve(v, task, loaded) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, set | frozenset):
        return type(value)(_resolve(v, task, loaded) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, task, loaded) for k, v in value.items()}
    return value


def _is_dataset(value: Any) -> bool:
    return (
        type(value).__name__ == "Dataset"
        and hasattr(value, "digest")
        and hasattr(value, "name")
        and hasattr(value, "version")
    )


def _call_args(
    fn: Callable[..., Any], arguments: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    import inspect

    sig = inspect.signature(fn)
    bound = inspect.BoundArguments(sig, arguments)  # type: ignore[arg-type]
    return list(bound.args), dict(bound.kwargs)


def execute_task(task: StepTask, client: Any, *, keep_value: bool = False) -> TaskOutcome:
    """Run one attempt of a step here, with its run active in this thread (see module doc)."""
    from mloop.tracking import bind_run

    start = time.perf_counter()
    try:
        loaded: dict[str, Any] = {}
        arguments = {k: _resolve(v, task, loaded) for k, v in task.arguments.items()}
        datasets = [(k, v) for k, v in arguments.items() if _is_dataset(v)]
        args, kwargs = _call_args(task.fn, arguments)
        with bind_run(task.run, client):
            if datasets:
                client.store.log_inputs(
                    task.run.info.run_id, [(d.name, d.version, k) for k, d in datasets]
                )
            value = task.fn(*args, **kwargs)
    except Exception as exc:
        return TaskOutcome(
            ok=False,
            duration_s=time.perf_counter() - start,
            error=f"{type(exc).__name__}: {exc}",
            error_type=type(exc).__name__,
            traceback=traceback.format_exc(),
            kind="error",
        )
    duration = time.perf_counter() - start
    try:
        stored = store_result(task.artifacts, task.key, value)
    except TypeError as exc:
        t = type(value)
        return TaskOutcome(
            ok=False,
            duration_s=duration,
            error=(
                f"step {task.step_id!r} returned a {t.__module__}.{t.__qualname__}, which "
                f"cannot be stored: {exc}; return plain data (numbers, strings, lists, dicts, "
                "arrays, DataFrames, fitted models), not generators, locks, open files or "
                "connections"
            ),
            error_type=type(exc).__name__,
            traceback=traceback.format_exc(),
            kind="unpicklable",
        )
    return TaskOutcome(
        ok=True,
        result=stored,
        duration_s=duration,
        value=value if keep_value else None,
        has_value=keep_value,
    )


def run_remote(task: StepTask) -> TaskOutcome:
    """The entry point on a worker process (a child process or a Ray worker)."""
    import sys

    for p in task.sys_path:
        if p not in sys.path:
            sys.path.append(p)
    from mloop.store._context import use
    from mloop.tracking import Client

    client = Client(tracking_uri=task.tracking_uri, artifacts=task.artifacts)
    try:
        # The step's own calls (mloop.data.load, mloop.models.load, ...) use the run's store.
        with use(client.settings):
            return execute_task(task, client)
    finally:
        client.flush()
