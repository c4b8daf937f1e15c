"""Where step attempts run: the :class:`Executor` interface and the local executor.

An executor takes a :class:`~mloop.pipeline._task.StepTask` and returns a
``concurrent.futures.Future`` of its :class:`~mloop.pipeline._task.TaskOutcome`. Values never
travel through the executor: inputs and outputs go through the artifact store.

:class:`LocalExecutor` runs steps on threads of this process (cheap, and the default), except
a step with a ``timeout``: that one runs in a child process, which is killed when the time is
up (a thread cannot be stopped).
"""

from __future__ import annotations

import contextvars
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

from mloop.pipeline._task import StepTask, TaskOutcome, execute_task


class Executor(ABC):
    """Runs step attempts. Subclasses implement :meth:`_submit` (and may override
    :meth:`close`)."""

    def submit(self, task: StepTask) -> Future[TaskOutcome]:
        """Start one attempt; the future resolves to its outcome (a failed step is an outcome
        with ``ok=False``, not an exception)."""
        return self._submit(task)

    @abstractmethod
    def _submit(self, task: StepTask) -> Future[TaskOutcome]: ...

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release workers; attempts still running finish first."""

    def cancel(self) -> None:  # noqa: B027 - optional hook
        """Stop what can be stopped now (on Ctrl-C): queued attempts, child processes, tasks."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def timeout_outcome(task: StepTask, elapsed: float) -> TaskOutcome:
    return TaskOutcome(
        ok=False,
        duration_s=elapsed,
        error=(
            f"step {task.step_id!r} ran past its timeout of {task.timeout:g}s and was killed; "
            "raise timeout= or make the step faster"
        ),
        error_type="StepTimeout",
        kind="timeout",
    )


def pickle_task(task: StepTask) -> bytes:
    """The task as bytes, its project modules shipped by value (workers may not import them)."""
    import cloudpickle  # type: ignore[import-untyped]

    from mloop.pipeline._codehash import project_modules

    for module in project_modules(task.fn):
        with suppress(ValueError):
            cloudpickle.register_pickle_by_value(module)
    data: bytes = cloudpickle.dumps(task.shippable(), protocol=pickle.HIGHEST_PROTOCOL)
    return data


class LocalExecutor(Executor):
    """Threads of this process; a child process for steps with a timeout.

    Args:
        client: the tracking client whose runs the steps log to.
        max_workers: threads running steps at once (default: CPUs, at least 4).
    """

    def __init__(self, client: Any, max_workers: int | None = None) -> None:
        self.client = client
        self._children: set[subprocess.Popen[bytes]] = set()
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers or max(4, os.cpu_count() or 1),
            thread_name_prefix="mloop-step",
        )

    def _submit(self, task: StepTask) -> Future[TaskOutcome]:
        if task.timeout is not None:
            return self._pool.submit(self._run_child, task)
        # The step runs in a copy of the submitter's context: the current store (a
        # ``mloop.store.use`` block around the pipeline run) holds in the step's thread too.
        context = contextvars.copy_context()
        return self._pool.submit(context.run, execute_task, task, self.client, keep_value=True)

    def _run_child(self, task: StepTask) -> TaskOutcome:
        import time

        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="mloop-step-") as tmp:
            task_file, out_file = Path(tmp, "task.pkl"), Path(tmp, "outcome.pkl")
            task_file.write_bytes(pickle_task(task))
            proc = subprocess.Popen(
                [sys.executable, "-m", "mloop.pipeline._child", str(task_file), str(out_file)],
                start_new_session=True,  # its own process group: killed with its children
            )
            self._children.add(proc)
            try:
                proc.wait(timeout=task.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return timeout_outcome(task, time.perf_counter() - start)
            finally:
                self._children.discard(proc)
            if not out_file.exists():
                return TaskOutcome(
                    ok=False,
                    duration_s=time.perf_counter() - start,
                    error=f"the process running step {task.step_id!r} died "
                    f"(exit status {proc.returncode})",
                    error_type="WorkerDied",
                    kind="lost",
                )
            outcome: TaskOutcome = pickle.loads(out_file.read_bytes())
            return outcome

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def cancel(self) -> None:
        for proc in list(self._children):
            _kill_group(proc)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    killpg = getattr(os, "killpg", None)  # not on Windows, where kill() must do
    if killpg is not None:
        with suppress(OSError):
            killpg(proc.pid, signal.SIGKILL)
    with suppress(ProcessLookupError):
        proc.kill()
    proc.wait()
