"""The ``mloop`` command line (Typer + Rich): experiments, runs, server, database, demo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop._core._lazy import lazy_names
from mloop.cli._main import main as main

if TYPE_CHECKING:
    from mloop.cli._main import app as app

# ``app``, the whole command tree, is built on first use: the console script, :func:`main`,
# builds only the command it runs.
__getattr__, __dir__, __all__ = lazy_names(__name__, {"app": "._main"}, eager=["main"])
