"""Steps, pipeline definitions and the trace that turns a pipeline function into a graph of
step calls (the runner sits above this module; :mod:`._pipeline`, above the runner, makes a
pipeline run when called).

Inside a pipeline, calling a step does not run it: it returns a :class:`StepRef`, a promise of
the step's output, after binding the arguments against the step's signature. Tracing the whole
pipeline function first means that a missing argument, an output that is never produced or a
cycle is reported before any step runs.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from mloop.pipeline._errors import InvalidPipeline

F = TypeVar("F", bound=Callable[..., Any])

_tracer: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar(
    "mloop_pipeline_tracer", default=None
)

_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")


@dataclass(frozen=True)
class StepOptions:
    """How a step runs and caches. See :func:`step`."""

    retries: int = 0
    retry_delay: float = 1.0
    timeout: float | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    cache: bool = True
    packages: tuple[str, ...] = ()


class Step:
    """A function marked with :func:`step`. Called inside a pipeline it returns a
    :class:`StepRef`; called anywhere else it simply runs."""

    _mloop_step = True

    def __init__(self, fn: Callable[..., Any], options: StepOptions, name: str | None = None):
        if not callable(fn) or inspect.isclass(fn):
            raise InvalidPipeline(f"@step marks functions, got {fn!r}")
        if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
            raise InvalidPipeline(
                f"step {fn.__name__!r} is a coroutine or generator function; a step must be a "
                "plain function that returns its result"
            )
        self.fn = fn
        self.options = options
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = _tracer.get()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.add(self, args, kwargs)


@overload
def step(fn: F, /) -> F: ...
@overload
def step(
    *,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    resources: Mapping[str, float] | None = None,
    cache: bool = True,
    packages: Sequence[str] = (),
    name: str | None = None,
) -> Callable[[F], F]: ...
def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    resources: Mapping[str, float] | None = None,
    cache: bool = True,
    packages: Sequence[str] = (),
    name: str | None = None,
) -> Any:
    """Mark a function as a pipeline step, with or without options.

    Args:
        retries: run again up to this many times when the step raises, waiting
            ``retry_delay`` seconds, then twice as long each time (at most 60 s).
        retry_delay: the first wait between attempts, in seconds.
        timeout: kill the step after this many seconds and raise :class:`StepTimeout`. On the
            local engine such a step runs in a child process so that it can be killed.
        resources: what the step needs on Ray: ``num_cpus``, ``num_gpus``, ``memory`` (bytes)
            and any custom resource name.
        cache: ``False`` runs the step every time.
        packages: distribution names whose installed versions enter the cache key
            (``["scikit-learn"]``): upgrading one re-runs the step.
        name: the step's name; default the function's name.

    Example::

        @mloop.step(retries=2, packages=["scikit-learn"])
        def train(data, alpha: float = 0.1):
            ...
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidPipeline(f"retries must be a whole number >= 0, got {retries!r}")
    if retry_delay < 0:
        raise InvalidPipeline(f"retry_delay must be >= 0 seconds, got {retry_delay!r}")
    if timeout is not None and not timeout > 0:
        raise InvalidPipeline(f"timeout must be a number of seconds > 0, got {timeout!r}")
    res = dict(resources or {})
    for key, value in res.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise InvalidPipeline(f"resource {key!r} must be a number >= 0, got {value!r}")
    if isinstance(packages, str):
        packages = [packages]
    options = StepOptions(
        retries=retries,
        retry_delay=float(retry_delay),
        timeout=None if timeout is None else float(timeout),
        resources=res,
        cache=bool(cache),
        packages=tuple(packages),
    )

    def wrap(f: Callable[..., Any]) -> Any:
        return Step(f, options, name)

    return wrap if fn is None else wrap(fn)


