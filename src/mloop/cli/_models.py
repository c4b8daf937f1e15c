"""``mloop models``: the model registry: list, show, register, move aliases, archive, history;
signing keys and signatures."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._context import open_store
from mloop.cli._output import MISSING, clip, emit_json, fmt_time, short_id, stdout

if TYPE_CHECKING:
    from rich.text import Text

    from mloop.registry import Registry
    from mloop.store import AuditEntry, ModelVersion

app = typer.Typer(
    help="The model registry: list, show, register, move aliases, archive, read the history.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
ModelName = Annotated[
    str, typer.Argument(help="The registered model's name.", show_default=False, metavar="NAME")
]
Version = Annotated[
    int, typer.Argument(help="A version number.", min=1, show_default=False, metavar="VERSION")
]
Reason = Annotated[
    str,
    typer.Option("--reason", metavar="TEXT", help="Why, recorded in the audit log."),
]
#: Values in the history's change column are cut to this many characters.
CHANGE_WIDTH = 40


def _registry(ctx: typer.Context) -> Registry:
    """The registry on the store the settings name, closed when the command ends."""
    from mloop.registry import Registry

    return Registry(open_store(ctx))


def _aliases(aliases: Mapping[str, int]) -> str:
    """``champion→3, challenger→4``: by version, newest first, then by name."""
    ordered = sorted(aliases.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{alias}→{version}" for alias, version in ordered)


def _parse_tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--tag")
        key = key.strip()
        if key in tags:
            raise typer.BadParameter(f"tag {key!r} is given twice", param_hint="--tag")
        tags[key] = value
    return tags


def _version_body(version: ModelVersion) -> dict[str, Any]:
    return {**version.model_dump(mode="json"), "uri": version.uri}


# -- models list -------------------------------------------------------------------------------


@app.command("list")
def list_models(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List registered models by name, with their latest version and aliases."""
    models = _registry(ctx).list_models()
    if as_json:
        emit_json({"models": models})
        return
    console = stdout()
    if not models:
        console.print("no registered models (add one with `mloop models register URI NAME`)")
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("name", style="bold", overflow="fold")
    table.add_column("latest", justify="right", no_wrap=True)
    table.add_column("aliases")
    table.add_column("description", max_width=40)
    table.add_column("updated", no_wrap=True)
    for model in models:
        table.add_row(
            model.name,
            MISSING if model.latest_version is None else str(model.latest_version),
            _aliases(model.aliases) or MISSING,
            clip(model.description.splitlines()[0], 40) if model.description else "",
            fmt_time(model.last_update_time),
        )
    console.print(table)


# -- models show -------------------------------------------------------------------------------


