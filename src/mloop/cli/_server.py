"""``mloop server``: the REST API and the web UI over a database and an artifact store.

The socket is bound before anything heavy is imported, so a port in use fails at once with a
clear message; with ``--workers N`` the same socket is shared by N uvicorn worker processes.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop import __version__
from mloop._web._heap import freeze_heap
from mloop.cli._context import BackendStoreUri, state
from mloop.cli._output import stderr
from mloop.errors import InvalidArgument, MloopError

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVER_EXTRA_HINT = "pip install 'mloop[server]'"


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


HeaderTimeout = Annotated[
    float,
    typer.Option(
        "--header-timeout",
        min=0.1,
        help="Seconds a request's headers may take to arrive (then 408 and the connection "
        "closes): slow or idle clients cannot hold connections forever.",
    ),
]
BodyTimeout = Annotated[
    float,
    typer.Option(
        "--body-timeout", min=0.1, help="Seconds a request body may pause between chunks."
    ),
]
LimitConcurrency = Annotated[
    int,
    typer.Option(
        "--limit-concurrency",
        min=1,
        help="Connections and requests at once per worker; the excess is answered 503.",
    ),
]
SslCertfile = Annotated[
    Path | None,
    typer.Option(
        "--ssl-certfile", help="Serve HTTPS with this certificate (PEM).", show_default=False
    ),
]
SslKeyfile = Annotated[
    Path | None,
    typer.Option(
        "--ssl-keyfile", help="The private key of --ssl-certfile (PEM).", show_default=False
    ),
]


def transport_options(
    header_timeout: float,
    body_timeout: float,
    limit_concurrency: int,
    ssl_certfile: Path | None,
    ssl_keyfile: Path | None,
) -> dict[str, Any]:
    """uvicorn settings of the connection options both servers share."""
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise InvalidArgument("HTTPS needs both --ssl-certfile and --ssl-keyfile")
    out: dict[str, Any] = {"limit_concurrency": limit_concurrency}
    if ssl_certfile is not None and ssl_keyfile is not None:
        out["ssl_certfile"] = str(ssl_certfile)
        out["ssl_keyfile"] = str(ssl_keyfile)
    return out


def make_config(
    target: Any, common: dict[str, Any], header_timeout: float, body_timeout: float
) -> Any:
    """A uvicorn config with mloop's read deadlines (``mloop._web._protocol``)."""
    import uvicorn

    from mloop._web._protocol import configure

    config = uvicorn.Config(target, **common)
    configure(config, header_timeout=header_timeout, body_timeout=body_timeout)
    return config


