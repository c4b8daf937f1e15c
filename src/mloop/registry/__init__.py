"""The model registry: registered models, numbered versions, aliases, an append-only audit log."""

from __future__ import annotations

from mloop.registry._deployment import CanaryEntry, ModelPolicy, validate_model_policy
from mloop.registry._registry import Registry, deployment_spec, register_model, resolve, set_alias

__all__ = [
    "CanaryEntry",
    "ModelPolicy",
    "Registry",
    "deployment_spec",
    "register_model",
    "resolve",
    "set_alias",
    "validate_model_policy",
]
