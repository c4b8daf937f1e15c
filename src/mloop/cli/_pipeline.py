"""``mloop pipeline run|explain FILE:PIPELINE``: run a pipeline with a live view of its steps,
or say which steps would run and why. The pipeline machinery loads when a command runs."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._output import debug_enabled, emit_json, jsonable, print_error, print_notice
from mloop.errors import MloopError

if TYPE_CHECKING:
    from mloop.pipeline import StepResult

app = typer.Typer(
    name="pipeline",
    help="Run cached, tracked pipelines of steps, and explain what would re-run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class Engine(StrEnum):
    local = "local"
    ray = "ray"


_STYLES = {
    "pending": "dim",
    "running": "cyan",
    "retrying": "magenta",
    "cached": "blue",
    "done": "green",
    "failed": "red",
    "skipped": "yellow",
}

Target = Annotated[
    str,
    typer.Argument(
        metavar="FILE:PIPELINE", help="A Python file and the @mloop.pipeline function in it."
    ),
]
Params = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        metavar="NAME=VALUE",
        help="A pipeline param, parsed by its annotation (int, float, bool, str, else JSON); "
        "repeat for several.",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


class _Progress:
    """A live table of the steps on stderr: name, status, duration."""

    def __init__(self, enabled: bool) -> None:
        self.rows: dict[str, StepResult] = {}
        self.live: Any = None
        self._last = 0.0
        self.console: Any = None
        if enabled:
            from mloop.cli._output import stderr

            self.console = stderr()
            if self.console.is_terminal:
                from rich.live import Live

                self.live = Live(console=self.console, auto_refresh=False, transient=False)
                self.live.start()

    def __call__(self, result: StepResult) -> None:
        self.rows[result.step_id] = result
        now = time.monotonic()
        if self.live is not None and (now - self._last > 0.1 or result.status == "failed"):
            self._last = now
            self.live.update(self._table(), refresh=True)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table("step", "status", "duration", box=None, pad_edge=False)
        for r in self.rows.values():
            style = _STYLES.get(r.status, "")
            duration = f"{r.duration_s:.2f}s" if r.status in ("done", "failed") else ""
            table.add_row(r.step_id, f"[{style}]{r.status}[/]", duration)
        return table

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self._table(), refresh=True)
            self.live.stop()
            self.live = None
        elif self.console is not None and self.rows:
            self.console.print(self._table())  # not a terminal: the final table only
            self.rows = {}


def _fail(exc: MloopError) -> typer.Exit:
    if debug_enabled():
        raise exc
    print_error(exc.message)
    return typer.Exit(1)


@app.command("run")
def run(
    ctx: typer.Context,
    target: Target,
    params: Params = None,
    engine: Annotated[
        Engine, typer.Option("--engine", help="Where steps run: threads here, or Ray.")
    ] = Engine.local,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            metavar="ADDR",
            help="The Ray cluster \\[default: MLOOP_RAY_ADDRESS, else a local Ray].",
            show_default=False,
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step, reusing no cached result.")
    ] = False,
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", "-e", metavar="NAME", help="The experiment of the run."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Run a pipeline: cached steps are reused, the others run; every step is a nested run.

    Exit status 1 when a step fails (the failing step is named).

    Example: [bold]mloop pipeline run flows/train.py:train --param alpha=0.2[/]
    """
    from mloop.pipeline import StepFailed
    from mloop.pipeline import run as run_pipeline
    from mloop.pipeline._load import load_target
    from mloop.pipeline._params import parse_params

    progress: _Progress | None = None
    try:
        pipe, _ = load_target(target)
        values = parse_params(pipe, params or [])
        progress = _Progress(enabled=not as_json)
        result = run_pipeline(
            pipe,
            values,
            engine=engine.value,
            address=address,
            cache=not no_cache,
            experiment=experiment,
            on_event=progress,
        )
    except StepFailed as exc:
        if progress is not None:
            progress.stop()
        if as_json and exc.run is not None:
            emit_json({**exc.run.to_dict(), "error": exc.message, "output": None})
        raise _fail(exc) from None
    except MloopError as exc:
        if progress is not None:
            progress.stop()
        raise _fail(exc) from None
    progress.stop()
    if as_json:
        emit_json({**result.to_dict(), "output": _jsonable_output(result.output)})
        return
    counts: dict[str, int] = {}
    for s in result.steps:
        counts[s.status] = counts.get(s.status, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print_notice(
        f"pipeline {result.name} finished in {result.duration_s:.2f}s ({summary}); "
        f"run {result.run_id}",
        style="green",
    )
    if result.output is not None:
        from mloop.cli._output import stdout

        stdout().print(repr(result.output) if not isinstance(result.output, str) else result.output)


def _jsonable_output(value: Any) -> Any:
    import json

    try:
        data = jsonable(value)
        json.dumps(data, allow_nan=False)
        return data
    except (TypeError, ValueError):
        return repr(value)


@app.command("explain")
def explain(
    ctx: typer.Context,
    target: Target,
    params: Params = None,
    as_json: AsJson = False,
) -> None:
    """Say which steps a run would execute and why (code, params, inputs, packages), without
    running anything.

    Example: [bold]mloop pipeline explain flows/train.py:train --param alpha=0.2[/]
    """
    from mloop.pipeline import explain as explain_pipeline
    from mloop.pipeline._load import load_target
    from mloop.pipeline._params import parse_params

    try:
        pipe, _ = load_target(target)
        found = explain_pipeline(pipe, parse_params(pipe, params or []))
    except MloopError as exc:
        raise _fail(exc) from None
    if as_json:
        emit_json([e.to_dict() for e in found])
        return
    from rich.table import Table

    from mloop.cli._output import stdout

    table = Table("step", "will run", "why")
    for e in found:
        table.add_row(
            e.step_id,
            "[yellow]yes[/]" if e.will_run else "[blue]no[/]",
            "; ".join(e.reasons),
        )
    stdout().print(table)
