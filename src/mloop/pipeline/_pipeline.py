"""``@mloop.pipeline``: a function that calls steps, as a :class:`Pipeline` that runs when
called.

This module sits above the runner: the tracer, the loader and the runner read a pipeline's
definition (:class:`~mloop.pipeline._model.PipelineSpec`), and only calling a pipeline, here,
needs the runner.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mloop.pipeline._model import PipelineSpec, tracing

__all__ = ["Pipeline", "pipeline"]


class Pipeline(PipelineSpec):
    """A function marked with :func:`pipeline`: calls steps and returns their outputs.

    Calling it runs it (:func:`mloop.pipeline.run` with the arguments as params); inside
    another pipeline, calling it inlines its steps into the caller's graph.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        super().__init__(fn, name)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if tracing():  # a pipeline called from a pipeline: inline its steps
            return self.fn(*args, **kwargs)
        from mloop.pipeline._runner import run

        bound = self.signature.bind(*args, **kwargs)
        return run(self, dict(bound.arguments)).output


def pipeline(fn: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Mark a function as a pipeline: it calls steps, and what it returns is the pipeline's
    output. Its parameters are the pipeline's params.

    Example::

        @mloop.pipeline
        def train_all(alphas: list = [0.1, 1.0]):
            data = load()
            models = [train(data, a) for a in alphas]   # fan-out: run in parallel
            return pick_best(models)
    """

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name)

    return wrap if fn is None else wrap(fn)
