"""Running a traced pipeline: cache look-ups, scheduling, retries, tracking and results."""

from __future__ import annotations

import functools
import heapq
import inspect
import io
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop._core import current_user, new_run_id, now_ms, validate_param_value
from mloop._core._tags import (
    TAG_ERROR,
    TAG_PIPELINE_ENGINE,
    TAG_PIPELINE_NAME,
    TAG_PIPELINE_TARGET,
    TAG_STEP_ATTEMPTS,
    TAG_STEP_CACHE_KEY,
    TAG_STEP_CACHED,
    TAG_STEP_CACHED_FROM,
    TAG_STEP_ID,
    TAG_STEP_INPUTS,
    TAG_STEP_NAME,
    TAG_STEP_OUTPUT_PATH,
    TAG_STEP_OUTPUT_SHA,
    TAG_USER,
)
from mloop.errors import InvalidArgument
from mloop.pipeline._cache import StoredResult, cache_store
from mloop.pipeline._errors import InvalidPipeline, StepFailed, StepTimeout, UnpicklableResult
from mloop.pipeline._executor import Executor, LocalExecutor
from mloop.pipeline._keys import KeyMaker
from mloop.pipeline._load import load_target
from mloop.pipeline._model import Graph, StepRef, replace_refs, select, trace
from mloop.pipeline._task import InputRef, MissingResult, StepTask, TaskOutcome, load_result

if TYPE_CHECKING:
    from mloop._core import Settings

ENGINES = ("local", "ray")
MAX_RETRY_DELAY_S = 60.0


@dataclass
class StepResult:
    """What happened to one step call.

    Attributes:
        status: ``"pending"``/``"running"`` while the pipeline runs, then ``"done"``,
            ``"cached"``, ``"failed"`` or ``"skipped"`` (not started because another failed).
    """

    name: str
    step_id: str
    status: str = "pending"
    cache_key: str | None = None
    run_id: str | None = None
    duration_s: float = 0.0
    error: str | None = None
    attempts: int = 0
    output_sha256: str | None = None
    output_path: str | None = None


@dataclass
class PipelineRun:
    """A finished (or failed) pipeline run.

    Attributes:
        run_id: the pipeline's tracked run; each step has a nested run.
        status: ``"finished"`` or ``"failed"``.
        output: what the pipeline function returned, step outputs resolved to values.
        steps: one :class:`StepResult` per step call, in call order.
    """

    run_id: str
    status: str
    output: Any
    steps: list[StepResult]
    name: str = ""
    duration_s: float = 0.0

    def step(self, step_id: str) -> StepResult:
        """The result of the step call ``step_id`` (``train``, ``train.1``, ...)."""
        for s in self.steps:
            if s.step_id == step_id:
                return s
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "duration_s": self.duration_s,
            "steps": [vars(s).copy() for s in self.steps],
        }


def make_executor(
    engine: str, address: str | None, ray_address: str, client: Any, max_workers: int | None
) -> Executor:
    if engine == "local":
        if address:
            raise InvalidArgument("address= is for engine='ray'; the local engine takes none")
        return LocalExecutor(client, max_workers=max_workers)
    if engine == "ray":
        try:
            from mloop.pipeline._ray import RayExecutor
        except ImportError as exc:  # pragma: no cover - ray is an optional extra
            raise InvalidArgument(
                f"engine='ray' needs Ray: pip install 'mloop[ray]' ({exc})"
            ) from exc
        return RayExecutor(address or ray_address or None)
    raise InvalidArgument(f"unknown engine {engine!r}; use one of: {', '.join(ENGINES)}")


