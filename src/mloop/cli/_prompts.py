"""``mloop prompts``: the prompt registry: list, show, register, move aliases, history, diff."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._context import open_store
from mloop.cli._models import _aliases, _parse_tags, describe_change
from mloop.cli._output import MISSING, emit_json, fmt_time, short_id, stdout

if TYPE_CHECKING:
    from mloop.genai import Prompt
    from mloop.store import Store

app = typer.Typer(
    help="The prompt registry: prompt templates versioned, aliased and audited like models. "
    "Load one in code with mloop.genai.load_prompt('prompts:/NAME@ALIAS').",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
PromptName = Annotated[
    str, typer.Argument(help="The prompt's name.", show_default=False, metavar="NAME")
]
Reason = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why, recorded in the audit log.")
]


def _prompt_body(p: Prompt) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": p.version,
        "uri": p.uri,
        "type": "chat" if p.is_chat else "text",
        "variables": p.variables,
        "template": p.template.to_json()["template"],
        "model_config": p.model_config,
        "aliases": list(p.aliases),
        "tags": p.tags,
        "run_id": p.run_id,
        "description": p.description,
    }


def _uri(ref: str) -> str:
    """``NAME``, ``NAME/3``, ``NAME@alias`` or a full ``prompts:/`` URI."""
    return ref if ref.startswith("prompts:/") else f"prompts:/{ref}"


def _load(store: Store, ref: str) -> Prompt:
    from mloop.genai._prompts import load_prompt

    return load_prompt(_uri(ref), store=store)


@app.command("list")
def list_prompts(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List registered prompts by name, with their latest version and aliases."""
    from mloop.genai import list_prompts as list_

    prompts = list_(open_store(ctx))
    if as_json:
        emit_json({"prompts": prompts})
        return
    console = stdout()
    if not prompts:
        console.print("no prompts (add one with `mloop prompts register NAME --file PATH`)")
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("name", style="bold", overflow="fold")
    table.add_column("latest", justify="right", no_wrap=True)
    table.add_column("aliases")
    table.add_column("updated", no_wrap=True)
    for p in prompts:
        table.add_row(
            p.name,
            MISSING if p.latest_version is None else str(p.latest_version),
            _aliases(p.aliases) or MISSING,
            fmt_time(p.last_update_time),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            help="NAME (the latest version), NAME/VERSION, NAME@ALIAS or a prompts:/ URI.",
            show_default=False,
            metavar="PROMPT",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Show one prompt version: its template, variables, model settings and aliases."""
    p = _load(open_store(ctx), ref)
    if as_json:
        emit_json(_prompt_body(p))
        return
    from rich.table import Table

    console = stdout()
    console.print(f"[bold]prompt {p.name}[/] version {p.version} ({p.uri})")
    attrs = Table.grid(padding=(0, 2))
    attrs.add_column(style="dim")
    attrs.add_column(overflow="fold")
    attrs.add_row("type", "chat" if p.is_chat else "text")
    attrs.add_row("variables", ", ".join(p.variables) or MISSING)
    attrs.add_row("aliases", ", ".join(f"@{a}" for a in p.aliases) or MISSING)
    attrs.add_row(
        "model config", ", ".join(f"{k}={v}" for k, v in p.model_config.items()) or MISSING
    )
    attrs.add_row("run", short_id(p.run_id) if p.run_id else MISSING)
    console.print(attrs)
    console.print()
    console.print(p.template.render(), markup=False, highlight=False)


@app.command("register")
def register(
    ctx: typer.Context,
    name: PromptName,
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            "-f",
            help="The template: a text file, or a .json file holding chat messages "
            '[{"role": "system", "content": "..."}, ...]. "-" reads standard input.',
            show_default=False,
        ),
    ],
    chat: Annotated[
        bool, typer.Option("--chat", help="Read the template as JSON chat messages.")
    ] = False,
    model_config: Annotated[
        list[str] | None,
        typer.Option(
            "--model-config",
            metavar="KEY=VALUE",
            help="A model setting the prompt is meant for (model=..., temperature=0); values "
            "are read as JSON when they parse. Repeat for several.",
            show_default=False,
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", metavar="KEY=VALUE", help="A tag on the version; repeat.", show_default=False
        ),
    ] = None,
    description: Annotated[
        str, typer.Option("--description", metavar="TEXT", help="The version's description.")
    ] = "",
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Register a template as the next version of NAME; {{variables}} are filled in at use.

    Example: [bold]mloop prompts register summarize -f summarize.txt --model-config temperature=0[/]
    """
    import orjson

    from mloop.genai import register_prompt

    text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    template: Any = text
    if chat or file.suffix == ".json":
        try:
            template = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise typer.BadParameter(
                f"not JSON chat messages: {exc}", param_hint="--file"
            ) from None
    config: dict[str, Any] = {}
    for key, value in _parse_tags(model_config).items():
        try:
            config[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            config[key] = value
    p = register_prompt(
        name,
        template,
        model_config=config,
        tags=_parse_tags(tags),
        description=description,
        reason=reason,
        store=open_store(ctx),
    )
    if as_json:
        emit_json(_prompt_body(p))
        return
    variables = ", ".join(p.variables) or "none"
    stdout().print(f"registered {p.name} version {p.version} ({p.uri}); variables: {variables}")


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: PromptName,
    alias: Annotated[
        str, typer.Argument(help="The alias, e.g. production.", show_default=False, metavar="ALIAS")
    ],
    version: Annotated[
        int, typer.Argument(help="The version to point it at.", min=1, show_default=False)
    ],
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Point ALIAS at VERSION atomically (recorded in the audit log), as for a model.

    Example: [bold]mloop prompts alias summarize production 3 --reason "judge score +4%"[/]
    """
    from mloop._core import current_user
    from mloop.genai._prompts import resolve_prompt_version

    store = open_store(ctx)
    resolve_prompt_version(f"prompts:/{name}/{version}", store)  # a prompt, and that version
    before = store.get_registered_model(name).aliases.get(alias)
    after = store.set_alias(name, alias, version, actor=current_user(), reason=reason).version
    if as_json:
        emit_json({"name": name, "alias": alias, "before": before, "after": after})
        return
    stdout().print(f"{alias}: {'(new)' if before is None else before} -> {after}")


@app.command("history")
def history(ctx: typer.Context, name: PromptName, as_json: JsonOption = False) -> None:
    """Show the audit log of a prompt, oldest first: who changed what, when and why."""
    from mloop.genai._prompts import _check_prompt_model

    store = open_store(ctx)
    _check_prompt_model(store, name)
    entries = store.get_audit_log(name)
    if as_json:
        emit_json({"name": name, "entries": entries})
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("time", "actor", "action", "version", "change", "reason"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            fmt_time(e.time),
            e.actor or MISSING,
            e.action,
            MISSING if e.version is None else str(e.version),
            describe_change(e),
            e.reason,
        )
    stdout().print(table)


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[
        str, typer.Argument(help="NAME/VERSION, NAME@ALIAS or a URI.", show_default=False)
    ],
    new: Annotated[
        str, typer.Argument(help="NAME/VERSION, NAME@ALIAS or a URI.", show_default=False)
    ],
    as_json: JsonOption = False,
) -> None:
    """Show how two prompt versions differ: template (unified diff) and model settings.

    Exits 0 when they are the same, 1 when they differ (as `diff` does).

    Example: [bold]mloop prompts diff summarize@production summarize/4[/]
    """
    import difflib

    store = open_store(ctx)
    a, b = _load(store, old), _load(store, new)
    lines = list(
        difflib.unified_diff(
            a.template.render().splitlines(),
            b.template.render().splitlines(),
            fromfile=a.uri,
            tofile=b.uri,
            lineterm="",
        )
    )
    config = {
        k: [a.model_config.get(k), b.model_config.get(k)]
        for k in sorted({*a.model_config, *b.model_config})
        if a.model_config.get(k) != b.model_config.get(k)
    }
    same = not lines and not config
    if as_json:
        emit_json({"old": a.uri, "new": b.uri, "same": same, "diff": lines, "model_config": config})
    else:
        console = stdout()
        if same:
            console.print(f"{a.uri} and {b.uri} are the same")
        for line in lines:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            console.print(line, style=style, markup=False, highlight=False)
        for k, (x, y) in config.items():
            console.print(f"model config {k}: {x!r} -> {y!r}", markup=False)
    if not same:
        raise typer.Exit(1)


SCORERS = (
    "exact_match",
    "rouge_l",
    "answer_similarity",
    "json_valid",
    "toxicity",
    "latency",
    "token_cost",
)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an LLM evaluation: a .jsonl (one JSON object a line) or .json (a list)."""
    import orjson

    if not path.is_file():
        raise typer.BadParameter(f"no file {str(path)!r}", param_hint="--data")

    try:
        if path.suffix in (".jsonl", ".ndjson"):
            lines = path.read_text(encoding="utf-8").splitlines()
            return [orjson.loads(line) for line in lines if line.strip()]
        if path.suffix == ".json":
            rows = orjson.loads(path.read_bytes())
            if not isinstance(rows, list):
                raise typer.BadParameter(
                    "a .json data file holds a list of rows", param_hint="--data"
                )
            return rows
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path}: not JSON: {exc}", param_hint="--data") from None
    raise typer.BadParameter("data is a .jsonl or .json file of rows", param_hint="--data")


@app.command("promote")
def promote(
    ctx: typer.Context,
    name: PromptName,
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help='Rows as .jsonl or .json: {"inputs": {...}, "expected": "..."} per row.',
            show_default=False,
        ),
    ],
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            help="The OpenAI-compatible endpoint the prompts are sent to (http://host:port/v1).",
            show_default=False,
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="The model name sent.", show_default=False)],
    policy: Annotated[
        Path | None, typer.Option("--policy", metavar="FILE", help="The gate policy (YAML).")
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            metavar="RULE",
            help="A rule, as in a policy: 'rouge_l >= champion.rouge_l - 0.02'. Repeat.",
            show_default=False,
        ),
    ] = None,
    scorers: Annotated[
        list[str] | None,
        typer.Option(
            "--scorer",
            metavar="NAME",
            help=f"A built-in scorer: {', '.join(SCORERS)}. Repeat.",
            show_default=False,
        ),
    ] = None,
    from_alias: Annotated[
        str, typer.Option("--from", help="The challenger's alias.")
    ] = "challenger",
    to_alias: Annotated[str, typer.Option("--to", help="The alias to move.")] = "champion",
    force: Annotated[bool, typer.Option("--force", help="Move even if the gate fails.")] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (needed with --force).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Gate NAME@challenger against NAME@champion on DATA and move @champion if every rule passes.

    Exit status 0: the alias moved; 1: the gate failed and the alias stayed; 2: error.

    Example: [bold]mloop prompts promote qa --data eval.jsonl --base-url http://127.0.0.1:8000/v1
    --model tiny --scorer rouge_l --rule "rouge_l >= champion.rouge_l - 0.02"[/]
    """
    from mloop import genai

    if (policy is None) == (not rules):
        raise typer.BadParameter("give --policy FILE or --rule RULE (not both)")
    chosen = scorers or ["exact_match"]
    unknown = [s for s in chosen if s not in SCORERS]
    if unknown:
        raise typer.BadParameter(
            f"unknown scorer {unknown[0]!r}; choose from {', '.join(SCORERS)}",
            param_hint="--scorer",
        )
    open_store(ctx)
    result = genai.promote(
        name,
        read_rows(data),
        policy if policy is not None else list(rules or []),
        scorers=[getattr(genai, s)() for s in chosen],
        endpoint=genai.Endpoint(base_url=base_url, model=model),
        from_alias=from_alias,
        to_alias=to_alias,
        force=force,
        reason=reason,
    )
    if as_json:
        emit_json(
            {
                "passed": result.passed,
                "moved": result.moved,
                "rules": [r.to_dict() for r in result.rules],
                "challenger": result.challenger.metrics,
                "champion": None if result.champion is None else result.champion.metrics,
            }
        )
    else:
        console = stdout()
        console.print(result.to_markdown(), markup=False, highlight=False)
        console.print(f"@{to_alias} {'moved' if result.moved else 'stayed'}")
    raise typer.Exit(0 if result.moved else 1)
