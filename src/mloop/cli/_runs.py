"""``mloop runs``: list (with the search language), show one run, compare runs side by side."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop._core._tags import SYSTEM_PREFIX, TAG_PACKAGES
from mloop.cli._context import open_store
from mloop.cli._experiments import View
from mloop.cli._output import (
    MISSING,
    clip,
    emit_json,
    fmt_duration,
    fmt_number,
    fmt_size,
    fmt_time,
    short_id,
    status_style,
    stdout,
)
from mloop.errors import ExperimentNotFound, InvalidArgument, RunNotFound

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mloop.store import ArtifactInfo, Experiment, Run, Store

app = typer.Typer(help="List, show and compare runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
SYSTEM_TAG_PREFIX = SYSTEM_PREFIX
#: At most this many artifact entries are listed by ``runs show``.
MAX_ARTIFACTS = 500
#: The filter of ``runs list`` without --all: runs that are nobody's child.
TOP_LEVEL = "parent_run_id IS NULL"
_PREFIX = re.compile(r"^[0-9a-f]{4,31}$")
_KEY_REF = re.compile(r"(?i)\b(metrics?|params?|parameters)\.(`(?:[^`]|``)+`|[\w\-./]+)")
# Metrics where lower is better (any other metric is taken as higher-is-better): words found
# anywhere in the key, and abbreviations that must stand alone between separators.
_LOWER_IS_BETTER = re.compile(
    r"(?i)(loss|error|deviance|perplexity|brier|cost|regret|latency|duration|time|seconds)"
    r"|(?:^|[^a-z0-9])(err|mse|rmse|mae|mape|wer|cer|fpr|fnr|ms|s)(?:$|[^a-z0-9])"
)


# -- resolving names and ids -------------------------------------------------------------------


def resolve_experiments(store: Store, refs: Sequence[str]) -> list[Experiment]:
    """Experiments by name, or by id when no experiment has that name."""
    found: list[Experiment] = []
    for ref in refs:
        try:
            exp = store.get_experiment_by_name(ref)
        except (ExperimentNotFound, InvalidArgument):
            try:
                exp = store.get_experiment(ref)
            except (ExperimentNotFound, InvalidArgument):
                raise ExperimentNotFound(
                    f"no experiment named or numbered {ref!r} "
                    "(see `mloop experiments list --view all`)",
                    details={"experiment": ref},
                ) from None
        if all(e.experiment_id != exp.experiment_id for e in found):
            found.append(exp)
    return found


def resolve_run(store: Store, ref: str) -> Run:
    """A run by its id, or by a unique prefix of it (``runs list`` shows the first 8 characters).

    Raises:
        RunNotFound: no run has that id or prefix.
        InvalidArgument: several runs start with the prefix.
    """
    try:
        return store.get_run(ref)
    except RunNotFound:
        prefix = ref.strip().lower()
        if not _PREFIX.match(prefix):
            raise
    page = store.search_runs(None, f"run_id LIKE '{prefix}%'", max_results=10, view="all")
    if not page.runs:
        raise RunNotFound(
            f"no run with id {ref!r} (nor one starting with it)", details={"run_id": ref}
        )
    if len(page.runs) > 1:
        ids = ", ".join(r.run_id for r in page.runs[:5])
        more = ", ..." if len(page.runs) > 5 else ""
        raise InvalidArgument(
            f"run id prefix {ref!r} matches {len(page.runs)}{'+' if page.next_page_token else ''}"
            f" runs ({ids}{more}): give more characters",
            details={"run_id": ref},
        )
    return page.runs[0]


# -- runs list ---------------------------------------------------------------------------------


@app.command("list")
def list_runs(
    ctx: typer.Context,
    experiments: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment",
            "-e",
            metavar="NAME_OR_ID",
            help="An experiment name or id; repeat for several \\[default: all experiments].",
            show_default=False,
        ),
    ] = None,
    filter: Annotated[
        str,
        typer.Option(
            "--filter",
            "-f",
            metavar="EXPR",
            help="A search filter, e.g. \"metrics.auc > 0.9 and params.model = 'lgbm'\".",
            show_default=False,
        ),
    ] = "",
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            "-o",
            metavar="CLAUSE",
            help='An ordering, e.g. "metrics.auc desc"; repeat for ties \\[default: newest first].',
            show_default=False,
        ),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max-results", "-n", min=1, max=50_000, help="At most this many runs.")
    ] = 100,
    view: Annotated[View, typer.Option("--view", help="Which runs to show.")] = View.active,
    all_runs: Annotated[
        bool,
        typer.Option(
            "--all",
            "-a",
            help="Also list nested runs (pipeline steps, tuning trials, evaluations, folds); "
            "by default they are folded under their parent and counted.",
        ),
    ] = False,
    ids: Annotated[
        bool, typer.Option("--ids", help="Print only the run ids, one a line, for scripts.")
    ] = False,
    columns: Annotated[
        list[str] | None,
        typer.Option(
            "--columns",
            "-c",
            metavar="KEYS",
            help="The param and metric columns to show, in order: metrics.auc,params.model "
            "(a bare key is a metric if one has that name) \\[default: those the filter and "
            "order name, then those that differ, as the width allows].",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, filtered and ordered with the search language.

    Nested runs are folded under their parent (the [bold]nested[/] column counts them) unless
    [bold]--all[/] is given.

    Example: [bold]mloop runs list -e demo -f "metrics.roc_auc > 0.95" -o "metrics.roc_auc desc"[/]

    Example: [bold]mloop runs show $(mloop runs list -e demo -n 1 --ids)[/]
    """
    store = open_store(ctx)
    exps = resolve_experiments(store, experiments or [])
    query = filter
    if not all_runs and filter.strip():
        from mloop.store._search_parse import parse_filter

        parse_filter(filter)  # errors point into the filter as typed, not into the query below
        query = f"({filter}) and {TOP_LEVEL}"
    elif not all_runs:
        query = TOP_LEVEL
    page = store.search_runs(
        [e.experiment_id for e in exps],
        query,
        list(order_by or []),
        max_results,
        None,
        view.value,
    )
    if ids:
        for run in page.runs:
            typer.echo(run.info.run_id)
        return
    if as_json:
        emit_json(page)
        return
    console = stdout()
    if not page.runs:
        console.print("no runs" + (" match the filter" if filter else ""))
        return
    names = {e.experiment_id: e.name for e in exps} or {
        e.experiment_id: e.name for e in store.list_experiments("all")
    }
    referenced = _referenced_keys([filter, *(order_by or [])])
    nested = {} if all_runs else _count_nested(store, page.runs, view.value)
    table, hidden = _runs_table(console, page.runs, names, referenced, nested, columns)
    console.print(table)
    notes = []
    if hidden:
        notes.append(f"{hidden} more param/metric columns hidden (see --json or `mloop runs show`)")
    if page.next_page_token:
        notes.append(f"showing the first {len(page.runs)} runs: raise --max-results for more")
    if nested:
        notes.append(f"{sum(nested.values())} nested runs folded under their parents (--all)")
    for note in notes:
        console.print(f"[dim]{note}[/]")


