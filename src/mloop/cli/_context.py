"""What the root callback hands down to the commands: the settings, and the store they name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mloop.errors import InvalidArgument

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

    The settings are built once, on first use: ``mloop runs --help`` never pays for pydantic.
    """

    def __init__(self, *, tracking_uri: str | None = None, artifacts: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifacts = artifacts
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from pydantic import ValidationError

            from mloop._core import load_settings

            try:
                self._settings = load_settings(
                    tracking_uri=self.tracking_uri, artifacts=self.artifacts
                )
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise InvalidArgument(
                    f"invalid configuration (MLOOP_* environment or mloop.toml): {problems}"
                ) from exc
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the root callback (a fresh one when a command runs alone)."""
    obj = ctx.find_object(CliState)
    if obj is None:
        obj = ctx.ensure_object(CliState)
    return obj


def open_store(ctx: typer.Context) -> Store:
    """The store of the settings, closed when the command ends."""
    from mloop.store import open_store as _open

    store = _open(state(ctx).settings)
    ctx.call_on_close(store.close)
    return store