def server(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="The interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="The port (0: any free one).")
    ] = 5000,
    backend_store_uri: BackendStoreUri = None,
    artifacts_uri: Annotated[
        str | None,
        typer.Option(
            "--artifacts-uri",
            metavar="URI",
            help="Artifact folder or fsspec URL \\[default: --artifacts / MLOOP_ARTIFACTS]",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, max=64, help="Worker processes.")
    ] = 1,
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", help="uvicorn's log level.")
    ] = LogLevel.info,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth",
            help="Require a bearer token with the right role on every API call (the way to run "
            "a shared server). A store with no admin token gets one, written to "
            "$MLOOP_HOME/bootstrap-token.",
        ),
    ] = False,
    metrics_auth: Annotated[
        bool, typer.Option("--metrics-auth", help="With --auth, /metrics needs a token too.")
    ] = False,
    sweep_after: Annotated[
        str | None,
        typer.Option(
            "--sweep-dead-runs",
            metavar="DURATION",
            help="Every minute, mark KILLED the RUNNING runs silent (no heartbeat) for this "
            "long, e.g. 10m: runs whose process was killed do not stay RUNNING.",
            show_default=False,
        ),
    ] = None,
    header_timeout: HeaderTimeout = 10.0,
    body_timeout: BodyTimeout = 60.0,
    limit_concurrency: LimitConcurrency = 2048,
    ssl_certfile: SslCertfile = None,
    ssl_keyfile: SslKeyfile = None,
    loops: Annotated[
        list[Path] | None,
        typer.Option(
            "--loop",
            metavar="LOOP.yaml",
            help="Run the controller of this loop.yaml inside the server process (repeatable): "
            "the closed loop with no second process.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the mloop server: the web UI at /, the REST API under /api/v1, OpenAPI docs at
    /docs."""
    settings = state(ctx).settings
    db = backend_store_uri or settings.tracking_uri
    if db.startswith(("http://", "https://")):
        raise InvalidArgument(
            f"the server needs a database, and the tracking URI is a server ({db}): "
            "pass --backend-store-uri sqlite:///path or postgresql://..."
        )
    artifacts = artifacts_uri or settings.artifacts
    settings = settings.model_copy(update={"tracking_uri": db, "artifacts": artifacts})
    transport = transport_options(
        header_timeout, body_timeout, limit_concurrency, ssl_certfile, ssl_keyfile
    )
    loop_threads: Any = None
    sock = _bind(host, port)
    try:
        try:
            import uvicorn

            from mloop.server import create_app
        except ImportError as exc:
            raise MloopError(
                f"mloop server needs FastAPI and uvicorn ({exc.name} is missing): "
                f"{SERVER_EXTRA_HINT}"
            ) from None
        from mloop._core._config import settings_to_json
        from mloop.store import SqlStore, storage_options

        # Opening the store migrates the schema once, here, before any worker starts.
        store = SqlStore(db, artifacts, storage_options=storage_options(settings))
        if auth:
            bootstrap_admin_token(store, settings.home)
        if sweep_after is not None:
            from mloop.cli._token import parse_duration_ms

            start_sweeper(db, artifacts, parse_duration_ms(sweep_after))
        if loops:
            from mloop.loop import LoopThreads, load_loop
            from mloop.store._context import set_default

            specs = [load_loop(path) for path in loops]  # a bad loop.yaml fails before serving
            # The controllers (and the pipelines they run) use the server's own settings: its
            # store, artifacts and their credentials, as the command line resolved them.
            set_default(settings)
            loop_threads = LoopThreads(specs).start()
        actual_port = sock.getsockname()[1]
        common: dict[str, Any] = {
            "host": host,
            "port": actual_port,
            "log_level": log_level.value,
            "ws": "none",
            "lifespan": "on",
            "timeout_graceful_shutdown": 10,
            **transport,
        }
        if workers == 1:
            app = create_app(store, settings=settings, auth=auth, metrics_auth=metrics_auth)
            _banner(app, host, actual_port, store, artifacts, workers, auth)
            config = make_config(app, common, header_timeout, body_timeout)
            freeze_heap()
            uvicorn.Server(config).run(sockets=[sock])
        else:
            store.close()
            _banner(None, host, actual_port, store, artifacts, workers, auth)
            # The settings travel in the factory's argument, pickled into each worker by
            # uvicorn: neither mloop.toml nor MLOOP_* in a worker's environment can point it
            # at another store.
            factory = functools.partial(worker_app, settings_to_json(settings), auth, metrics_auth)
            config = make_config(
                factory,
                {**common, "factory": True, "workers": workers},
                header_timeout,
                body_timeout,
            )
            _run_workers(config, sock)
    finally:
        if loop_threads is not None:
            loop_threads.stop()
        sock.close()


def worker_app(settings_json: str, auth: bool = False, metrics_auth: bool = False) -> FastAPI:
    """The app of one worker process of ``mloop server --workers N``, over the parent's
    settings (JSON)."""
    from mloop._core._config import settings_from_json
    from mloop.server import create_app
    from mloop.store import SqlStore, storage_options
    from mloop.store._context import set_default

    settings = settings_from_json(settings_json)
    set_default(settings)
    store = SqlStore(
        settings.tracking_uri, settings.artifacts, storage_options=storage_options(settings)
    )
    app = create_app(store, settings=settings, auth=auth, metrics_auth=metrics_auth)
    freeze_heap()
    return app


BOOTSTRAP_FILE = "bootstrap-token"
SWEEP_EVERY_S = 60.0


def start_sweeper(db: str, artifacts: str, timeout_ms: int) -> threading.Thread:
    """A daemon thread that sweeps dead runs now and every :data:`SWEEP_EVERY_S` seconds, on
    its own store (one per server, whatever the number of workers)."""
    import logging

    from mloop.store import SqlStore

    log = logging.getLogger("mloop.server")

    def sweep() -> None:
        store = SqlStore(db, artifacts)
        while True:
            try:
                killed = store.sweep_dead_runs(timeout_ms)
                if killed:
                    log.warning("marked %d silent run(s) KILLED: %s", len(killed), killed)
            except MloopError as exc:  # the database is away: try again next time
                log.warning("sweeping dead runs failed: %s", exc)
            time.sleep(SWEEP_EVERY_S)

    thread = threading.Thread(target=sweep, name="mloop-sweeper", daemon=True)
    thread.start()
    return thread


def bootstrap_admin_token(store: Any, home: Path) -> Path | None:
    """On a store with no valid admin token, create one named ``bootstrap-admin`` and write it
    to ``home/bootstrap-token`` (mode 0600); returns that path, or None when an admin exists.
    The token itself is never printed."""
    if store.has_valid_admin_token():
        return None
    new = store.create_token("bootstrap-admin", "admin", created_by="mloop server --auth")
    home.mkdir(parents=True, exist_ok=True)
    path = home / BOOTSTRAP_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(new.token + "\n")
    os.chmod(path, 0o600)
    stderr().print(
        f"created the admin token [bold]{new.info.token_id}[/] (bootstrap-admin) in {path}; "
        "create personal tokens with it (mloop token create), then revoke it",
        soft_wrap=True,
    )
    return path


def _run_workers(config: Any, sock: socket.socket) -> None:
    import inspect

    from uvicorn import Server
    from uvicorn.supervisors import Multiprocess

    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.50
        Multiprocess(config, target=Server(config).run, sockets=[sock]).run()  # type: ignore[call-arg]
    else:
        Multiprocess(config, sockets=[sock]).run()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that name it, and without
    # it a keep-alive client's small requests wait on Nagle + delayed ACK (~40 ms each).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = "choose another --port" if exc.errno in (98, 48, 10048) else "check --host"
        raise MloopError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; {hint}") from None
    sock.set_inheritable(True)
    return sock


def _banner(
    app: FastAPI | None,
    host: str,
    port: int,
    store: Any,
    artifacts: str,
    workers: int,
    auth: bool = False,
) -> None:
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    has_ui = app is not None and any(getattr(r, "path", None) == "/" for r in app.routes)
    console = stderr()
    console.print(f"[bold]mloop server {__version__}[/] listening on [bold]{base}[/]")
    lines = []
    if has_ui:
        lines.append(("UI", f"{base}/"))
    lines += [
        ("API", f"{base}/api/v1"),
        ("docs", f"{base}/docs"),
        ("health", f"{base}/healthz"),
        ("store", repr(store).removeprefix("SqlStore(").removesuffix(")").strip("'")),
        ("artifacts", artifacts),
    ]
    if workers > 1:
        lines.append(("workers", str(workers)))
    lines.append(
        ("auth", "bearer tokens (--auth)" if auth else "off: anyone who can connect may write")
    )
    for label, value in lines:
        console.print(f"  [dim]{label:<9}[/] {value}", soft_wrap=True)
    console.print(f"  [dim]log to it:[/] MLOOP_TRACKING_URI={base} python train.py", soft_wrap=True)
