"""``mloop db``: database schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from mloop.cli._context import BackendStoreUri, state
from mloop.cli._output import emit_json, stdout
from mloop.errors import InvalidArgument, StoreUnavailable

app = typer.Typer(help="Manage the metadata database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    backend_store_uri: BackendStoreUri = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Bring the database schema up to date (Alembic migrations), and print its revision."""
    uri = backend_store_uri or state(ctx).settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        raise InvalidArgument(
            f"{uri} is a tracking server, not a database: run `mloop db upgrade` where the "
            "server runs, or pass --backend-store-uri"
        )
    from sqlalchemy.exc import OperationalError

    from mloop.store._engine import create_engine
    from mloop.store._migrate import HEAD, current_revision
    from mloop.store._migrate import upgrade as run_upgrade

    engine = create_engine(uri)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        before = current_revision(engine)
        after = run_upgrade(engine)
    except OperationalError as exc:
        # The store translates database errors for its own calls; these two are called bare.
        raise StoreUnavailable(f"cannot reach the database {shown}: {exc.orig}") from exc
    finally:
        engine.dispose()
    if as_json:
        emit_json({"database": shown, "from_revision": before, "revision": after, "head": HEAD})
        return
    if before == after:
        stdout().print(f"{shown}: already at revision {after} (head {HEAD})")
    else:
        was = before or "an empty database"
        stdout().print(f"{shown}: upgraded from {was} to revision {after}")
