"""The ``mloop`` command line (Typer + Rich): experiments, runs, server, database, demo."""

from __future__ import annotations

from typing import Any

from mloop.cli._main import main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    # The whole command tree is built on first use (``mloop.cli.app``): the console script,
    # :func:`main`, builds only the command it runs.
    if name == "app":
        from mloop.cli import _main

        return _main.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
