"""Pipelines: steps as plain functions, cached by code, params and input content; runs tracked."""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

from mloop.pipeline._errors import (
    InvalidPipeline,
    PipelineError,
    StepFailed,
    StepTimeout,
    UnpicklableResult,
)
from mloop.pipeline._model import Pipeline, Step, StepOptions, StepRef, pipeline, step

if TYPE_CHECKING:
    from mloop.pipeline._executor import Executor, LocalExecutor
    from mloop.pipeline._explain import StepExplanation, explain
    from mloop.pipeline._ray import RayExecutor
    from mloop.pipeline._reproduce import (
        Difference,
        MetricComparison,
        ReproduceReport,
        reproduce,
    )
    from mloop.pipeline._runner import PipelineRun, StepResult, run
    from mloop.pipeline._task import StepTask, TaskOutcome
    from mloop.pipeline._tune import TrialContext, TrialPruned, TuneResult, tune
    from mloop.pipeline._tune_journal import journal_storage

# Loaded on first use: a pipeline file that only declares steps does not pay for the stores.
_LAZY = {
    "Executor": "mloop.pipeline._executor",
    "LocalExecutor": "mloop.pipeline._executor",
    "RayExecutor": "mloop.pipeline._ray",
    "StepExplanation": "mloop.pipeline._explain",
    "explain": "mloop.pipeline._explain",
    "PipelineRun": "mloop.pipeline._runner",
    "StepResult": "mloop.pipeline._runner",
    "run": "mloop.pipeline._runner",
    "StepTask": "mloop.pipeline._task",
    "TaskOutcome": "mloop.pipeline._task",
    "Difference": "mloop.pipeline._reproduce",
    "MetricComparison": "mloop.pipeline._reproduce",
    "ReproduceReport": "mloop.pipeline._reproduce",
    "reproduce": "mloop.pipeline._reproduce",
    # Tuning imports Optuna (the `tune` extra): only when used.
    "TrialContext": "mloop.pipeline._tune",
    "TrialPruned": "mloop.pipeline._tune",
    "TuneResult": "mloop.pipeline._tune",
    "tune": "mloop.pipeline._tune",
    "journal_storage": "mloop.pipeline._tune_journal",
}

__all__ = [
    "Difference",
    "Executor",
    "InvalidPipeline",
    "LocalExecutor",
    "MetricComparison",
    "Pipeline",
    "PipelineError",
    "PipelineRun",
    "RayExecutor",
    "ReproduceReport",
    "Step",
    "StepExplanation",
    "StepFailed",
    "StepOptions",
    "StepRef",
    "StepResult",
    "StepTask",
    "StepTimeout",
    "TaskOutcome",
    "TrialContext",
    "TrialPruned",
    "TuneResult",
    "UnpicklableResult",
    "explain",
    "journal_storage",
    "pipeline",
    "reproduce",
    "run",
    "step",
    "tune",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mloop.pipeline' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


class _CallableModule(types.ModuleType):
    """``mloop.pipeline`` is both this package and the decorator: ``@mloop.pipeline`` marks a
    pipeline function, while ``mloop.pipeline.run`` and the other names stay importable."""

    def __call__(self, fn: Any = None, /, **kwargs: Any) -> Any:
        return pipeline(fn, **kwargs) if fn is not None else pipeline(**kwargs)


sys.modules[__name__].__class__ = _CallableModule
