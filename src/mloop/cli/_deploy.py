"""``mloop deploy``: the deployment record of a registered model (the traffic split every
``mloop serve`` replica follows): show, set, clear."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli._context import open_store
from mloop.cli._output import emit_json, fmt_time, stdout
from mloop.errors import InvalidArgument

app = typer.Typer(
    help="The deployment record of a model: the canary weights, sticky key and shadow every "
    "`mloop serve` replica follows (moved by the loop controller or by hand).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
ModelName = Annotated[
    str, typer.Argument(help="The registered model's name.", show_default=False, metavar="NAME")
]
Reason = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why, recorded in the audit log.")
]
Expected = Annotated[
    int | None,
    typer.Option(
        "--expected-generation",
        min=0,
        help="Change the record only if it is still at this generation (compare-and-set; "
        "0: no record yet).",
        show_default=False,
    ),
]


def _parse_weights(text: str) -> dict[str, Any]:
    entries = []
    for part in text.split(","):
        version, sep, weight = part.partition("=")
        try:
            entries.append({"version": int(version), "weight": float(weight)})
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(
                f"expected VERSION=WEIGHT[,VERSION=WEIGHT...] such as 3=90,4=10, got {part!r}",
                param_hint="--weights",
            )
    return {"canary": entries}


def _print(record: Any) -> None:
    if record.spec is None:
        stdout().print(
            f"{record.name}: no deployment record (generation {record.generation}); the served "
            "URI alone answers"
        )
        return
    stdout().print(
        f"{record.name}: generation {record.generation}, set {fmt_time(record.updated_at)} "
        f"by {record.actor or '-'}" + (f" ({record.reason})" if record.reason else "")
    )
    for entry in record.spec.get("canary") or []:
        target = f"v{entry['version']}" if "version" in entry else entry["uri"]
        stdout().print(f"  {target:<32} weight {entry['weight']:g}")
    if record.spec.get("shadow") is not None:
        stdout().print(f"  shadow: {record.spec['shadow']}")
    if record.spec.get("sticky_key"):
        stdout().print(f"  sticky key: {record.spec['sticky_key']}")


@app.command("show")
def show(ctx: typer.Context, name: ModelName, as_json: JsonOption = False) -> None:
    """Show the deployment record of NAME.

    Example: [bold]mloop deploy show churn[/]
    """
    from mloop.registry import Registry

    record = Registry(open_store(ctx)).get_deployment(name)
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    _print(record)


@app.command("set")
def set_(
    ctx: typer.Context,
    name: ModelName,
    spec_file: Annotated[
        Path | None,
        typer.Argument(
            help="A YAML file holding one model policy (canary, sticky_key, shadow), the "
            "language of a deploy.yaml entry.",
            show_default=False,
            metavar="SPEC.yaml",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", metavar="V=W,...", help="Canary weights by version: 3=90,4=10."),
    ] = None,
    expected_generation: Expected = None,
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Replace the traffic split of NAME; every replica follows it at its next poll.

    Example: [bold]mloop deploy set churn --weights 3=90,4=10 --reason "canary v4"[/]
    """
    import yaml

    from mloop.registry import Registry

    if (spec_file is None) == (weights is None):
        raise typer.BadParameter("give SPEC.yaml or --weights (one of them)")
    if weights is not None:
        spec = _parse_weights(weights)
    else:
        assert spec_file is not None
        try:
            spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidArgument(f"cannot read {str(spec_file)!r}: {exc}") from None
        if not isinstance(spec, dict):
            raise InvalidArgument(f"{spec_file}: expected a mapping (canary, sticky_key, shadow)")
    record = Registry(open_store(ctx)).set_deployment(
        name, spec, expected_generation=expected_generation, reason=reason
    )
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    _print(record)


@app.command("clear")
def clear(
    ctx: typer.Context,
    name: ModelName,
    expected_generation: Expected = None,
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Clear the record of NAME: the served URI alone answers again.

    Example: [bold]mloop deploy clear churn --reason "rollout done"[/]
    """
    from mloop.registry import Registry

    record = Registry(open_store(ctx)).clear_deployment(
        name, expected_generation=expected_generation, reason=reason
    )
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    _print(record)
