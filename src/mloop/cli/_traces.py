"""``mloop traces``: search the traces of LLM applications and show one as a span tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mloop.cli._context import open_store
from mloop.cli._output import MISSING, emit_json, short_id, stdout

if TYPE_CHECKING:
    from mloop.store._traces_base import Span

app = typer.Typer(
    help="Traces recorded with @mloop.trace and mloop.start_span: search them, show one.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _ms(us: int) -> str:
    return f"{us / 1000:.1f} ms"


@app.command("list")
def list_traces(
    ctx: typer.Context,
    run_id: Annotated[str | None, typer.Option("--run", help="Traces of this run.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Root span name.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="OK or ERROR.")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="NAME[/VERSION]", help="Served model (and version)."),
    ] = None,
    min_ms: Annotated[
        float | None, typer.Option("--min-ms", help="At least this slow (milliseconds).")
    ] = None,
    max_ms: Annotated[
        float | None, typer.Option("--max-ms", help="At most this slow (milliseconds).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The most traces to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List finished traces, newest first; every filter given must hold.

    Example: [bold]mloop traces list --status ERROR --min-ms 500[/]
    """
    model_name, model_version = None, None
    if model is not None:
        model_name, _, v = model.partition("/")
        if v and not v.isdigit():
            raise typer.BadParameter(f"expected NAME or NAME/VERSION, got {model!r}")
        model_version = int(v) if v else None
    traces = open_store(ctx).search_traces(
        run_id=run_id,
        name=name,
        status=None if status is None else status.upper(),
        model_name=model_name,
        model_version=model_version,
        min_duration_ms=min_ms,
        max_duration_ms=max_ms,
        limit=limit,
    )
    if as_json:
        emit_json({"traces": traces})
        return
    console = stdout()
    if not traces:
        console.print("no traces (record some with @mloop.trace, then mloop.flush())")
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("trace", "name", "status", "latency", "spans", "tokens", "run", "model"):
        table.add_column(col, no_wrap=col != "name")
    for t in traces:
        tokens = (t.prompt_tokens or 0) + (t.completion_tokens or 0)
        table.add_row(
            t.trace_id,
            t.name,
            f"[red]{t.status}[/]" if t.status == "ERROR" else t.status,
            _ms(t.duration_us),
            str(t.span_count),
            str(tokens) if tokens else MISSING,
            short_id(t.run_id) if t.run_id else MISSING,
            f"{t.model_name}/{t.model_version}" if t.model_name else MISSING,
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    trace_id: Annotated[str, typer.Argument(help="The trace id.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Show a trace as a tree of spans with their timings, usage and errors."""
    trace = open_store(ctx).get_trace(trace_id)
    if as_json:
        emit_json(trace)
        return
    from rich.tree import Tree

    def label(s: Span) -> str:
        parts = [f"[bold]{s.name}[/] [dim]{s.kind}[/] {_ms(s.end_us - s.start_us)}"]
        if s.prompt_tokens is not None or s.completion_tokens is not None:
            parts.append(f"tokens {s.prompt_tokens or 0}+{s.completion_tokens or 0}")
        if s.cost is not None:
            parts.append(f"cost {s.cost:g}")
        if s.error:
            parts.append(f"[red]{s.error}[/]")
        return "  ".join(parts)

    children: dict[str | None, list[Span]] = {}
    for s in trace.spans:
        children.setdefault(s.parent_id, []).append(s)
    tree = Tree(f"trace {trace.trace_id} ({trace.status}, {_ms(trace.duration_us)})")

    def add(node: Tree, parent: str | None) -> None:
        for s in children.get(parent, []):
            add(node.add(label(s)), s.span_id)

    add(tree, None)
    stdout().print(tree)
