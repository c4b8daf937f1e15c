"""Pipelines: steps as plain functions, cached by code, params and input content; runs tracked."""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from mloop._core._lazy import lazy_names
from mloop.pipeline._errors import InvalidPipeline as InvalidPipeline
from mloop.pipeline._errors import PipelineError as PipelineError
from mloop.pipeline._errors import StepFailed as StepFailed
from mloop.pipeline._errors import StepTimeout as StepTimeout
from mloop.pipeline._errors import UnpicklableResult as UnpicklableResult
from mloop.pipeline._model import Step as Step
from mloop.pipeline._model import StepOptions as StepOptions
from mloop.pipeline._model import StepRef as StepRef
from mloop.pipeline._model import step as step
from mloop.pipeline._pipeline import Pipeline as Pipeline
from mloop.pipeline._pipeline import pipeline as pipeline

if TYPE_CHECKING:
    from mloop.pipeline._executor import Executor as Executor
    from mloop.pipeline._executor import LocalExecutor as LocalExecutor
    from mloop.pipeline._explain import StepExplanation as StepExplanation
    from mloop.pipeline._explain import explain as explain
    from mloop.pipeline._ray import RayExecutor as RayExecutor
    from mloop.pipeline._reproduce import reproduce as reproduce
    from mloop.pipeline._reproduce_checks import Difference as Difference
    from mloop.pipeline._reproduce_checks import MetricComparison as MetricComparison
    from mloop.pipeline._reproduce_checks import ReproduceReport as ReproduceReport
    from mloop.pipeline._runner import PipelineRun as PipelineRun
    from mloop.pipeline._runner import StepResult as StepResult
    from mloop.pipeline._runner import run as run
    from mloop.pipeline._task import StepTask as StepTask
    from mloop.pipeline._task import TaskOutcome as TaskOutcome
    from mloop.pipeline._tune import TrialContext as TrialContext
    from mloop.pipeline._tune import TrialPruned as TrialPruned
    from mloop.pipeline._tune import TuneResult as TuneResult
    from mloop.pipeline._tune import tune as tune
    from mloop.pipeline._tune_journal import journal_storage as journal_storage

# Loaded on first use: a pipeline file that only declares steps does not pay for the stores,
# and tuning imports Optuna (the `tune` extra) only when used.
__getattr__, __dir__, __all__ = lazy_names(
    __name__,
    {
        "Executor": "._executor",
        "LocalExecutor": "._executor",
        "RayExecutor": "._ray",
        "StepExplanation": "._explain",
        "explain": "._explain",
        "PipelineRun": "._runner",
        "StepResult": "._runner",
        "run": "._runner",
        "StepTask": "._task",
        "TaskOutcome": "._task",
        "Difference": "._reproduce_checks",
        "MetricComparison": "._reproduce_checks",
        "ReproduceReport": "._reproduce_checks",
        "reproduce": "._reproduce",
        "TrialContext": "._tune",
        "TrialPruned": "._tune",
        "TuneResult": "._tune",
        "tune": "._tune",
        "journal_storage": "._tune_journal",
    },
    eager=(
        "InvalidPipeline",
        "Pipeline",
        "PipelineError",
        "Step",
        "StepFailed",
        "StepOptions",
        "StepRef",
        "StepTimeout",
        "UnpicklableResult",
        "pipeline",
        "step",
    ),
)


class _CallableModule(types.ModuleType):
    """``mloop.pipeline`` is both this package and the decorator: ``@mloop.pipeline`` marks a
    pipeline function, while ``mloop.pipeline.run`` and the other names stay importable."""

    def __call__(self, fn: Any = None, /, **kwargs: Any) -> Any:
        return pipeline(fn, **kwargs) if fn is not None else pipeline(**kwargs)


sys.modules[__name__].__class__ = _CallableModule
