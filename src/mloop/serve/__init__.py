"""Serving: an inference server with adaptive batching, alias following and traffic policies."""

from __future__ import annotations

from mloop.serve._app import PredictionHook, create_serve_app
from mloop.serve._feedback import feedback_router
from mloop.serve._policy import DeployPolicy, load_policy
from mloop.serve._predlog import PredictionLog
from mloop.serve._predread import read_predictions
from mloop.serve._slot import ModelSlot, ServedModel, ServedVersion

__all__ = [
    "DeployPolicy",
    "ModelSlot",
    "PredictionHook",
    "PredictionLog",
    "ServedModel",
    "ServedVersion",
    "create_serve_app",
    "feedback_router",
    "load_policy",
    "read_predictions",
]
