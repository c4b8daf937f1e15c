"""``mloop import``: bring another tool's records into mloop."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mloop.cli._context import open_store
from mloop.cli._output import emit_json, stderr, stdout

app = typer.Typer(
    help="Import experiments, runs and models from another tool.", no_args_is_help=True
)


@app.command("mlflow")
def mlflow(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="URI",
            help="An MLflow tracking server (http://host:5000), an mlruns folder, or an MLflow "
            "database (mlflow.db, sqlite:///..., postgresql://...).",
            show_default=False,
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Copy MLflow experiments, runs (every metric point, params, tags, artifacts), logged
    models, registered models, versions and aliases into mloop.

    Importing again adds only what is new: every copied record keeps its MLflow id in an
    mlflow.import.* tag. Needs MLflow's client: pip install 'mloop\\[mlflow]'.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mloop.interop import import_mlflow

    store = open_store(ctx)
    progress = Progress(
        TextColumn("[bold]importing {task.fields[what]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
        transient=as_json,
    )
    tasks: dict[str, Any] = {}
    with progress:

        def on_progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = progress.add_task(what, total=total, what=what)
            progress.update(tasks[what], completed=done, total=total)

        summary = import_mlflow(source, store, progress=on_progress)
    if as_json:
        emit_json(summary.to_dict())
        return
    out = stdout()
    out.print(f"imported from [bold]{summary.source}[/]:")
    rows = [
        ("experiments", summary.experiments, None),
        ("runs", summary.runs, summary.runs_skipped),
        ("metric points", summary.metric_points, None),
        ("params", summary.params, None),
        ("artifact files", summary.artifact_files, None),
        ("logged models", summary.logged_models, None),
        ("registered models", summary.registered_models, None),
        ("model versions", summary.model_versions, summary.versions_skipped),
        ("aliases", summary.aliases, None),
    ]
    for label, added, skipped in rows:
        extra = f"  ({skipped:,} already there)" if skipped else ""
        out.print(f"  {label:<18} {added:>10,}{extra}")
    for name, moved in summary.renumbered.items():
        pairs = ", ".join(f"{k} -> {v}" for k, v in moved.items())
        out.print(f"  [yellow]{name}: MLflow versions renumbered (MLflow's had gaps): {pairs}[/]")
    if summary.added == 0:
        out.print("  nothing new: everything was imported before")