class StepRef:
    """The output of a step call inside a pipeline, known only once the step has run.

    Pass it to other steps or return it from the pipeline. ``ref[0]`` or ``ref["model"]`` is a
    reference to part of the output (taken when the consuming step runs); anything else that
    would need the value while the pipeline is traced (``if ref:``, ``for x in ref``) is an
    error.
    """

    __slots__ = ("_trace", "index", "path", "step_id")

    def __init__(self, trace: int, index: int, step_id: str, path: tuple[Any, ...] = ()) -> None:
        self._trace = trace
        self.index = index
        self.step_id = step_id
        self.path = path

    def __repr__(self) -> str:
        return f"StepRef({self.step_id!r})" + "".join(f"[{k!r}]" for k in self.path)

    def _misuse(self, what: str) -> InvalidPipeline:
        return InvalidPipeline(
            f"the output of step {self.step_id!r} is not known while the pipeline is traced, so "
            f"it cannot be {what}; pass it (or a part of it, ref[0], ref['key']) to another step "
            "and do the work there"
        )

    def __bool__(self) -> bool:
        raise self._misuse("tested for truth")

    def __iter__(self) -> Iterator[Any]:
        raise self._misuse("iterated or unpacked")

    def __len__(self) -> int:
        raise self._misuse("measured with len()")

    def __getitem__(self, key: Any) -> StepRef:
        if not isinstance(key, int | str) or isinstance(key, bool):
            raise self._misuse(f"indexed with {key!r} (only ints and strings select a part)")
        return StepRef(self._trace, self.index, self.step_id, (*self.path, key))


def select(value: Any, path: tuple[Any, ...], step_id: str = "") -> Any:
    """``value[path[0]][path[1]]...``: the part of a step's output a :class:`StepRef` names."""
    for key in path:
        try:
            value = value[key]
        except (LookupError, TypeError) as exc:
            raise InvalidPipeline(
                f"the output of step {step_id!r} has no part [{key!r}] "
                f"({type(value).__name__}: {exc})"
            ) from None
    return value


@dataclass
class Node:
    """One step call in a traced pipeline."""

    index: int
    step: Step
    step_id: str
    arguments: dict[str, Any]
    deps: list[int] = field(default_factory=list)


@dataclass
class Graph:
    """A traced pipeline: its step calls in call order (a topological order), its params and
    its output (with :class:`StepRef` inside)."""

    pipeline: PipelineSpec
    params: dict[str, Any]
    nodes: list[Node]
    output: Any
    order: list[int] = field(default_factory=list)


def walk_refs(value: Any) -> Iterator[StepRef]:
    """Every :class:`StepRef` inside lists, tuples, dicts and sets."""
    if isinstance(value, StepRef):
        yield value
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from walk_refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from walk_refs(v)


