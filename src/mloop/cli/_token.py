"""``mloop token``: create, list and revoke the API tokens of a shared server.

Against a shared server (``MLOOP_TRACKING_URI=http://...``) these need an admin token in
``MLOOP_TOKEN``; with ``--backend-store-uri`` they write the database directly, which is how
the first personal tokens are made next to the bootstrap token.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from mloop.cli._context import BackendStoreUri
from mloop.cli._output import emit_json, fmt_time, stdout
from mloop.errors import InvalidArgument

app = typer.Typer(
    help="Create, list and revoke API tokens (mloop server --auth).", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration_ms(text: str) -> int:
    """``30d``, ``12h``, ``90m``, ``2w`` or ``45s`` in milliseconds."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidArgument(
            f"--expires {text!r}: give a positive number and a unit, e.g. 30d, 12h, 90m, 2w"
        )
    return int(match.group(1)) * _SECONDS[match.group(2)] * 1000


def _store(ctx: typer.Context, backend_store_uri: str | None):  # type: ignore[no-untyped-def]
    from mloop.cli._context import open_store

    if backend_store_uri is None:
        return open_store(ctx)
    from mloop.cli._context import state
    from mloop.store import SqlStore

    return SqlStore(backend_store_uri, state(ctx).settings.artifacts)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="The identity the token acts as (a person or a service), e.g. alice, ci-churn.",
            show_default=False,
            metavar="NAME",
        ),
    ],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="reader, editor, deployer or admin (each includes the ones before)."
        ),
    ] = "reader",
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Lifetime, e.g. 30d, 12h, 2w (default: no expiry)."),
    ] = None,
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", help="Limit to this experiment id (repeatable)."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Limit to this registered model (repeatable)."),
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option("--scope", help="Inference scopes for mloop serve --auth: predict,feedback."),
    ] = None,
    backend_store_uri: BackendStoreUri = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it ONCE (only its hash is stored: keep it now).

    Example: mloop token create ci-churn --role editor --model churn --expires 90d
    """
    from mloop._core import current_user, now_ms

    expires_at = None if expires is None else now_ms() + parse_duration_ms(expires)
    scopes = {
        "experiments": experiment or None,
        "models": model or None,
        "inference": [s.strip() for s in scope.split(",") if s.strip()] if scope else [],
    }
    store = _store(ctx, backend_store_uri)
    new = store.create_token(
        name, role, scopes=scopes, expires_at=expires_at, created_by=current_user()
    )
    if as_json:
        emit_json(new)
        return
    console = stdout()
    console.print(
        f"created token [bold]{new.info.token_id}[/] for [bold]{new.info.name}[/] "
        f"(role {new.info.role.value}); it is shown only now:"
    )
    console.print(new.token, soft_wrap=True, highlight=False)
    console.print("[dim]use it as: export MLOOP_TOKEN=<the token>[/]")


@app.command("list")
def list_tokens(
    ctx: typer.Context,
    backend_store_uri: BackendStoreUri = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (never their secrets), revoked and expired ones included."""
    from mloop._core import now_ms

    tokens = _store(ctx, backend_store_uri).list_tokens()
    if as_json:
        emit_json({"tokens": tokens})
        return
    from rich.table import Table

    now = now_ms()
    table = Table()
    for column in ("id", "name", "role", "scopes", "created", "expires", "state"):
        table.add_column(column)
    for tok in tokens:
        state = (
            "revoked"
            if tok.revoked_at is not None
            else "expired"
            if not tok.is_valid(now)
            else "valid"
        )
        scopes = tok.scopes.model_dump(exclude_defaults=True)
        table.add_row(
            tok.token_id,
            tok.name,
            tok.role.value,
            ", ".join(f"{k}={v}" for k, v in scopes.items()) or "-",
            fmt_time(tok.created_at),
            fmt_time(tok.expires_at) if tok.expires_at else "never",
            state,
            style="dim" if state != "valid" else None,
        )
    console = stdout()
    if tokens:
        console.print(table)
    else:
        console.print("no tokens")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: Annotated[
        str, typer.Argument(help="The token's id (see mloop token list).", metavar="ID")
    ],
    backend_store_uri: BackendStoreUri = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token at once (servers refuse it within 30 s, their cache's lifetime)."""
    tok = _store(ctx, backend_store_uri).revoke_token(token_id)
    if as_json:
        emit_json(tok)
        return
    stdout().print(f"revoked token {tok.token_id} ({tok.name})")
