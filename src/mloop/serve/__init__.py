"""Serving: an inference server with adaptive batching over any mloop model."""

from __future__ import annotations

from mloop.serve._app import create_serve_app
from mloop.serve._slot import ModelSlot, ServedModel

__all__ = ["ModelSlot", "ServedModel", "create_serve_app"]
