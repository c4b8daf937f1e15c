"""``mloop evaluate MODEL_URI``: metrics, slices, fairness and latency of a model on labelled
data, as a table, JSON or an HTML report. pandas and scikit-learn load when the command runs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mloop.cli._output import MISSING, emit_json, fmt_number, print_notice, stdout

if TYPE_CHECKING:
    from mloop.evaluate import EvaluationResult


class Task(StrEnum):
    classification = "classification"
    regression = "regression"


def evaluate(
    model_uri: Annotated[
        str, typer.Argument(metavar="MODEL_URI", help="A model folder, runs:/ or models:/ URI.")
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            metavar="DATA",
            help="A Parquet or CSV file, or a datasets:/ URI.",
            show_default=False,
        ),
    ],
    target: Annotated[
        str,
        typer.Option("--target", "-t", metavar="COL", help="The label column.", show_default=False),
    ],
    task: Annotated[Task, typer.Option("--task", help="What the model predicts.")] = (
        Task.classification
    ),
    slices: Annotated[
        list[str] | None,
        typer.Option(
            "--slice",
            metavar="COL",
            help="Break metrics down by this column; repeat for several.",
            show_default=False,
        ),
    ] = None,
    sensitive: Annotated[
        list[str] | None,
        typer.Option(
            "--sensitive",
            metavar="COL",
            help="Measure group fairness over this column; repeat for several.",
            show_default=False,
        ),
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not log the result to a run.")
    ] = False,
    no_latency: Annotated[
        bool, typer.Option("--no-latency", help="Skip the latency measurement.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment",
            "-e",
            metavar="NAME",
            help="The experiment of the evaluation run \\[default: the model's run's].",
            show_default=False,
        ),
    ] = None,
    html_path: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Also write an HTML report with charts.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Evaluate a model on labelled data: metrics, per-slice metrics, fairness, latency.

    Example: [bold]mloop evaluate models:/churn@challenger --data test.parquet --target churned
    --slice region --sensitive gender --html report.html[/]
    """
    from mloop.cli._progress import phases
    from mloop.evaluate import evaluate as run_evaluation

    if experiment is not None:
        import mloop

        mloop.set_experiment(experiment)
    with phases(f"reading {data}") as say:
        result = run_evaluation(
            model_uri,
            data,
            target=target,
            task=task.value,
            slices=slices or [],
            sensitive=sensitive or [],
            log=not no_log,
            latency=not no_latency,
            progress=say,
        )
    if html_path is not None:
        from mloop.evaluate._html import render_evaluation_html

        html_path.write_text(render_evaluation_html(result), encoding="utf-8")
        print_notice(f"wrote {html_path}")
    if result.run_id is not None:
        print_notice(f"logged to run {result.run_id}")
    if as_json:
        emit_json(result.to_dict())
        return
    _print(result)


def _print(result: EvaluationResult) -> None:
    from rich.table import Column, Table
    from rich.text import Text

    console = stdout()
    console.print(Text(f"{result.model_uri}: {result.task} on {result.data}, {result.n_rows} rows"))
    table = Table("metric", "value")
    for name, value in result.metrics.items():
        table.add_row(Text(name), fmt_number(value))
    console.print(table)
    if result.confusion_matrix is not None:
        cm = result.confusion_matrix
        table = Table("true \\ predicted", *cm.labels, title="confusion matrix")
        for label, row in zip(cm.labels, cm.matrix, strict=True):
            table.add_row(label, *(str(v) for v in row))
        console.print(table)
    for column, values in result.slices.items():
        # One row per metric and one column per slice value: metric names are long and many
        # (`precision`, `precision_macro`), slice values few and short, so no header is cut.
        names = sorted({k for s in values.values() for k in s.metrics})
        table = Table(
            Column("metric", no_wrap=True),
            *(Column(Text(label), justify="right") for label in values),
            title=Text(f"slices by {column}"),
        )
        table.add_row("n_rows", *(str(s.n_rows) for s in values.values()))
        for n in names:
            table.add_row(n, *(fmt_number(s.metrics.get(n)) for s in values.values()))
        console.print(table)
    for column, f in result.fairness.items():
        table = Table("measure", "value", title=Text(f"fairness over {column}"))
        table.add_row("demographic_parity_difference", fmt_number(f.demographic_parity_difference))
        table.add_row("demographic_parity_ratio", fmt_number(f.demographic_parity_ratio))
        table.add_row(
            "equalized_odds_difference",
            MISSING
            if f.equalized_odds_difference is None
            else fmt_number(f.equalized_odds_difference),
        )
        for group, rate in f.selection_rate.items():
            table.add_row(Text(f"selection_rate[{group}]"), fmt_number(rate))
        console.print(table)
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))
