"""The root of the ``mloop`` command: global options, error handling, the command groups.

Only Typer and the standard library are imported here; each command imports what it needs
(SQLAlchemy, pandas, scikit-learn, FastAPI) when it runs, so ``mloop --help`` answers at once.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mloop import __version__
from mloop.cli import (
    _data,
    _db,
    _demo,
    _deploy,
    _drift,
    _evaluate,
    _experiments,
    _export,
    _gate,
    _import,
    _loop,
    _models,
    _pipeline,
    _prompts,
    _reproduce,
    _runs,
    _score,
    _serve,
    _server,
    _sync,
    _token,
    _traces,
    _tune,
)
from mloop.cli._context import CliState
from mloop.cli._output import debug_enabled, print_error
from mloop.errors import MloopError


class _MloopGroup(TyperGroup):
    """Turns every :class:`MloopError` into one red ``error: ...`` line and exit code 1.

    It lives here rather than in :func:`main` so that ``CliRunner`` tests, which call the
    command directly, see exactly what a user sees.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _hide_flag_types(self)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MloopError as exc:
            if debug_enabled():
                raise
            print_error(exc.message)
            raise typer.Exit(1) from None


def _hide_flag_types(command: Any) -> None:
    """Show no type for a flag: Typer's help prints ``--json <bool>``, which reads as if the
    flag took a value (``--json true``). A flag has no value, so its type column stays empty."""
    for param in getattr(command, "params", ()):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    make_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:  # --help is made per context, not kept in params
        option = make_help(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)


app = typer.Typer(
    name="mloop",
    cls=_MloopGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mloop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            metavar="URI",
            help="sqlite:///path, postgresql://... or http(s)://host:port "
            "\\[default: MLOOP_TRACKING_URI, mloop.toml, then sqlite:///$MLOOP_HOME/mloop.db]",
            show_default=False,
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            metavar="URI",
            help="artifact folder or fsspec URL (s3://bucket/prefix) "
            "\\[default: MLOOP_ARTIFACTS, mloop.toml, then $MLOOP_HOME/artifacts]",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """mloop: track, validate, register, gate, serve, monitor and retrain ML models.

    Start with [bold]mloop demo[/], then [bold]mloop runs list[/] and [bold]mloop server[/].
    """
    # The environment variables are read with the settings, not by Typer: passing them as
    # arguments would put them above mloop.toml and break the documented precedence. The
    # options become the process's current store (read on first use, so --help stays fast).
    from mloop.store._context import set_default

    set_default(tracking_uri=tracking_uri, artifacts=artifacts)
    ctx.obj = CliState(tracking_uri=tracking_uri, artifacts=artifacts)


app.add_typer(_experiments.app, name="experiments")
app.add_typer(_runs.app, name="runs")
app.add_typer(_models.app, name="models")
app.add_typer(_prompts.app, name="prompts")
app.add_typer(_traces.app, name="traces")
app.add_typer(_deploy.app, name="deploy")
app.add_typer(_loop.app, name="loop")
app.add_typer(_data.app, name="data")
app.add_typer(_db.app, name="db")
app.add_typer(_pipeline.app, name="pipeline")
app.add_typer(_export.app, name="export")
app.add_typer(_import.app, name="import")
app.add_typer(_token.app, name="token")
app.command("server")(_server.server)
app.command("serve")(_serve.serve)
app.command("demo")(_demo.demo)
app.command("drift")(_drift.drift)
app.command("evaluate")(_evaluate.evaluate)
app.command("gate")(_gate.gate)
app.command("promote")(_gate.promote)
app.command("tune")(_tune.tune)
app.command("reproduce")(_reproduce.reproduce)
app.command("score")(_score.score)
app.command("sync")(_sync.sync)


def main() -> None:
    """The ``mloop`` console script."""
    try:
        app(prog_name="mloop")
    except MloopError as exc:  # raised outside a command (normally handled by _MloopGroup)
        if debug_enabled():
            raise
        print_error(exc.message)
        sys.exit(1)
