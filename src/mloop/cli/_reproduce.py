"""``mloop reproduce RUN_ID``: re-run a recorded run and compare what it gives.

Exit status: 0 when the re-run's metrics match the run's (environment differences are only
reported, unless ``--strict``); 1 when a metric differs or is missing, the re-run failed, the
run does not exist, or (with ``--strict``) the environment differs; 2 for a usage error.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer

from mloop.cli._output import (
    emit_json,
    fmt_number,
    print_notice,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from mloop.pipeline._reproduce_checks import ReproduceReport

EXIT_OK, EXIT_DIFFERS = 0, 1


def _parse_metric_tolerances(items: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            tol = float(value)
        except ValueError:
            tol = math.nan
        if not sep or not name.strip() or not math.isfinite(tol) or tol < 0:
            raise typer.BadParameter(
                f"{item!r} is not NAME=TOLERANCE with a number >= 0 (for example auc=0.01)",
                param_hint="--metric-tolerance",
            )
        out[name.strip()] = tol
    return out


def _clip(value: str | None, width: int = 24) -> str:
    if value is None:
        return "-"
    return value if len(value) <= width else value[: width - 1] + "…"


def _print(report: ReproduceReport, strict: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from mloop.pipeline._reproduce_checks import changed_steps

    console = stdout()
    console.print(Text(f"run {report.run_id} ({report.kind}): {report.target}", style="bold"))
    if report.differences:
        table = Table(title="environment differences", title_justify="left", show_edge=False)
        for column in ("what", "name", "recorded", "now", "detail"):
            table.add_column(column)
        for d in report.differences:
            table.add_row(
                d.category,
                Text(d.name),
                _clip(d.recorded),
                _clip(d.current),
                Text(d.message),
                style="yellow",
            )
        console.print(table)
    elif report.unchecked:
        same = [w for w in ("code", "packages", "data") if w not in report.unchecked]
        console.print(
            Text(
                f"environment: same {' and '.join(same)} as recorded; "
                f"{' and '.join(report.unchecked)} not compared (see the warning)",
                style="yellow",
            )
        )
    else:
        console.print(Text("environment: same code, packages and data as recorded", style="green"))
    for warning in report.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    if not report.rerun:
        return
    if report.new_run_id:
        console.print(
            f"re-run: run {report.new_run_id}"
            + (f" in {report.duration_s:.1f}s" if report.duration_s is not None else "")
        )
    if report.metrics:
        table = Table(title="metrics", title_justify="left", show_edge=False)
        for column in ("metric", "old", "new", "diff", "tolerance", ""):
            table.add_column(column, justify="left" if column in ("metric", "") else "right")
        changed = changed_steps(report)
        for m in report.metrics:
            step = m.key.split("/", 1)[0] if "/" in m.key else None
            differs = "DIFFERS" + (f" (step {step} changed)" if step in changed else "")
            verdict = {
                "match": Text("same", style="green"),
                "differs": Text(differs, style="red"),
                "missing_in_new": Text("missing in re-run", style="red"),
                "missing_in_old": Text("new in re-run", style="red"),
            }[m.status]
            table.add_row(
                m.key,
                fmt_number(m.old, 8),
                fmt_number(m.new, 8),
                fmt_number(m.diff, 3),
                fmt_number(m.tolerance, 3),
                verdict,
            )
        console.print(table)
    if report.rerun_error:
        console.print(Text(f"re-run failed: {report.rerun_error}", style="red"))
        if report.rerun_output:
            console.print(Text(report.rerun_output, style="dim"))
    if report.ok(strict=strict):
        console.print(Text("reproduced: every metric matches", style="green"))
    elif report.metrics_match:
        console.print(Text("not reproduced: the environment differs (--strict)", style="red"))
    else:
        bad = [m.key for m in report.metrics if not m.within]
        why = f"{len(bad)} metric(s) differ: {', '.join(bad)}" if bad else "the re-run failed"
        console.print(Text(f"not reproduced: {why}", style="red"))


def reproduce(
    ctx: typer.Context,
    run_id: Annotated[
        str,
        typer.Argument(
            metavar="RUN_ID",
            help="The run to reproduce: its id, or the first characters of it.",
            show_default=False,
        ),
    ],
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            metavar="REL",
            min=0.0,
            help="Relative tolerance of every metric.",
        ),
    ] = 1e-6,
    metric_tolerance: Annotated[
        list[str] | None,
        typer.Option(
            "--metric-tolerance",
            metavar="NAME=REL",
            help="Relative tolerance of one metric (repeatable).",
            show_default=False,
        ),
    ] = None,
    rerun: Annotated[
        bool,
        typer.Option(
            "--rerun/--no-rerun",
            help="Re-run and compare metrics; --no-rerun checks the environment only.",
        ),
    ] = True,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            metavar="ENGINE",
            help="Pipeline engine of the re-run: local or ray \\[default: the recorded one]",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Also fail when the code, packages or data differ."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Re-run RUN_ID from its recorded code, data and params, and compare its metrics.

    Checks out nothing: reports how the current checkout, packages and datasets differ from
    what the run recorded, then re-runs it (a pipeline through mloop.pipeline.run, a script
    with its recorded command line) and compares each final metric.

    Exit status 0: the metrics match; 1: a metric differs, the re-run failed, or (--strict)
    the environment differs; 2: usage error.
    """
    from mloop.cli._context import state
    from mloop.cli._runs import resolve_run
    from mloop.pipeline._reproduce import reproduce as run_reproduce
    from mloop.tracking import Client

    per_metric = _parse_metric_tolerances(metric_tolerance)
    if engine is not None and engine not in ("local", "ray"):
        raise typer.BadParameter(f"{engine!r} is not local or ray", param_hint="--engine")
    client = Client(settings=state(ctx).settings)
    # A prefix is enough, as for `runs show` (ambiguous prefixes are listed).
    run_id = resolve_run(client.store, run_id).info.run_id
    console = stderr()

    def echo(line: str) -> None:
        console.print(line, markup=False, highlight=False, style="dim", soft_wrap=True)

    if rerun:
        print_notice(f"re-running {run_id} ...")
    # An unknown run, a nested one: the CLI's error handling prints it and exits 1.
    report = run_reproduce(
        run_id,
        tolerance={"*": tolerance, **per_metric} if per_metric else tolerance,
        rerun=rerun,
        engine=engine,
        client=client,
        echo=echo,
    )
    if as_json:
        out = report.to_dict()
        out["ok"] = report.ok(strict=strict)
        out["strict"] = strict
        emit_json(out)
    else:
        _print(report, strict)
    raise typer.Exit(EXIT_OK if report.ok(strict=strict) else EXIT_DIFFERS)
