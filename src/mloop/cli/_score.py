"""``mloop score``: batch predictions for a table of any size, into one Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli._output import emit_json, fmt_number, stderr, stdout


def score(
    ctx: typer.Context,
    model_uri: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_URI",
            help="models:/name@alias, models:/name/3, runs:/<id>/model or a model folder; "
            "an alias is pinned to one version before the first row.",
            show_default=False,
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            metavar="PATH_OR_URI",
            help="The rows to score: a .parquet or .csv file or URL (s3://...), or "
            "datasets:/name/version.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The Parquet file to write: the input's columns, the predictions and a "
            "model_version column (the model is also in the file's metadata).",
            show_default=False,
        ),
    ],
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local: this process, one chunk at a time; ray: --workers model replicas on "
            "Ray, fed in order (needs mloop[ray]).",
        ),
    ] = "local",
    chunk_rows: Annotated[
        int,
        typer.Option(
            "--chunk-rows", min=1, help="Rows per chunk: what one predict call sees in memory."
        ),
    ] = 100_000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=1024, help="Model replicas with --engine ray.")
    ] = 2,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            metavar="ADDR",
            help="The Ray cluster \\[default: MLOOP_RAY_ADDRESS, else a local Ray].",
            show_default=False,
        ),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="parquet or csv, when the file name does not tell.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Score every row of a table with a model, streaming in chunks (memory stays flat).

    Example: [bold]mloop score models:/churn@champion --data customers.parquet --out
    scores.parquet[/]
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from mloop.batch import score as run_score

    progress = Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=stderr(),
        transient=as_json,
    )
    with progress:
        task = progress.add_task("score", total=None)

        def on_chunk(rows: int, total: int | None) -> None:
            progress.update(task, completed=rows, total=total)

        result = run_score(
            model_uri,
            data,
            out,
            engine=engine,
            chunk_rows=chunk_rows,
            workers=workers,
            address=address,
            format=input_format,
            progress=on_chunk,
        )
    summary: dict[str, Any] = result.to_dict()
    if as_json:
        emit_json(summary)
        return
    model = (
        f"{result.model_name} v{result.model_version}"
        if result.model_name is not None
        else result.model_uri
    )
    stdout().print(
        f"scored [bold]{result.rows:,}[/] rows with {model} in {fmt_number(result.seconds, 3)} s "
        f"({result.rows_per_s:,.0f} rows/s, {result.chunks} chunks, {result.engine}) -> "
        f"{result.out}",
        soft_wrap=True,
    )