def replace_refs(value: Any, fn: Callable[[StepRef], Any]) -> Any:
    """``value`` with every :class:`StepRef` replaced by ``fn(ref)``."""
    if isinstance(value, StepRef):
        return fn(value)
    if isinstance(value, list):
        return [replace_refs(v, fn) for v in value]
    if isinstance(value, tuple):
        items = [replace_refs(v, fn) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, set | frozenset):
        return type(value)(replace_refs(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: replace_refs(v, fn) for k, v in value.items()}
    return value


_trace_ids = iter(range(1, 1 << 62))


class Tracer:
    def __init__(self) -> None:
        self.id = next(_trace_ids)
        self.nodes: list[Node] = []
        self._counts: dict[str, int] = {}

    def add(self, step_: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepRef:
        try:
            bound = step_.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidPipeline(
                f"step {step_.name!r} cannot be called this way: {exc}; its signature is "
                f"{step_.name}{step_.signature}"
            ) from None
        bound.apply_defaults()
        n = self._counts.get(step_.name, 0)
        self._counts[step_.name] = n + 1
        step_id = step_.name if n == 0 else f"{step_.name}.{n}"
        node = Node(len(self.nodes), step_, step_id, dict(bound.arguments))
        self.nodes.append(node)
        return StepRef(self.id, node.index, step_id)


class PipelineSpec:
    """What a pipeline is to the tracer, the loader and the runner: its function, name and
    params. The public :class:`~mloop.pipeline.Pipeline` adds running it when called."""

    _mloop_pipeline = True

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        if not callable(fn):
            raise InvalidPipeline(f"@pipeline marks functions, got {fn!r}")
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        self.target: str | None = None

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


def tracing() -> bool:
    """Whether a pipeline is being traced in this context (its step calls become refs)."""
    return _tracer.get() is not None


def trace(pipe: PipelineSpec, params: Mapping[str, Any] | None = None) -> Graph:
    """Call the pipeline function with ``params`` and record its step calls.

    Raises:
        InvalidPipeline: an unknown or missing param, a step called with wrong arguments, a
            step output that this pipeline never produces, or a cycle.
    """
    params = dict(params or {})
    accepted = list(pipe.signature.parameters)
    unknown = [k for k in params if k not in pipe.signature.parameters]
    if unknown:
        raise InvalidPipeline(
            f"unknown param{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for pipeline {pipe.name!r}; it accepts: {describe_params(pipe) or '(none)'}",
            details={"unknown": unknown, "accepted": accepted},
        )
    try:
        bound = pipe.signature.bind(**params)
    except TypeError as exc:
        raise InvalidPipeline(
            f"pipeline {pipe.name!r}: {exc}; it accepts: {describe_params(pipe)}"
        ) from None
    bound.apply_defaults()
    tracer = Tracer()
    token = _tracer.set(tracer)
    try:
        output = pipe.fn(*bound.args, **bound.kwargs)
    finally:
        _tracer.reset(token)
    graph = Graph(pipe, dict(bound.arguments), tracer.nodes, output)
    _link(graph, tracer.id)
    return graph


def _link(graph: Graph, trace_id: int) -> None:
    """Find each node's dependencies (after the pipeline returned, so containers filled late
    count) and check that they exist and form no cycle."""
    nodes = graph.nodes
    for node in nodes:
        deps: list[int] = []
        for ref in walk_refs(node.arguments):
            if ref._trace != trace_id or ref.index >= len(nodes):
                raise InvalidPipeline(
                    f"step {node.step_id!r} takes an input from step {ref.step_id!r}, whose "
                    "output this pipeline never produces (a StepRef from another pipeline or "
                    "an earlier trace); call that step inside this pipeline"
                )
            if ref.index not in deps:
                deps.append(ref.index)
        node.deps = deps
    for ref in walk_refs(graph.output):
        if ref._trace != trace_id or ref.index >= len(nodes):
            raise InvalidPipeline(
                f"pipeline {graph.pipeline.name!r} returns the output of step {ref.step_id!r}, "
                "which it never produces; call that step inside the pipeline"
            )
    graph.order = topological_order(nodes)


def topological_order(nodes: Sequence[Node]) -> list[int]:
    """Node indexes with every dependency before its dependents.

    Raises:
        InvalidPipeline: the dependencies form a cycle (named step by step).
    """
    state: dict[int, int] = {}  # 1 visiting, 2 done
    order: list[int] = []
    by_index = {n.index: n for n in nodes}
    for start in sorted(by_index):
        if state.get(start):
            continue
        stack: list[tuple[int, Iterator[int]]] = [(start, iter(by_index[start].deps))]
        state[start] = 1
        while stack:
            current, deps = stack[-1]
            nxt = next(deps, None)
            if nxt is None:
                stack.pop()
                state[current] = 2
                order.append(current)
                continue
            if state.get(nxt) == 1:
                path = [i for i, _ in stack]
                cycle = [*path[path.index(nxt) :], nxt]
                raise InvalidPipeline(
                    "the pipeline's steps form a cycle: "
                    + " -> ".join(by_index[i].step_id for i in cycle)
                    + "; a step cannot take its own output, directly or through other steps"
                )
            if not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(by_index[nxt].deps)))
    return order


def describe_params(pipe: PipelineSpec) -> str:
    """``alpha: float = 0.1, n: int`` for error messages."""
    parts = []
    for p in pipe.signature.parameters.values():
        text = p.name
        if p.annotation is not inspect.Parameter.empty:
            ann = (
                p.annotation
                if isinstance(p.annotation, str)
                else getattr(p.annotation, "__name__", str(p.annotation))
            )
            text += f": {ann}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        parts.append(text)
    return ", ".join(parts)