def _chosen(
    columns: list[str], params: list[str], metrics: list[str]
) -> tuple[list[str], list[str]]:
    """The param and metric columns of ``--columns``: ``metrics.auc``, ``params.model``, or a
    bare key (a metric when a run has a metric of that name, else a param)."""
    out_p: list[str] = []
    out_m: list[str] = []
    for item in columns:
        for ref in (part.strip() for part in item.split(",")):
            kind, _, key = ref.partition(".")
            if kind in ("metrics", "metric") and key:
                out_m.append(key)
            elif kind in ("params", "param") and key:
                out_p.append(key)
            elif ref in metrics or ref not in params:
                out_m.append(ref)
            else:
                out_p.append(ref)
    return list(dict.fromkeys(out_p)), list(dict.fromkeys(out_m))


def _count_nested(store: Store, runs: Sequence[Run], view: str) -> dict[str, int]:
    """How many runs are nested under each of ``runs`` (directly)."""
    if not runs:
        return {}
    quoted = ", ".join(f"'{r.info.run_id}'" for r in runs)
    counts: Counter[str] = Counter()
    token = None
    while True:
        page = store.search_runs(None, f"parent_run_id IN ({quoted})", [], 50_000, token, view)
        counts.update(r.info.parent_run_id for r in page.runs if r.info.parent_run_id)
        token = page.next_page_token
        if not token:
            return dict(counts)


def _referenced_keys(texts: Iterable[str]) -> dict[str, list[str]]:
    """Param and metric keys that the filter or order-by name, to show them first."""
    out: dict[str, list[str]] = {"params": [], "metrics": []}
    for text in texts:
        for kind, key in _KEY_REF.findall(text or ""):
            group = "metrics" if kind.lower().startswith("metric") else "params"
            if key.startswith("`"):
                key = key[1:-1].replace("``", "`")
            if key not in out[group]:
                out[group].append(key)
    return out


