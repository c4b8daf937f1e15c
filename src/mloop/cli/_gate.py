"""``mloop gate`` and ``mloop promote``: a model policy for CI, and alias moves behind it.

``mloop gate --challenger prompts:/qa@challenger`` gates a prompt the same way: its LLM
evaluation (``mloop.genai``) through an OpenAI-compatible endpoint, on rows of a .jsonl or .json
file, against ``--champion prompts:/...``.

Exit status, for both: 0 when every rule passes (and, for ``promote``, the alias moved), 1 when
a rule fails, 2 on an error (a policy that does not parse, unreadable data, an unknown model).
A forced promotion that moves the alias despite a failed gate exits 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._output import emit_json, print_error, print_notice, stdout

if TYPE_CHECKING:
    from mloop.evaluate import GateResult

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

Data = Annotated[
    str,
    typer.Option(
        "--data",
        metavar="DATA",
        help="Labelled data: a Parquet or CSV file, or a datasets:/ URI.",
        show_default=False,
    ),
]
Target = Annotated[
    str,
    typer.Option("--target", metavar="COL", help="The label column.", show_default=False),
]
Policy = Annotated[
    Path,
    typer.Option("--policy", metavar="FILE", help="The gate policy (YAML).", show_default=False),
]
Task = Annotated[
    str,
    typer.Option("--task", metavar="TASK", help="classification or regression."),
]
Slices = Annotated[
    list[str] | None,
    typer.Option(
        "--slice",
        metavar="COL",
        help="Also break metrics down by COL (repeatable).",
        show_default=False,
    ),
]
Sensitive = Annotated[
    list[str] | None,
    typer.Option(
        "--sensitive",
        metavar="COL",
        help="Also measure fairness over COL (repeatable).",
        show_default=False,
    ),
]
Markdown = Annotated[
    Path | None,
    typer.Option(
        "--markdown", metavar="PATH", help="Write the Markdown summary (for a CI comment) here."
    ),
]
Html = Annotated[
    Path | None,
    typer.Option("--html", metavar="PATH", help="Write the HTML report (with plots) here."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Experiment = Annotated[
    str | None,
    typer.Option(
        "--experiment",
        "-e",
        metavar="NAME",
        help="The experiment of the evaluation runs \\[default: the models' runs'].",
        show_default=False,
    ),
]


def _choose(experiment: str | None) -> None:
    if experiment is not None:
        import mloop

        mloop.set_experiment(experiment)


def _write_reports(result: GateResult, markdown: Path | None, html: Path | None) -> None:
    if markdown is not None:
        markdown.write_text(result.to_markdown(), encoding="utf-8")
        print_notice(f"markdown: {markdown}")
    if html is not None:
        html.write_text(result.to_html(), encoding="utf-8")
        print_notice(f"report: {html}")


def _print(result: GateResult) -> None:
    from rich.table import Table
    from rich.text import Text

    from mloop.cli._output import fmt_number

    console = stdout()
    table = Table(show_edge=False, pad_edge=False)
    for column in ("", "rule", "challenger", "champion", "threshold", "reason"):
        table.add_column(
            column, justify="right" if column in ("challenger", "champion", "threshold") else "left"
        )
    for rule in result.rules:
        shown = rule.rule if rule.name == rule.rule else f"{rule.name}: {rule.rule}"
        # Rule text is data, not markup: `slice[region=eu].recall` must print as written.
        table.add_row(
            Text("PASS", style="green") if rule.passed else Text("FAIL", style="red"),
            Text(shown),
            fmt_number(rule.challenger),
            fmt_number(rule.champion),
            fmt_number(rule.threshold),
            Text(rule.reason),
        )
    console.print(table)
    passed = sum(r.passed for r in result.rules)
    verdict = "gate passed" if result.passed else "gate failed"
    console.print(
        Text(
            f"{verdict}: {passed} of {len(result.rules)} rules passed",
            style="green" if result.passed else "red",
        )
    )
    if result.promotion is not None:
        console.print(Text(result.promotion.summary().replace("**", "").replace("`", "")))


def _finish(
    result: GateResult, *, as_json: bool, markdown: Path | None, html: Path | None, ok: bool
) -> None:
    try:
        _write_reports(result, markdown, html)
    except OSError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    if as_json:
        emit_json(result.to_dict())
    else:
        _print(result)
    raise typer.Exit(EXIT_PASS if ok else EXIT_FAIL)


def gate(
    challenger: Annotated[
        str,
        typer.Option(
            "--challenger",
            metavar="URI",
            help="The candidate: a model (a folder, runs:/ or models:/ URI) or a prompt "
            "(prompts:/name@alias, prompts:/name/3).",
            show_default=False,
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            metavar="DATA",
            help="Labelled data: a Parquet or CSV file, or a datasets:/ URI; for a prompt, "
            'rows as .jsonl or .json ({"inputs": {...}, "expected": "..."} per row).',
            show_default=False,
        ),
    ],
    target: Annotated[
        str | None,
        typer.Option(
            "--target", metavar="COL", help="The label column (models).", show_default=False
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", metavar="FILE", help="The gate policy (YAML).", show_default=False
        ),
    ] = None,
    champion: Annotated[
        str | None,
        typer.Option(
            "--champion",
            metavar="URI",
            help="The model or prompt to compare against (needed by champion.<metric> rules).",
            show_default=False,
        ),
    ] = None,
    task: Task = "classification",
    slices: Slices = None,
    sensitive: Sensitive = None,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            metavar="RULE",
            help="Prompts: a rule, as in a policy ('rouge_l >= champion.rouge_l - 0.02'), "
            "instead of --policy. Repeat.",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help="Prompts: the OpenAI-compatible endpoint they are sent to (http://host:port/v1).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", metavar="NAME", help="Prompts: the model name sent.", show_default=False
        ),
    ] = None,
    scorers: Annotated[
        list[str] | None,
        typer.Option(
            "--scorer",
            metavar="NAME",
            help="Prompts: a built-in scorer (exact_match, rouge_l, answer_similarity, "
            "json_valid, toxicity, latency, token_cost). Repeat \\[default: exact_match].",
            show_default=False,
        ),
    ] = None,
    markdown: Markdown = None,
    html: Html = None,
    as_json: Json = False,
    experiment: Experiment = None,
) -> None:
    """Evaluate CHALLENGER (and CHAMPION) on DATA and apply every rule of the policy.

    A prompts:/ challenger is evaluated through --base-url and --model with the --scorer
    scorers, on rows of a .jsonl or .json file.

    Exit status 0: every rule passed; 1: a rule failed; 2: error.
    """
    from mloop.errors import MloopError

    if challenger.startswith("prompts:/"):
        _gate_prompt(
            challenger,
            champion=champion,
            data=data,
            policy=policy,
            rules=rules or [],
            base_url=base_url,
            model=model,
            scorers=scorers or ["exact_match"],
            markdown=markdown,
            html=html,
            as_json=as_json,
            experiment=experiment,
        )
    if rules or base_url or model or scorers:
        raise typer.BadParameter(
            "--rule, --base-url, --model and --scorer are for prompts:/ challengers; a model "
            "is gated with --policy FILE"
        )
    if target is None:
        raise typer.BadParameter("a model gate needs the label column", param_hint="--target")
    if policy is None:
        raise typer.BadParameter("a model gate needs a policy file", param_hint="--policy")
    try:
        from mloop.cli._progress import phases
        from mloop.evaluate import gate as run_gate

        _choose(experiment)
        with phases(f"reading {data}") as say:
            result = run_gate(
                challenger,
                data,
                policy,
                champion_uri=champion,
                target=target,
                task=task,
                slices=slices or (),
                sensitive=sensitive or (),
                progress=say,
            )
    except MloopError as exc:
        print_error(exc.message)
        raise typer.Exit(EXIT_ERROR) from None
    _finish(result, as_json=as_json, markdown=markdown, html=html, ok=result.passed)


def _gate_prompt(
    challenger: str,
    *,
    champion: str | None,
    data: str,
    policy: Path | None,
    rules: list[str],
    base_url: str | None,
    model: str | None,
    scorers: list[str],
    markdown: Path | None,
    html: Path | None,
    as_json: bool,
    experiment: str | None,
) -> None:
    """``mloop gate`` for a prompt: ``mloop.genai.gate`` on the rows; exits."""
    from mloop.cli._prompts import SCORERS, read_rows
    from mloop.errors import MloopError

    if (policy is None) == (not rules):
        raise typer.BadParameter("a prompt gate takes --policy FILE or --rule RULE (not both)")
    if champion is not None and not champion.startswith("prompts:/"):
        raise typer.BadParameter(
            f"a prompt is gated against a prompt (prompts:/...), got {champion!r}",
            param_hint="--champion",
        )
    if base_url is None or model is None:
        raise typer.BadParameter(
            "a prompt gate sends the prompts to an OpenAI-compatible endpoint: give --base-url "
            "URL and --model NAME"
        )
    if html is not None:
        raise typer.BadParameter("a prompt gate writes --markdown or --json, not --html")
    unknown = [s for s in scorers if s not in SCORERS]
    if unknown:
        raise typer.BadParameter(
            f"unknown scorer {unknown[0]!r}; choose from {', '.join(SCORERS)}",
            param_hint="--scorer",
        )
    try:
        from mloop import genai

        _choose(experiment)
        result = genai.gate(
            challenger,
            read_rows(Path(data)),
            policy if policy is not None else list(rules),
            scorers=[getattr(genai, s)() for s in scorers],
            champion=champion,
            endpoint=genai.Endpoint(base_url=base_url, model=model),
        )
    except MloopError as exc:
        print_error(exc.message)
        raise typer.Exit(EXIT_ERROR) from None
    if markdown is not None:
        try:
            markdown.write_text(result.to_markdown(), encoding="utf-8")
        except OSError as exc:
            print_error(str(exc))
            raise typer.Exit(EXIT_ERROR) from None
        print_notice(f"markdown: {markdown}")
    if as_json:
        emit_json(_prompt_result(result))
    else:
        stdout().print(result.to_markdown(), markup=False, highlight=False)
    raise typer.Exit(EXIT_PASS if result.passed else EXIT_FAIL)


def _prompt_result(result: Any) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "challenger": {"target": result.challenger.target, "metrics": result.challenger.metrics},
        "champion": None
        if result.champion is None
        else {"target": result.champion.target, "metrics": result.champion.metrics},
        "rules": [r.to_dict() for r in result.rules],
    }


def promote(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The registered model.", show_default=False)
    ],
    data: Data,
    target: Target,
    policy: Policy,
    from_alias: Annotated[
        str, typer.Option("--from", metavar="ALIAS", help="The challenger's alias.")
    ] = "challenger",
    to_alias: Annotated[
        str, typer.Option("--to", metavar="ALIAS", help="The alias to move if the gate passes.")
    ] = "champion",
    task: Task = "classification",
    slices: Slices = None,
    sensitive: Sensitive = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Move the alias even if the gate fails (needs --reason)."),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why; recorded in the audit log."),
    ] = None,
    markdown: Markdown = None,
    html: Html = None,
    as_json: Json = False,
    experiment: Experiment = None,
) -> None:
    """Gate NAME@FROM against NAME@TO and move TO only if every rule passes.

    The gate report goes into the registry's audit log either way; --force with --reason moves
    the alias despite a failed gate, and the override is audited.

    Exit status 0: the alias moved; 1: the gate failed and the alias stayed; 2: error.
    """
    from mloop.errors import MloopError

    try:
        from mloop.cli._context import open_store
        from mloop.cli._progress import phases
        from mloop.evaluate import promote as run_promote
        from mloop.registry import Registry

        _choose(experiment)
        with phases(f"reading {data}") as say:
            result = run_promote(
                name,
                from_alias=from_alias,
                to_alias=to_alias,
                data=data,
                target=target,
                policy=policy,
                task=task,
                slices=slices or (),
                sensitive=sensitive or (),
                force=force,
                reason=reason,
                registry=Registry(open_store(ctx)),
                progress=say,
            )
    except MloopError as exc:
        print_error(exc.message)
        raise typer.Exit(EXIT_ERROR) from None
    moved = result.promotion is not None and result.promotion.moved
    _finish(result, as_json=as_json, markdown=markdown, html=html, ok=moved)