def run(
    target: Any,
    params: Mapping[str, Any] | None = None,
    *,
    engine: str = "local",
    address: str | None = None,
    cache: bool = True,
    experiment: str | None = None,
    on_event: Callable[[StepResult], None] | None = None,
    max_workers: int | None = None,
) -> PipelineRun:
    """Run a pipeline: every step whose cache key has an entry is reused, the others run.

    Args:
        target: a ``@mloop.pipeline`` function or ``"path/to/file.py:name"``.
        params: the pipeline function's arguments.
        engine: ``"local"`` (threads; a child process for steps with a timeout) or ``"ray"``.
        address: the Ray cluster; default ``MLOOP_RAY_ADDRESS``, else a local Ray.
        cache: ``False`` runs every step (results are still stored for later runs).
        experiment: the experiment of the pipeline's run (default: the active one).
        on_event: called with a step's :class:`StepResult` whenever its status changes.
        max_workers: steps running at once on the local engine.

    Returns:
        The :class:`PipelineRun`.

    Raises:
        InvalidPipeline: the pipeline cannot run as written (before any step runs).
        StepFailed: a step failed after its retries (:class:`StepTimeout`,
            :class:`UnpicklableResult` in particular); ``exc.run`` is the
            :class:`PipelineRun` so far.

    Example::

        result = mloop.pipeline.run("flows/train.py:train", {"alpha": 0.2})
        result.output, [(s.step_id, s.status) for s in result.steps]
    """
    from mloop.store._context import current

    if engine not in ENGINES:
        raise InvalidArgument(f"unknown engine {engine!r}; use one of: {', '.join(ENGINES)}")
    pipe, target_text = load_target(target)
    graph = trace(pipe, params)
    settings = current().settings
    executors: list[Executor] = []

    def executor() -> Executor:
        # Made on first use: a fully cached run starts no thread pool and no Ray.
        if not executors:
            executors.append(
                make_executor(
                    engine,
                    address,
                    getattr(settings, "ray_address", ""),
                    runner.client,
                    max_workers,
                )
            )
        return executors[0]

    if engine == "local" and address:
        raise InvalidArgument("address= is for engine='ray'; the local engine takes none")
    runner = _Runner(graph, target_text, settings, executor, engine, cache, on_event)
    try:
        return runner.execute(experiment)
    except BaseException as exc:
        if not isinstance(exc, StepFailed):  # Ctrl-C or a fault of the runner: stop the steps
            for ex in executors:
                ex.cancel()
        raise
    finally:
        for ex in executors:
            ex.close()


def _param_text(key: str, value: Any) -> str:
    try:
        text = json.dumps(value) if not isinstance(value, str) else value
    except (TypeError, ValueError):
        text = repr(value)
    try:
        return validate_param_value(key, text)
    except InvalidArgument:
        return text[:7_990] + "..."


