"""Serving: an inference server with adaptive batching, alias following and traffic policies.

The prediction log it writes lives in :mod:`mloop.monitor`; ``PredictionLog`` and
``read_predictions`` are re-exported here as well.
"""

from __future__ import annotations

from mloop.monitor._predlog import PredictionLog
from mloop.monitor._predread import read_predictions
from mloop.serve._app import PredictionHook, create_serve_app
from mloop.serve._feedback_api import feedback_router
from mloop.serve._policy import DeployPolicy, load_deploy_policy, load_policy
from mloop.serve._slot import ModelSlot, ServedModel, ServedVersion
from mloop.serve._vertex import VertexRoutes

__all__ = [
    "DeployPolicy",
    "ModelSlot",
    "PredictionHook",
    "PredictionLog",
    "ServedModel",
    "ServedVersion",
    "VertexRoutes",
    "create_serve_app",
    "feedback_router",
    "load_deploy_policy",
    "load_policy",
    "read_predictions",
]
