"""What the root callback hands down to the commands: the settings, and the store they name.

The root callback makes its global options the process's current store
(:func:`mloop.store._context.set_default`); every command and every library call it makes then
use the same settings and the same store. The CLI never sets environment variables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mloop._core import Settings
    from mloop.store import Store


#: ``--backend-store-uri``, shared by the commands that open a database directly.
BackendStoreUri = Annotated[
    str | None,
    typer.Option(
        "--backend-store-uri",
        metavar="URI",
        help="sqlite:///path or postgresql://... \\[default: the tracking URI]",
        show_default=False,
    ),
]


class CliState:
    """What the root callback hands down to every command through ``ctx.obj``.

    The settings are read on first use: ``mloop runs --help`` never pays for pydantic.
    """

    def __init__(self, *, tracking_uri: str | None = None, artifacts: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifacts = artifacts

    @property
    def settings(self) -> Settings:
        """The current store's settings (the global options over ``MLOOP_*`` and
        ``mloop.toml``).

        Raises:
            InvalidArgument: the configuration is invalid (the message names each value).
        """
        from mloop.store._context import current

        return current().settings


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the root callback (a fresh one when a command runs alone)."""
    obj = ctx.find_object(CliState)
    if obj is None:
        obj = ctx.ensure_object(CliState)
    return obj


def open_store(ctx: typer.Context) -> Store:
    """The current store: the one the global options name, shared with the library calls the
    command makes."""
    from mloop.store._context import current

    return current().store