def _common_keys(maps: Sequence[Mapping[str, Any]], first: list[str]) -> list[str]:
    """Keys to show as columns: those named in the filter or order-by, then those whose value
    varies between the runs, then constant ones; the most common first within each group."""
    counts: Counter[str] = Counter()
    values: dict[str, set[Any]] = {}
    for mapping in maps:
        for key, value in mapping.items():
            counts[key] += 1
            values.setdefault(key, set()).add(getattr(value, "value", value))
    n = len(maps)

    def constant(key: str) -> bool:
        return counts[key] == n and len(values[key]) == 1

    ordered = sorted(counts, key=lambda k: (constant(k), -counts[k], k))
    preferred = [k for k in first if k in counts]
    return preferred + [k for k in ordered if k not in preferred]


def _runs_table(
    console: Console,
    runs: list[Run],
    names: dict[str, str],
    referenced: dict[str, list[str]],
    nested: Mapping[str, int],
    columns: list[str] | None = None,
) -> tuple[Table, int]:
    from rich.table import Table
    from rich.text import Text

    param_keys = _common_keys([r.data.params for r in runs], referenced["params"])
    metric_keys = _common_keys([r.data.metrics for r in runs], referenced["metrics"])
    several = len({r.info.experiment_id for r in runs}) > 1
    if columns is not None:  # exactly the columns asked for, in their order
        hidden = 0
        param_keys, metric_keys = _chosen(columns, param_keys, metric_keys)
    else:
        # About 11 characters per extra column once the fixed ones (~70) are laid out; the
        # keys the filter or the order names are shown whatever the width.
        cap = max(2, min(14, (console.width - 70 - (14 if several else 0)) // 11))
        must_p = len([k for k in referenced["params"] if k in param_keys])
        must_m = len([k for k in referenced["metrics"] if k in metric_keys])
        n_metrics = max(must_m, min(len(metric_keys), (cap + 1) // 2))
        n_params = max(must_p, min(len(param_keys), cap - n_metrics))
        n_metrics = max(must_m, min(len(metric_keys), cap - n_params))
        hidden = len(param_keys) - n_params + len(metric_keys) - n_metrics
        param_keys, metric_keys = param_keys[:n_params], metric_keys[:n_metrics]
    clash = set(param_keys) & set(metric_keys)

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("run", style="bold", no_wrap=True)
    table.add_column("name", max_width=24)
    if several:
        table.add_column("experiment", max_width=16)
    table.add_column("status", no_wrap=True)
    table.add_column("start", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    if nested:
        table.add_column("nested", justify="right", no_wrap=True)
    # A column the filter or order names keeps its whole header: it is what the user looks at.
    for key in param_keys:
        title = f"params.{key}" if key in clash else key
        wide = len(title) if key in referenced["params"] else None
        table.add_column(title, header_style="bold cyan", min_width=wide)
    for key in metric_keys:
        title = f"metrics.{key}" if key in clash else key
        wide = len(title) if key in referenced["metrics"] else None
        table.add_column(title, header_style="bold magenta", justify="right", min_width=wide)
    for run in runs:
        info, data = run.info, run.data
        row: list[Any] = [short_id(info.run_id), clip(info.run_name, 24)]
        if several:
            row.append(names.get(info.experiment_id, info.experiment_id))
        row += [
            Text(info.status.value, style=status_style(info.status.value)),
            fmt_time(info.start_time)[:16],
            fmt_duration(info.start_time, info.end_time, running=info.status == "RUNNING"),
        ]
        if nested:
            row.append(str(nested[info.run_id]) if info.run_id in nested else "")
        row += [clip(data.params[k], 20) if k in data.params else MISSING for k in param_keys]
        row += [
            fmt_number(data.metrics[k].value) if k in data.metrics else MISSING for k in metric_keys
        ]
        table.add_row(*row, style="dim" if info.lifecycle_stage == "deleted" else None)
    return table, hidden


# -- runs show ---------------------------------------------------------------------------------


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[
        str, typer.Argument(help="A run id or a unique prefix of it.", metavar="RUN_ID")
    ],
    as_json: JsonOption = False,
) -> None:
    """Show a run: attributes, params, latest metrics, tags, dataset inputs and artifacts."""
    store = open_store(ctx)
    run = resolve_run(store, run_id)
    artifacts, truncated = _walk_artifacts(store, run.run_id)
    inputs = store.get_run_inputs(run.run_id)
    if as_json:
        body = run.model_dump(mode="json")
        body["inputs"] = [
            {**i.model_dump(mode="json"), "dataset_uri": i.dataset_uri} for i in inputs
        ]
        body["artifacts"] = artifacts
        body["artifacts_truncated"] = truncated
        emit_json(body)
        return
    from rich.table import Table
    from rich.text import Text

    info, data = run.info, run.data
    try:
        exp_name = store.get_experiment(info.experiment_id).name
    except LookupError:
        exp_name = "?"
    console = stdout()
    console.print(Text.assemble(("run ", "bold"), (info.run_id, "bold"), f"  {info.run_name}"))
    attrs = Table.grid(padding=(0, 2))
    attrs.add_column(style="dim")
    attrs.add_column()
    attrs.add_row("experiment", f"{exp_name} ({info.experiment_id})")
    attrs.add_row("status", Text(info.status.value, style=status_style(info.status.value)))
    attrs.add_row("start", fmt_time(info.start_time))
    attrs.add_row("end", fmt_time(info.end_time))
    attrs.add_row(
        "duration", fmt_duration(info.start_time, info.end_time, running=info.status == "RUNNING")
    )
    if info.user:
        attrs.add_row("user", info.user)
    if info.parent_run_id:
        attrs.add_row("parent", info.parent_run_id)
    attrs.add_row("artifacts", info.artifact_uri)
    if info.lifecycle_stage != "active":
        attrs.add_row("stage", Text(info.lifecycle_stage.value, style="yellow"))
    console.print(attrs)

    def section(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        console.print()
        if not rows:
            console.print(f"[bold]{title}[/] [dim](none)[/]")
            return
        table = Table(title=title, title_justify="left", title_style="bold", show_edge=False)
        for col in columns:
            table.add_column(col, overflow="fold", justify="right" if col == "step" else "left")
        for row in rows:
            table.add_row(*row)
        console.print(table)

    section("params", ["key", "value"], ((k, v) for k, v in sorted(data.params.items())))
    section(
        "metrics (latest)",
        ["key", "value", "step", "time"],
        (
            (k, fmt_number(m.value, 6), str(m.step), fmt_time(m.timestamp))
            for k, m in sorted(data.metrics.items())
        ),
    )
    user_tags = {k: v for k, v in data.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}
    system_tags = {
        k: v
        for k, v in data.tags.items()
        if k.startswith(SYSTEM_TAG_PREFIX) and not k.startswith(f"{TAG_PACKAGES}.")
    }
    if "mloop.env.packages" in system_tags:
        # A compressed package list (for mloop reproduce), not for reading: say how long it is.
        from mloop.tracking._context import decode_packages

        packages = decode_packages(data.tags) or {}
        system_tags["mloop.env.packages"] = f"{len(packages)} packages (see mloop reproduce)"
    section("tags", ["key", "value"], sorted(user_tags.items()))
    section("system tags", ["key", "value"], sorted(system_tags.items()))
    section(
        "inputs",
        ["dataset", "context", "digest"],
        ((i.dataset_uri, i.context, i.digest[:16]) for i in inputs),
    )
    section(
        "artifacts",
        ["path", "size", "sha256"],
        (
            (a.path + ("/" if a.is_dir else ""), fmt_size(a.size), (a.sha256 or "")[:16])
            for a in artifacts
        ),
    )
    if truncated:
        console.print(f"[dim]only the first {MAX_ARTIFACTS} artifacts are listed[/]")


def _walk_artifacts(store: Store, run_id: str) -> tuple[list[ArtifactInfo], bool]:
    """Every artifact of a run, folders first then their contents, up to MAX_ARTIFACTS."""
    out: list[ArtifactInfo] = []
    pending = [""]
    while pending:
        folder = pending.pop(0)
        for info in store.list_artifacts(run_id, folder):
            if len(out) >= MAX_ARTIFACTS:
                return out, True
            out.append(info)
            if info.is_dir:
                pending.append(info.path)
    out.sort(key=lambda a: a.path)
    return out, False


# -- runs compare ------------------------------------------------------------------------------


def metric_goal(key: str) -> str:
    """``min`` for losses, errors and times, ``max`` for every other metric."""
    return "min" if _LOWER_IS_BETTER.search(key) else "max"


def compare_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """The comparison as data: one row per attribute, param and metric."""
    rows: list[dict[str, Any]] = []

    def add(section: str, key: str, values: list[Any], goal: str | None = None) -> None:
        comparable = [_comparable(v) for v in values]
        differs = len(set(comparable)) > 1
        best: list[int] = []
        if goal is not None and differs:
            numbers = [(i, v) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
            if len({v for _, v in numbers}) > 1:
                target = (min if goal == "min" else max)(v for _, v in numbers)
                best = [i for i, v in numbers if v == target]
        rows.append(
            {
                "section": section,
                "key": key,
                "values": values,
                "differs": differs,
                "goal": goal,
                "best": best,
            }
        )

    add("attributes", "run_name", [r.info.run_name for r in runs])
    add("attributes", "experiment_id", [r.info.experiment_id for r in runs])
    add("attributes", "status", [r.info.status.value for r in runs])
    add("attributes", "start_time", [r.info.start_time for r in runs])
    add(
        "attributes",
        "duration_ms",
        [None if r.info.end_time is None else r.info.end_time - r.info.start_time for r in runs],
    )
    for key in sorted({k for r in runs for k in r.data.params}):
        add("params", key, [r.data.params.get(key) for r in runs])
    for key in sorted({k for r in runs for k in r.data.metrics}):
        add(
            "metrics",
            key,
            [r.data.metrics[key].value if key in r.data.metrics else None for r in runs],
            metric_goal(key),
        )
    return rows


def _comparable(value: Any) -> Any:
    # NaN != NaN, yet two NaNs are not a difference worth highlighting.
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


@app.command("compare")
def compare(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str],
        typer.Argument(help="Two or more run ids (or unique prefixes).", metavar="RUN_ID"),
    ],
    as_json: JsonOption = False,
) -> None:
    """Compare runs side by side: rows that differ are highlighted, the best metric is starred."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids", param_hint="RUN_ID...")
    store = open_store(ctx)
    runs: list[Run] = []
    for ref in run_ids:
        run = resolve_run(store, ref)
        if all(r.run_id != run.run_id for r in runs):
            runs.append(run)
    rows = compare_rows(runs)
    if as_json:
        emit_json(
            {
                "runs": [
                    {
                        "run_id": r.run_id,
                        "run_name": r.info.run_name,
                        "experiment_id": r.info.experiment_id,
                    }
                    for r in runs
                ],
                "rows": rows,
            }
        )
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False, show_lines=False)
    table.add_column("", no_wrap=True)
    table.add_column("key", style="bold")
    for r in runs:
        table.add_column(f"{short_id(r.run_id)}\n{clip(r.info.run_name, 20)}", justify="right")
    section = None
    for row in rows:
        if row["section"] != section:
            section = row["section"]
            if section != "attributes":
                table.add_section()
        cells: list[Any] = []
        for i, value in enumerate(row["values"]):
            text = _cell(row["section"], row["key"], value)
            if i in row["best"]:
                cells.append(Text(f"{text} ★", style="bold green"))
            else:
                cells.append(text)
        key = row["key"] if row["section"] == "attributes" else f"{row['section']}.{row['key']}"
        table.add_row(
            "≠" if row["differs"] else "",
            key,
            *cells,
            style="yellow" if row["differs"] else None,
        )
    console = stdout()
    console.print(table)
    console.print(
        "[dim]≠ values differ · ★ best value (lower is better for losses, errors, times)[/]"
    )


def _cell(section: str, key: str, value: Any) -> str:
    if value is None:
        return MISSING
    if section == "metrics":
        return fmt_number(value, 6)
    if key == "start_time":
        return fmt_time(value)
    if key == "duration_ms":
        return fmt_duration(0, value)
    return clip(str(value), 30)


@app.command("sweep")
def sweep(
    ctx: typer.Context,
    timeout: Annotated[
        str,
        typer.Option(
            "--timeout",
            help="Silence after which a RUNNING run is dead, e.g. 10m, 2h (runs send a "
            "heartbeat every 30 s).",
        ),
    ] = "10m",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Mark KILLED the RUNNING runs whose process stopped sending heartbeats (killed with
    SIGKILL, a lost machine); runs of clients that send none are left alone.

    Example: [bold]mloop runs sweep --timeout 15m[/]
    """
    from mloop.cli._context import open_store
    from mloop.cli._token import parse_duration_ms

    killed = open_store(ctx).sweep_dead_runs(parse_duration_ms(timeout))
    if as_json:
        emit_json({"killed": killed})
        return
    stdout().print(
        f"marked {len(killed)} run(s) KILLED: {', '.join(killed)}" if killed else "no dead runs"
    )
