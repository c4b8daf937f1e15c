"""``mloop sync``: send what waits in the local spool to the store."""

from __future__ import annotations

from typing import Annotated

import typer

from mloop.cli._output import print_notice, stdout

EXIT_SENT, EXIT_WAITING = 0, 1


def sync(
    ctx: typer.Context,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.0, metavar="SECONDS", help="How long to keep trying the store."
        ),
    ] = 30.0,
) -> None:
    """Send the logging calls that wait in the local spool ($MLOOP_HOME/spool) to the store.

    A script whose store (a shared server) did not answer keeps its params, metrics, tags and
    artifacts there, and the runs it started offline (with their ids), and says so when it
    exits; the next process that logs sends them too. Sending twice adds nothing, and a sync
    that stops halfway resumes where it stopped.

    Exit status 0: the spool is empty; 1: records still wait (the store does not answer).
    """
    from mloop.cli._context import state
    from mloop.tracking import Client
    from mloop.tracking._client import close_writers

    settings = state(ctx).settings
    client = Client(settings=settings)  # its writer adopts the spool files left behind
    status = client.flush(timeout=timeout)
    close_writers(timeout=0)  # reported below: the exit notice would say it twice
    if status.spooled:
        print_notice(
            f"{status.spooled} records of logging calls still wait in {settings.home / 'spool'}: "
            f"{settings.tracking_uri} does not answer; run `mloop sync` again once it is back"
        )
        raise typer.Exit(EXIT_WAITING)
    stdout().print(f"spool empty: everything logged is in {settings.tracking_uri}")