class _Runner:
    def __init__(
        self,
        graph: Graph,
        target: str,
        settings: Settings,
        executor: Callable[[], Executor],
        engine: str,
        use_cache: bool,
        on_event: Callable[[StepResult], None] | None,
    ) -> None:
        self.graph = graph
        self.pipe = graph.pipeline
        self.target = target
        self.settings = settings
        self.cache = cache_store(self.settings.artifacts)
        self.executor = executor
        self.engine = engine
        self.use_cache = use_cache
        self.on_event = on_event
        self.keys = KeyMaker()
        nodes = graph.nodes
        self.id_of = {n.index: n.step_id for n in nodes}
        self.results = [StepResult(n.step.name, n.step_id) for n in nodes]
        self.outputs: dict[int, str] = {}
        self.stored: dict[int, StoredResult] = {}
        self.values: dict[int, Any] = {}
        self.parts: dict[int, Any] = {}
        self.dependents: dict[int, list[int]] = {n.index: [] for n in nodes}
        self.waiting: dict[int, int] = {}
        for n in nodes:
            self.waiting[n.index] = len(n.deps)
            for d in n.deps:
                self.dependents[d].append(n.index)
        self.ready: deque[int] = deque(i for i in graph.order if not nodes[i].deps)
        self.running: dict[Future[TaskOutcome], tuple[int, StepTask]] = {}
        self.delayed: list[tuple[float, int, StepTask]] = []
        self.failure: tuple[int, TaskOutcome] | None = None
        self.started: dict[int, float] = {}
        self.user = current_user()
        code = getattr(self.pipe.fn, "__code__", None)
        folder = os.path.dirname(code.co_filename) if code is not None else ""
        # Workers on this machine can import the modules beside the pipeline file.
        self.sys_path = [folder] if folder else []

    # -- events and tracking -------------------------------------------------------------------

    @functools.cached_property
    def client(self) -> Any:
        """The tracking client of the current store, made on first use: a fully cached run
        recorded by :meth:`_record_if_cached` opens no store."""
        from mloop.tracking import current_client

        return current_client()

    @property
    def store(self) -> Any:
        return self.client.store

    def _emit(self, i: int, status: str) -> None:
        r = self.results[i]
        r.status = status
        if self.on_event is not None:
            self.on_event(replace(r))

    def _end_run_async(self, run_id: str, status: str) -> None:
        # Queued, not flushed: the pipeline run's end flushes everything once.
        self.client.set_terminated(run_id, status, wait=False)

    def _step_tags(self, i: int, tags: dict[str, str]) -> dict[str, str]:
        """The tags of step ``i``'s nested run: what every step run holds, then ``tags``."""
        node = self.graph.nodes[i]
        base = {
            TAG_STEP_NAME: node.step.name,
            TAG_STEP_ID: node.step_id,
            TAG_PIPELINE_NAME: self.pipe.name,
            TAG_USER: self.user,
        }
        inputs = self.parts[i].inputs
        if inputs:
            base[TAG_STEP_INPUTS] = json.dumps(inputs, sort_keys=True)[:7_900]
        base.update(tags)
        return base

    def _create_step_run(self, i: int, tags: dict[str, str]) -> Any:
        return self.store.create_run(
            self.experiment_id,
            run_name=self.graph.nodes[i].step_id,
            parent_run_id=self.run_id,
            tags=self._step_tags(i, tags),
            user=self.user,
        )

    @staticmethod
    def _cached_tags(key: str, meta: dict[str, Any], result: StoredResult) -> dict[str, str]:
        """The tags saying that a step's result came from the cache entry ``meta``."""
        return {
            TAG_STEP_CACHE_KEY: key,
            TAG_STEP_CACHED: "true",
            TAG_STEP_CACHED_FROM: str(meta["run_id"]),
            TAG_STEP_OUTPUT_SHA: result.sha256,
            TAG_STEP_OUTPUT_PATH: result.path,
        }

    def _pipeline_tags(self, source_context: Callable[[Path], dict[str, str]]) -> dict[str, str]:
        """The tags of the pipeline's own run (beside the run context every run records)."""
        return {
            # The git state of the pipeline's file, not of wherever `mloop` is installed.
            **self._source_tags(source_context),
            TAG_PIPELINE_TARGET: self.target,
            TAG_PIPELINE_NAME: self.pipe.name,
            TAG_PIPELINE_ENGINE: self.engine,
        }

    # -- the loop ------------------------------------------------------------------------------

    def _source_tags(self, source_context: Callable[[Path], dict[str, str]]) -> dict[str, str]:
        try:
            path = inspect.getsourcefile(self.pipe.fn)
        except TypeError:  # built in a notebook cell or by exec: no file
            return {}
        return source_context(Path(path)) if path else {}

    def execute(self, experiment: str | None) -> PipelineRun:
        if self.use_cache:
            done = self._record_if_cached(experiment)
            if done is not None:
                return done
        from mloop.tracking import active_run, source_context, start_run

        exp_id = None
        if experiment is not None:
            exp_id = self.client.get_or_create_experiment(experiment).experiment_id
        parent = active_run()
        self.started_at = time.perf_counter()
        active = start_run(
            run_name=self.pipe.name,
            nested=parent is not None,
            experiment_id=exp_id,
            tags=self._pipeline_tags(source_context),
        )
        self.run_id = active.run_id
        self.experiment_id = active.info.experiment_id
        try:
            if self.graph.params:
                self.client.log_params(
                    self.run_id, {k: _param_text(k, v) for k, v in self.graph.params.items()}
                )
            for i in range(len(self.results)):
                self._emit(i, "pending")
            self._loop()
            if self.failure is not None:
                return self._fail(active)
            output = self._resolve_output()
        except BaseException as exc:
            if not isinstance(exc, StepFailed):  # a fault of the runner itself, or Ctrl-C
                active.__exit__(type(exc), exc, exc.__traceback__)
            raise
        active.end("FINISHED")
        return self._result("finished", output)

    def _result(self, status: str, output: Any) -> PipelineRun:
        return PipelineRun(
            run_id=self.run_id,
            status=status,
            output=output,
            steps=[replace(r) for r in self.results],
            name=self.pipe.name,
            duration_s=time.perf_counter() - self.started_at,
        )

    def _loop(self) -> None:
        while self.ready or self.running or self.delayed:
            if self.failure is None:
                while self.ready:
                    self._start(self.ready.popleft())
            else:
                self.ready.clear()
                for _, i, task in self.delayed:  # retries not attempted after all
                    self._end_run_async(task.run.info.run_id, "KILLED")
                    self._emit(i, "skipped")
                self.delayed.clear()
            if not self.running and not self.delayed:
                if self.ready:
                    continue
                break
            timeout = None
            if self.delayed:
                timeout = max(0.0, self.delayed[0][0] - time.monotonic())
            if self.running:
                done, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
            else:
                time.sleep(timeout or 0)
                done = set()
            for fut in done:
                i, task = self.running.pop(fut)
                try:
                    outcome = fut.result()
                except Exception as exc:  # an executor fault, not the step's
                    outcome = TaskOutcome(
                        ok=False, error=f"{type(exc).__name__}: {exc}", kind="lost"
                    )
                self._finish(i, task, outcome)
            now = time.monotonic()
            while self.delayed and self.delayed[0][0] <= now and self.failure is None:
                _, i, task = heapq.heappop(self.delayed)
                self._submit(i, task)

    def _start(self, i: int) -> None:
        node = self.graph.nodes[i]
        parts = self.keys.parts(node, self.outputs, self.id_of)
        key = parts.key()
        self.parts[i] = parts
        r = self.results[i]
        r.cache_key = key
        if self.use_cache and node.step.options.cache:
            meta = self.cache.entry(key)
            if meta is not None:
                self._reuse(i, key, meta)
                return
        run = self._create_step_run(i, {TAG_STEP_CACHE_KEY: key, TAG_STEP_CACHED: "false"})
        r.run_id = run.info.run_id
        arguments = {
            name: replace_refs(value, self._input_ref) for name, value in node.arguments.items()
        }
        local_values = {self.stored[d].path: self.values[d] for d in node.deps if d in self.values}
        task = StepTask(
            pipeline=self.pipe.name,
            step_id=node.step_id,
            name=node.step.name,
            fn=node.step.fn,
            arguments=arguments,
            key=key,
            artifacts=self.settings.artifacts,
            tracking_uri=self.settings.tracking_uri,
            run=run,
            timeout=node.step.options.timeout,
            resources=dict(node.step.options.resources),
            sys_path=self.sys_path,
            local_values=local_values,
        )
        self._submit(i, task)

    def _input_ref(self, ref: StepRef) -> InputRef:
        s = self.stored[ref.index]
        return InputRef(
            step_id=ref.step_id, path=s.path, sha256=s.sha256, format=s.format, item=ref.path
        )

    def _submit(self, i: int, task: StepTask) -> None:
        r = self.results[i]
        r.attempts = task.attempt
        self.started.setdefault(i, time.perf_counter())
        self._emit(i, "running")
        self.running[self.executor().submit(task)] = (i, task)

    def _reuse(self, i: int, key: str, meta: dict[str, Any]) -> None:
        result = StoredResult(**meta["result"])
        run = self._create_step_run(i, self._cached_tags(key, meta, result))
        self._end_run_async(run.info.run_id, "FINISHED")
        self._reused(i, key, meta, result, run.info.run_id)
        self._release(i)

    def _reused(
        self, i: int, key: str, meta: dict[str, Any], result: StoredResult, run_id: str
    ) -> None:
        """Step ``i`` took its result from the cache, recorded in run ``run_id``."""
        step_id = self.graph.nodes[i].step_id
        r = self.results[i]
        r.run_id = run_id
        r.output_sha256, r.output_path = result.sha256, result.path
        self.outputs[i] = result.sha256
        self.stored[i] = result
        last = self.cache.last_key(self.pipe.name, step_id)
        if last is None or last.get("key") != key:
            self.cache.set_last_key(self.pipe.name, step_id, {"key": key, "run_id": meta["run_id"]})
        self._emit(i, "cached")

    # -- a fully cached run --------------------------------------------------------------------

    def _cached_plan(self) -> list[tuple[int, str, dict[str, Any], StoredResult]] | None:
        """Every step's cache key and entry, in the order the loop would start them; None as
        soon as one step would run (no entry, or its caching is off)."""
        plan = []
        ready = deque(self.ready)
        waiting = dict(self.waiting)
        while ready:
            i = ready.popleft()
            node = self.graph.nodes[i]
            if not node.step.options.cache:
                return None
            parts = self.keys.parts(node, self.outputs, self.id_of)
            key = parts.key()
            meta = self.cache.entry(key)
            if meta is None:
                return None
            result = StoredResult(**meta["result"])
            self.parts[i] = parts
            self.results[i].cache_key = key
            self.outputs[i] = result.sha256
            self.stored[i] = result
            plan.append((i, key, meta, result))
            for d in self.dependents[i]:
                waiting[d] -= 1
                if waiting[d] == 0:
                    ready.append(d)
        return plan

    def _forget(self) -> None:
        """Drop what :meth:`_cached_plan` found: the loop starts from scratch."""
        for r in self.results:
            r.cache_key = None
        self.parts.clear()
        self.outputs.clear()
        self.stored.clear()
        self.values.clear()

    def _record_if_cached(self, experiment: str | None) -> PipelineRun | None:
        """A run whose every step is cached, on a SQLite store: the pipeline's run and its
        steps' nested runs, with the tags and params the loop records, written in one
        transaction without opening the store (:mod:`mloop.store._sqlitebatch`), which is
        most of such a run's time. None, with nothing recorded, when the run needs the loop:
        a step to run, another store, an active run to nest in, an experiment that does not exist
        yet, an output that cannot be read back."""
        from mloop.store._sqlitebatch import FinishedRun, record_finished_runs, sqlite_file

        if sqlite_file(self.settings.tracking_uri) is None:
            return None
        # The fluent API, if this process imported it, may hold an active run to nest in, or
        # the experiment new runs go to (chosen with set_experiment, or the default found).
        fluent = sys.modules.get("mloop.tracking._fluent")
        if fluent is not None and fluent.active_run() is not None:
            return None
        chosen = fluent.current_experiment_id() if fluent is not None else None
        from mloop.tracking._context import DEFAULT_EXPERIMENT, run_context, source_context

        self.started_at = time.perf_counter()
        start = now_ms()
        plan = self._cached_plan()
        output: Any = None
        if plan is not None:
            try:
                output = self._resolve_output()
            except InvalidPipeline:  # the loop records the failed run
                plan = None
        if plan is None:
            self._forget()
            return None
        root = new_run_id()
        step_runs = [
            FinishedRun(
                run_id=new_run_id(),
                run_name=self.graph.nodes[i].step_id,
                start_time=now_ms(),
                end_time=now_ms(),
                user=self.user,
                tags=self._step_tags(i, self._cached_tags(key, meta, result)),
                parent_run_id=root,
            )
            for i, key, meta, result in plan
        ]
        tags = run_context(top_level=True, reproduces=self.settings.reproduce_of or None)
        tags.update(self._pipeline_tags(source_context))
        pipeline_run = FinishedRun(
            run_id=root,
            run_name=self.pipe.name,
            start_time=start,
            end_time=now_ms(),
            user=tags.get(TAG_USER, ""),
            tags=tags,
            params={k: _param_text(k, v) for k, v in self.graph.params.items()},
            heartbeat_time=start,  # what the heartbeat of a started run records at once
        )
        runs = [pipeline_run, *step_runs]
        uri = self.settings.tracking_uri
        if experiment is None and chosen is not None:
            exp_id = record_finished_runs(uri, runs, experiment_id=chosen)
        else:
            name = experiment if experiment is not None else DEFAULT_EXPERIMENT
            exp_id = record_finished_runs(uri, runs, experiment_name=name)
        if exp_id is None:
            self._forget()
            return None
        self.run_id, self.experiment_id = root, exp_id
        for i in range(len(self.results)):
            self._emit(i, "pending")
        for (i, key, meta, result), run in zip(plan, step_runs, strict=True):
            self._reused(i, key, meta, result, run.run_id)
        return self._result("finished", output)

    def _release(self, i: int) -> None:
        for d in self.dependents[i]:
            self.waiting[d] -= 1
            if self.waiting[d] == 0:
                self.ready.append(d)

    def _finish(self, i: int, task: StepTask, outcome: TaskOutcome) -> None:
        node = self.graph.nodes[i]
        r = self.results[i]
        run_id = task.run.info.run_id
        if outcome.ok and outcome.result is not None:
            stored = outcome.result
            self.cache.write_meta(
                task.key,
                {
                    "key": task.key,
                    "pipeline": self.pipe.name,
                    "step": node.step.name,
                    "step_id": node.step_id,
                    "run_id": run_id,
                    "created": now_ms(),
                    "components": self.parts[i].to_dict(),
                    "result": vars(stored),
                },
            )
            self.cache.set_last_key(
                self.pipe.name, node.step_id, {"key": task.key, "run_id": run_id}
            )
            self.client.set_tags(
                run_id,
                {
                    TAG_STEP_OUTPUT_SHA: stored.sha256,
                    TAG_STEP_OUTPUT_PATH: stored.path,
                    TAG_STEP_ATTEMPTS: str(task.attempt),
                },
            )
            self._end_run_async(run_id, "FINISHED")
            r.output_sha256, r.output_path = stored.sha256, stored.path
            r.duration_s = time.perf_counter() - self.started[i]
            self.outputs[i] = stored.sha256
            self.stored[i] = stored
            if outcome.has_value:
                self.values[i] = outcome.value
            self._emit(i, "done")
            self._release(i)
            return
        retryable = outcome.kind in ("error", "timeout", "lost")
        if retryable and task.attempt <= node.step.options.retries and self.failure is None:
            delay = min(MAX_RETRY_DELAY_S, node.step.options.retry_delay * 2 ** (task.attempt - 1))
            r.error = outcome.error
            self._emit(i, "retrying")
            heapq.heappush(
                self.delayed, (time.monotonic() + delay, i, replace(task, attempt=task.attempt + 1))
            )
            return
        r.error = outcome.error
        r.duration_s = time.perf_counter() - self.started[i]
        self.client.set_tags(
            run_id, {TAG_ERROR: outcome.error[:7_900], TAG_STEP_ATTEMPTS: str(task.attempt)}
        )
        if outcome.traceback:
            self.store.put_artifact(
                run_id, "traceback.txt", io.BytesIO(outcome.traceback.encode("utf-8"))
            )
        self._end_run_async(run_id, "FAILED")
        self._emit(i, "failed")
        if self.failure is None:
            self.failure = (i, outcome)

    def _fail(self, active: Any) -> PipelineRun:
        assert self.failure is not None
        i, outcome = self.failure
        for j, r in enumerate(self.results):
            if r.status in ("pending", "running", "retrying"):
                self._emit(j, "skipped")
        active.end("FAILED")
        node = self.graph.nodes[i]
        result = self._result("failed", None)
        cls: type[StepFailed] = StepFailed
        if outcome.kind == "timeout":
            cls = StepTimeout
            message = outcome.error
        elif outcome.kind == "unpicklable":
            cls = UnpicklableResult
            message = outcome.error
        else:
            message = f"step {node.step_id!r} failed: {outcome.error}"
        attempts = self.results[i].attempts
        if attempts > 1:
            message += f" (after {attempts} attempts)"
        message += f"; its traceback is in run {self.results[i].run_id}"
        err = cls(
            message,
            step=node.step_id,
            traceback=outcome.traceback,
            details={"step": node.step_id, "run_id": self.results[i].run_id},
        )
        err.run = result
        raise err

    def _resolve_output(self) -> Any:
        def value(ref: StepRef) -> Any:
            return select(whole(ref), ref.path, ref.step_id) if ref.path else whole(ref)

        def whole(ref: StepRef) -> Any:
            if ref.index in self.values:
                return self.values[ref.index]
            s = self.stored[ref.index]
            try:
                v = load_result(self.settings.artifacts, s)
            except MissingResult as exc:
                raise InvalidPipeline(
                    f"the output of step {ref.step_id!r} cannot be read back: {exc}; run again "
                    "with cache=False (--no-cache)"
                ) from exc
            self.values[ref.index] = v
            return v

        return replace_refs(self.graph.output, value)
