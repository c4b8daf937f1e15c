"""The root of the ``mloop`` command: global options, error handling, the command groups.

Only Typer and the standard library are imported here; each command imports what it needs
(SQLAlchemy, pandas, scikit-learn, FastAPI) when it runs, so ``mloop --help`` answers at once.

``mloop drift ...`` imports and builds only the ``drift`` command: :func:`main` reads the
command's name from the arguments and gives Typer a root that holds that one command (or
group), the global options and callback unchanged. Building all of them (their modules, then a
Click command per function, with its type hints) cost every command about 0.2 CPU-s. ``mloop``,
``mloop --help`` and an unknown name get the whole tree, as does :data:`app`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from mloop import __version__
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


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mloop {__version__}")
        raise typer.Exit()


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


# Command groups (a module's ``app``) and commands (a module's function), in the order of the
# help page; a module is imported only when its command is built.
GROUPS: dict[str, str] = {
    "experiments": "_experiments",
    "runs": "_runs",
    "models": "_models",
    "prompts": "_prompts",
    "traces": "_traces",
    "deploy": "_deploy",
    "loop": "_loop",
    "data": "_data",
    "db": "_db",
    "pipeline": "_pipeline",
    "export": "_export",
    "import": "_import",
    "token": "_token",
}
COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("_server", "server"),
    "serve": ("_serve", "serve"),
    "demo": ("_demo", "demo"),
    "drift": ("_drift", "drift"),
    "evaluate": ("_evaluate", "evaluate"),
    "gate": ("_gate", "gate"),
    "promote": ("_gate", "promote"),
    "tune": ("_tune", "tune"),
    "reproduce": ("_reproduce", "reproduce"),
    "score": ("_score", "score"),
    "sync": ("_sync", "sync"),
}
# Global options that take a value: the command's name is the first argument after them.
_VALUE_OPTIONS = ("--tracking-uri", "--artifacts")


def build_app(only: str | None = None) -> typer.Typer:
    """The ``mloop`` Typer app: every command, or only the command or group ``only``."""
    root = typer.Typer(
        name="mloop",
        cls=_MloopGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode="rich",
    )
    root.callback()(_root)
    for name, module in GROUPS.items():
        if only is None or only == name:
            root.add_typer(import_module(f"mloop.cli.{module}").app, name=name)
    for name, (module, function) in COMMANDS.items():
        if only is None or only == name:
            root.command(name)(getattr(import_module(f"mloop.cli.{module}"), function))
    return root


def invoked_command(args: Sequence[str]) -> str | None:
    """The name of the command or group that ``args`` (``sys.argv[1:]``) run, when it is one
    of mloop's and no help of the root is asked for; else None."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _VALUE_OPTIONS:
            i += 2
            continue
        if arg.startswith("-"):
            if arg in ("-h", "--help", "-V", "--version") or "=" not in arg:
                return None  # root help, version, or an option the root does not know
            i += 1
            continue
        return arg if arg in GROUPS or arg in COMMANDS else None
    return None


_full_app: typer.Typer | None = None
if TYPE_CHECKING:
    app: typer.Typer  # built on first use by __getattr__


def __getattr__(name: str) -> Any:
    # ``app``, the whole command tree, is built on first use: tests and the docs generator
    # use it; the console script builds what it runs.
    global _full_app
    if name == "app":
        if _full_app is None:
            _full_app = build_app()
        return _full_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The ``mloop`` console script."""
    only = invoked_command(sys.argv[1:])
    try:
        (build_app(only) if only is not None else build_app())(prog_name="mloop")
    except MloopError as exc:  # raised outside a command (normally handled by _MloopGroup)
        if debug_enabled():
            raise
        print_error(exc.message)
        sys.exit(1)
