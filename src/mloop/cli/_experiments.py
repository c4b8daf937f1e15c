"""``mloop experiments``: list, create, rename, delete and restore experiments."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mloop.cli._context import open_store
from mloop.cli._output import emit_json, fmt_time, stdout

app = typer.Typer(
    help="List, create, rename, delete and restore experiments.", no_args_is_help=True
)


class View(StrEnum):
    """Which lifecycle stages a listing shows (mirrors ``mloop.store.ViewType``)."""

    active = "active"
    deleted = "deleted"
    all = "all"


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
ExperimentId = Annotated[
    str, typer.Argument(help="The experiment id.", show_default=False, metavar="ID")
]


@app.command("list")
def list_experiments(
    ctx: typer.Context,
    view: Annotated[View, typer.Option("--view", help="Which experiments to show.")] = View.active,
    as_json: JsonOption = False,
) -> None:
    """List experiments by name."""
    experiments = open_store(ctx).list_experiments(view.value)
    if as_json:
        emit_json({"experiments": experiments})
        return
    from rich.table import Table

    table = Table(title=f"experiments ({view.value})" if view is not View.active else None)
    table.add_column("id", justify="right", style="bold")
    table.add_column("name")
    if view is not View.active:
        table.add_column("stage")
    table.add_column("created")
    table.add_column("artifacts", overflow="fold")
    table.add_column("tags")
    for exp in experiments:
        row = [exp.experiment_id, exp.name]
        if view is not View.active:
            row.append(exp.lifecycle_stage.value)
        tags = ", ".join(f"{k}={v}" for k, v in sorted(exp.tags.items()))
        row += [fmt_time(exp.creation_time), exp.artifact_location, tags]
        table.add_row(*row, style="dim" if exp.lifecycle_stage == "deleted" else None)
    console = stdout()
    if experiments:
        console.print(table)
    else:
        console.print(f"no {view.value} experiments" if view is not View.all else "no experiments")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique name.", show_default=False, metavar="NAME")],
    as_json: JsonOption = False,
) -> None:
    """Create an experiment."""
    exp = open_store(ctx).create_experiment(name)
    if as_json:
        emit_json(exp)
        return
    stdout().print(f"created experiment {exp.name!r} with id {exp.experiment_id}")


@app.command("rename")
def rename(
    ctx: typer.Context,
    experiment_id: ExperimentId,
    name: Annotated[str, typer.Argument(help="The new name.", show_default=False, metavar="NAME")],
) -> None:
    """Give an experiment a new name."""
    exp = open_store(ctx).rename_experiment(experiment_id, name)
    stdout().print(f"renamed experiment {exp.experiment_id} to {exp.name!r}")


@app.command("delete")
def delete(ctx: typer.Context, experiment_id: ExperimentId) -> None:
    """Soft-delete an experiment and hide its runs (``restore`` brings it back)."""
    store = open_store(ctx)
    exp = store.get_experiment(experiment_id)
    store.delete_experiment(experiment_id)
    stdout().print(
        f"deleted experiment {exp.name!r} ({exp.experiment_id}); "
        f"undo with: mloop experiments restore {exp.experiment_id}"
    )


@app.command("restore")
def restore(ctx: typer.Context, experiment_id: ExperimentId) -> None:
    """Bring back a deleted experiment and its runs."""
    store = open_store(ctx)
    store.restore_experiment(experiment_id)
    exp = store.get_experiment(experiment_id)
    stdout().print(f"restored experiment {exp.name!r} ({exp.experiment_id})")
