"""The model registry: registered models, numbered versions, aliases, an append-only audit log."""

from __future__ import annotations

from mloop.registry._registry import Registry, register_model, resolve, set_alias

__all__ = ["Registry", "register_model", "resolve", "set_alias"]
