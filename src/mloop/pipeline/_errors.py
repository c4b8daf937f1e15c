"""Errors of pipelines and steps (defined in :mod:`mloop.errors`, re-exported here)."""

from __future__ import annotations

from mloop.errors import (
    InvalidPipeline,
    PipelineError,
    StepFailed,
    StepTimeout,
    UnpicklableResult,
)

__all__ = ["InvalidPipeline", "PipelineError", "StepFailed", "StepTimeout", "UnpicklableResult"]
