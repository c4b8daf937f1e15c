"""``mloop data``: register, list and show datasets; check tables and draft checks."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._context import open_store
from mloop.cli._output import (
    MISSING,
    clip,
    emit_json,
    fmt_size,
    fmt_time,
    print_error,
    stdout,
)
from mloop.errors import MloopError

if TYPE_CHECKING:
    from mloop.data import Dataset
    from mloop.store import Store

app = typer.Typer(
    help="Datasets and data checks: register, list, show, check, infer.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
DataArgument = Annotated[
    str,
    typer.Argument(
        help="A Parquet or CSV file, or a dataset URI (datasets:/NAME/VERSION, "
        "datasets:/NAME@latest, datasets:/NAME@DIGEST-PREFIX).",
        show_default=False,
        metavar="DATA",
    ),
]
#: Exit codes of ``mloop data check``.
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def _parse_tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--tag")
        tags[key.strip()] = value
    return tags


def _store_for(ctx: typer.Context, data: str) -> Store | None:
    """The store, only when DATA names a dataset: checking a local file needs none."""
    return open_store(ctx) if data.startswith("datasets:/") else None


# -- data register -----------------------------------------------------------------------------


@app.command("register")
def register(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="A Parquet file, a folder of Parquet files, or a CSV file.",
            show_default=False,
            metavar="PATH",
        ),
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name", metavar="NAME", help="The dataset (letters, digits, '_', '.', '-')."
        ),
    ],
    description: Annotated[
        str, typer.Option("--description", metavar="TEXT", help="The version's description.")
    ] = "",
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            metavar="KEY=VALUE",
            help="A tag on the version; repeat for several.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register PATH as the next version of dataset NAME (content-addressed: the same content
    again gives the existing version).

    Example: [bold]mloop data register train.parquet --name churn-train[/]
    """
    from mloop.data._dataset import register_dataset

    dataset, created = register_dataset(
        path, name, description=description, tags=_parse_tags(tags), store=open_store(ctx)
    )
    if as_json:
        emit_json({**dataset.to_dict(), "created": created})
        return
    if created:
        stdout().print(
            f"registered {dataset.name} version {dataset.version} ({dataset.uri}, "
            f"{dataset.num_rows} rows, digest {dataset.digest[:12]})"
        )
    else:
        stdout().print(
            f"unchanged: the content is {dataset.name} version {dataset.version} "
            f"({dataset.uri}, digest {dataset.digest[:12]})"
        )


# -- data list ---------------------------------------------------------------------------------


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List datasets by name, with their latest version."""
    from mloop.data import list_datasets

    datasets = list_datasets(store=open_store(ctx))
    if as_json:
        emit_json({"datasets": [d.to_dict() for d in datasets]})
        return
    console = stdout()
    if not datasets:
        console.print("no datasets (add one with `mloop data register PATH --name NAME`)")
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("name", style="bold", overflow="fold")
    table.add_column("latest", justify="right", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("columns", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("digest", no_wrap=True)
    table.add_column("registered", no_wrap=True)
    for d in datasets:
        table.add_row(
            d.name,
            str(d.version),
            str(d.num_rows),
            str(d.num_columns),
            fmt_size(d.size_bytes),
            d.digest[:12],
            fmt_time(d.creation_time),
        )
    console.print(table)


# -- data show ---------------------------------------------------------------------------------


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset.", show_default=False, metavar="NAME")],
    as_json: JsonOption = False,
) -> None:
    """Show a dataset: every version, newest first, and the columns of the latest."""
    from mloop.data import list_datasets

    versions = list_datasets(name, store=open_store(ctx))
    if as_json:
        emit_json({"name": name, "versions": [v.to_dict() for v in versions]})
        return
    from rich.table import Table
    from rich.text import Text

    console = stdout()
    latest = versions[0]
    console.print(Text.assemble(("dataset ", "bold"), (name, "bold")))
    described = any(v.description for v in versions)
    tagged = any(v.tags for v in versions)
    table = Table(title="versions", title_justify="left", title_style="bold", show_edge=False)
    table.add_column("version", justify="right", style="bold", no_wrap=True)
    table.add_column("digest", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("columns", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    if described:
        table.add_column("description", max_width=40)
    if tagged:
        table.add_column("tags", max_width=40)
    table.add_column("registered", no_wrap=True)
    for v in versions:
        row: list[Any] = [
            str(v.version),
            v.digest[:12],
            str(v.num_rows),
            str(v.num_columns),
            fmt_size(v.size_bytes),
        ]
        if described:
            row.append(clip(v.description.splitlines()[0], 40) if v.description else "")
        if tagged:
            row.append(", ".join(f"{k}={val}" for k, val in sorted(v.tags.items())))
        row.append(fmt_time(v.creation_time))
        table.add_row(*row)
    console.print(table)
    console.print()
    _print_schema(latest)


def _print_schema(dataset: Dataset) -> None:
    from rich.table import Table

    console = stdout()
    console.print(f"[bold]columns of version {dataset.version}[/]")
    table = Table(show_edge=False)
    table.add_column("column", overflow="fold")
    table.add_column("type", overflow="fold")
    for column, type_ in dataset.schema.items():
        table.add_row(column, type_ or MISSING)
    console.print(table)


# -- data check --------------------------------------------------------------------------------


@app.command("check")
def check(
    ctx: typer.Context,
    data: DataArgument,
    checks: Annotated[
        str,
        typer.Option(
            "--checks", "-c", metavar="FILE", help="The checks, as YAML (see docs/data.md)."
        ),
    ],
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List the checks that passed too.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check DATA against declarative checks; exit 0 when every check passes, 1 when one
    fails, 2 when the checks or the data cannot be read (or a check cannot run).

    Example: [bold]mloop data check train.parquet --checks checks.yaml[/]
    """
    from mloop.data import check as run_checks

    try:
        report = run_checks(data, checks, store=_store_for(ctx, data))
    except MloopError as exc:
        print_error(exc.message)
        raise typer.Exit(EXIT_ERROR) from None
    if as_json:
        emit_json(report.to_dict())
    else:
        from rich.text import Text

        text = report.to_text(verbose=verbose)
        head, _, rest = text.partition("\n")
        console = stdout()
        console.print(Text(head, style="green" if report.passed else "red"), soft_wrap=True)
        if rest:
            console.print(Text(rest), soft_wrap=True)
    summary = report.summary
    if summary["failed"]:
        raise typer.Exit(EXIT_FAILED)
    if summary["error"]:
        raise typer.Exit(EXIT_ERROR)


# -- data infer --------------------------------------------------------------------------------


@app.command("infer")
def infer(
    ctx: typer.Context,
    data: DataArgument,
    sample_rows: Annotated[
        int,
        typer.Option(
            "--sample-rows", min=1, metavar="N", help="Rows drawn at random from larger tables."
        ),
    ] = 1_000_000,
    as_json: JsonOption = False,
) -> None:
    """Draft checks from a sample of DATA, as YAML with comments saying what was observed.

    Example: [bold]mloop data infer train.parquet > checks.yaml[/]
    """
    from mloop.data._checks_infer import infer_checks, infer_checks_yaml

    store = _store_for(ctx, data)
    if as_json:
        emit_json(infer_checks(data, sample_rows=sample_rows, store=store))
        return
    sys.stdout.write(infer_checks_yaml(data, sample_rows=sample_rows, store=store))
    sys.stdout.flush()