@app.command("show")
def show(ctx: typer.Context, name: ModelName, as_json: JsonOption = False) -> None:
    """Show a registered model: description, tags, aliases and every version."""
    registry = _registry(ctx)
    model = registry.get_model(name)
    versions = registry.list_versions(name)
    if as_json:
        body = model.model_dump(mode="json")
        body["versions"] = [_version_body(v) for v in versions]
        emit_json(body)
        return
    from rich.table import Table
    from rich.text import Text

    console = stdout()
    console.print(Text.assemble(("model ", "bold"), (model.name, "bold")))
    attrs = Table.grid(padding=(0, 2))
    attrs.add_column(style="dim")
    attrs.add_column(overflow="fold")
    attrs.add_row("description", model.description or MISSING)
    attrs.add_row("tags", ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())) or MISSING)
    attrs.add_row("aliases", _aliases(model.aliases) or MISSING)
    attrs.add_row("latest", MISSING if model.latest_version is None else str(model.latest_version))
    attrs.add_row("created", fmt_time(model.creation_time))
    attrs.add_row("updated", fmt_time(model.last_update_time))
    console.print(attrs)
    console.print()
    if not versions:
        console.print("[bold]versions[/] [dim](none)[/]")
        return
    described = any(v.description for v in versions)
    table = Table(title="versions", title_justify="left", title_style="bold", show_edge=False)
    table.add_column("version", justify="right", style="bold", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("aliases")
    table.add_column("run", no_wrap=True)
    table.add_column("source", overflow="fold")
    if described:
        table.add_column("description", max_width=40)
    table.add_column("created", no_wrap=True)
    for v in versions:
        archived = v.status.value == "ARCHIVED"
        row: list[Any] = [
            str(v.version),
            Text(v.status.value, style="yellow" if archived else "green"),
            ", ".join(f"@{a}" for a in v.aliases) or MISSING,
            short_id(v.run_id) if v.run_id else MISSING,
            v.source,
        ]
        if described:
            row.append(clip(v.description.splitlines()[0], 40) if v.description else "")
        row.append(fmt_time(v.creation_time))
        table.add_row(*row, style="dim" if archived else None)
    console.print(table)


# -- models register ---------------------------------------------------------------------------


@app.command("register")
def register(
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(
            help="The model: runs:/<run_id>/<path>, a path or an artifact URL.",
            show_default=False,
            metavar="URI",
        ),
    ],
    name: Annotated[
        str,
        typer.Argument(
            help="The registered model (created if it does not exist).",
            show_default=False,
            metavar="NAME",
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
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Register URI as the next version of NAME.

    Example: [bold]mloop models register runs:/<run_id>/model churn --reason "retrained on May"[/]
    """
    parsed_tags = _parse_tags(tags)
    version = _registry(ctx).register_model(
        uri, name, tags=parsed_tags, description=description, reason=reason
    )
    if as_json:
        emit_json(_version_body(version))
        return
    stdout().print(f"registered {version.name} version {version.version} ({version.uri})")


# -- models alias ------------------------------------------------------------------------------


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: ModelName,
    alias: Annotated[
        str,
        typer.Argument(
            help="The alias, e.g. champion (models:/NAME@champion).",
            show_default=False,
            metavar="ALIAS",
        ),
    ],
    version: Annotated[
        int | None,
        typer.Argument(
            help="The version to point the alias at.", min=1, show_default=False, metavar="VERSION"
        ),
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Point ALIAS at VERSION (atomically), or remove it with --delete.

    Example: [bold]mloop models alias churn champion 4 --reason "beats v3 on AUC"[/]
    """
    if delete and version is not None:
        raise typer.BadParameter("give VERSION or --delete, not both", param_hint="VERSION")
    if not delete and version is None:
        raise typer.BadParameter("give the VERSION to point the alias at (or --delete)")
    registry = _registry(ctx)
    # Read to report the move; the store itself records the exact before/after in the audit log.
    before = registry.get_model(name).aliases.get(alias)
    after: int | None
    if version is None:
        registry.delete_alias(name, alias, reason=reason)
        after = None
    else:
        after = registry.set_alias(name, alias, version, reason=reason).version
    if as_json:
        emit_json({"name": name, "alias": alias, "before": before, "after": after})
        return
    old = "(new)" if before is None else str(before)
    new = "(deleted)" if after is None else str(after)
    unchanged = " (unchanged)" if after is not None and before == after else ""
    stdout().print(f"{alias}: {old} -> {new}{unchanged}")


# -- models archive ----------------------------------------------------------------------------


@app.command("archive")
def archive(
    ctx: typer.Context,
    name: ModelName,
    version: Version,
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Archive a version: kept for lineage, no longer assignable to an alias.

    A version that an alias points at cannot be archived: move the alias first.
    """
    archived = _registry(ctx).archive_version(name, version, reason=reason)
    if as_json:
        emit_json(_version_body(archived))
        return
    stdout().print(f"archived {archived.name} version {archived.version} ({archived.uri})")


# -- models history ----------------------------------------------------------------------------


@app.command("history")
def history(ctx: typer.Context, name: ModelName, as_json: JsonOption = False) -> None:
    """Show the audit log of a model, oldest first: who changed what, when and why."""
    entries = _registry(ctx).history(name)
    if as_json:
        emit_json({"name": name, "entries": entries})
        return
    console = stdout()
    if not entries:
        console.print(f"no history for {name}")
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("time", no_wrap=True)
    table.add_column("actor")
    table.add_column("action", style="bold")
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("change", overflow="fold")
    table.add_column("reason", overflow="fold")
    from rich.text import Text

    for entry in entries:
        # Names, changes and reasons are data: `slice[region=eu]` is not Rich markup.
        table.add_row(
            fmt_time(entry.time),
            Text(entry.actor or MISSING),
            Text(entry.action),
            MISSING if entry.version is None else str(entry.version),
            Text(describe_change(entry)),
            fold_reason(entry.reason),
        )
    console.print(table)


def fold_reason(reason: str) -> Text:
    """A reason's first paragraph on its own; an attached report (a promotion's gate report,
    after a blank line) folds into a note, since the table would otherwise print it whole."""
    from rich.text import Text

    head, _, rest = reason.strip().partition("\n\n")
    text = Text(" ".join(head.split()))
    if rest.strip():
        lines = len(rest.strip().splitlines())
        text.append(f" (+ report, {lines} lines: --json)", style="dim")
    return text


def describe_change(entry: AuditEntry) -> str:
    """An audit entry's before and after on one line: ``@champion: 2 -> 3``,
    ``status: READY -> ARCHIVED``, ``source=s3://..., tags=team=growth``."""
    before, after = entry.before, entry.after
    if (before and "alias" in before) or (after and "alias" in after):
        alias = (after or before or {}).get("alias")
        old = "(new)" if not before else _value(before.get("version"))
        new = "(deleted)" if not after else _value(after.get("version"))
        return f"@{alias}: {old} -> {new}"
    if before and after:
        keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
        return "; ".join(
            f"{k}: {_value(before.get(k), '(none)')} -> {_value(after.get(k), '(none)')}"
            for k in keys
        )
    if after:
        return _pairs(after)
    if before:
        return f"{_pairs(before)} -> (removed)"
    return ""


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in values.items() if v not in (None, "", {}, []))


def _value(value: Any, missing: str = MISSING) -> str:
    if value is None:
        return missing
    if isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return clip(text.replace("\n", " "), CHANGE_WIDTH)


# -- models keygen / sign ----------------------------------------------------------------------


@app.command("keygen")
def keygen(
    prefix: Annotated[
        Path,
        typer.Argument(
            help="Where to write PREFIX.key (private, mode 0600) and PREFIX.pub.",
            show_default=False,
            metavar="PREFIX",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Create an ed25519 key pair for signing models.

    Example: [bold]mloop models keygen keys/release[/], then give keys/release.pub to
    [bold]mloop serve --trust[/]
    """
    from mloop.models import generate_keypair
    from mloop.models._signing import TrustedKeys

    private, public = generate_keypair(prefix)
    [key_id] = TrustedKeys.from_files([public]).ids()
    if as_json:
        emit_json({"key_id": key_id, "private_key": str(private), "public_key": str(public)})
        return
    stdout().print(f"wrote {private} (keep it secret) and {public}; key id {key_id}")


@app.command("sign")
def sign(
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(
            help="The model: models:/NAME/VERSION, models:/NAME@ALIAS, runs:/<run_id>/<path> "
            "or a folder.",
            show_default=False,
            metavar="URI",
        ),
    ],
    key: Annotated[
        Path,
        typer.Option("--key", help="The ed25519 private key file (mloop models keygen)."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Sign a model: an ed25519 signature over its mloop-model.yaml (every file's sha256),
    written beside it as mloop-model.sig. mloop serve --trust loads only signed models.

    Example: [bold]mloop models sign models:/churn/3 --key keys/release.key[/]
    """
    import mloop.models

    open_store(ctx)  # the store that models:/ and runs:/ URIs resolve through
    key_id = mloop.models.sign(uri, key)
    if as_json:
        emit_json({"uri": uri, "key_id": key_id})
        return
    stdout().print(f"signed {uri} with key {key_id}")
