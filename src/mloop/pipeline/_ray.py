"""The Ray executor: each step attempt is a Ray task; values go through the artifact store.

A task receives the pickled :class:`~mloop.pipeline._task.StepTask` (the function shipped by
value), loads its inputs from the artifact store, writes its output there and returns only a
small :class:`~mloop.pipeline._task.TaskOutcome`, so any cluster that can reach the artifact
URL and the tracking URI can run a pipeline. A worker that dies is retried by Ray
(``max_retries``); a step that raises is retried by the runner (``retries=``); a step past its
timeout is cancelled with ``ray.cancel(force=True)``.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import Any

from mloop.pipeline._executor import Executor, pickle_task, timeout_outcome
from mloop.pipeline._task import StepTask, TaskOutcome

_STANDARD = ("num_cpus", "num_gpus", "memory")


def _entry(data: bytes) -> TaskOutcome:
    import cloudpickle  # type: ignore[import-untyped]

    from mloop.pipeline._task import run_remote

    task: StepTask = cloudpickle.loads(data)
    return run_remote(task)


def ray_options(task: StepTask) -> dict[str, Any]:
    """``resources=`` of a step as Ray task options."""
    opts: dict[str, Any] = {
        "max_retries": task.max_system_retries,
        "retry_exceptions": False,
        "num_cpus": 1,
    }
    custom: dict[str, float] = {}
    for key, value in task.resources.items():
        if key in _STANDARD:
            opts[key] = int(value) if key == "memory" else value
        else:
            custom[key] = value
    if custom:
        opts["resources"] = custom
    return opts


class RayExecutor(Executor):
    """Runs steps as Ray tasks.

    Args:
        address: the cluster (``ray://host:10001``, ``auto``, ``host:6379``); default
            ``Settings.ray_address`` (``MLOOP_RAY_ADDRESS``), else a local Ray started now. If
            Ray is already initialized in this process, that connection is used.
    """

    def __init__(self, address: str | None = None) -> None:
        import ray

        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(**kwargs)
            self._started = True
        self._remote = ray.remote(_entry)
        self._waiters = ThreadPoolExecutor(max_workers=64, thread_name_prefix="mloop-ray")
        self._refs: set[Any] = set()

    def _submit(self, task: StepTask) -> Future[TaskOutcome]:
        ref = self._remote.options(**ray_options(task)).remote(pickle_task(task))
        self._refs.add(ref)
        return self._waiters.submit(self._wait, task, ref)

    def _wait(self, task: StepTask, ref: Any) -> TaskOutcome:
        try:
            return self._get(task, ref)
        finally:
            self._refs.discard(ref)

    def _get(self, task: StepTask, ref: Any) -> TaskOutcome:
        ray = self._ray
        start = time.perf_counter()
        try:
            outcome: TaskOutcome = ray.get(ref, timeout=task.timeout)
            return outcome
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            return timeout_outcome(task, time.perf_counter() - start)
        except ray.exceptions.RayError as exc:
            # the worker died more often than max_retries allows, or the task was cancelled
            return TaskOutcome(
                ok=False,
                duration_s=time.perf_counter() - start,
                error=f"Ray could not run step {task.step_id!r}: {type(exc).__name__}: {exc}",
                error_type=type(exc).__name__,
                kind="lost",
            )

    def cancel(self) -> None:
        for ref in list(self._refs):
            with suppress(Exception):
                self._ray.cancel(ref, force=True)

    def close(self) -> None:
        self._waiters.shutdown(wait=True)
        if self._started:
            self._ray.shutdown()
