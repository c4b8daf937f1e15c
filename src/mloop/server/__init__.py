"""The mloop REST server (FastAPI) and a helper to run it in a background thread."""

from __future__ import annotations

from mloop.server._app import create_app
from mloop.server._live import ServerThread

__all__ = ["ServerThread", "create_app"]
