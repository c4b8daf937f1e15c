"""The ``mloop`` command line (Typer + Rich): experiments, runs, server, database, demo."""

from __future__ import annotations

from mloop.cli._main import app, main

__all__ = ["app", "main"]
