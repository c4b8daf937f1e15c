"""``mloop server``: the REST API and the web UI over a database and an artifact store.

The socket is bound before anything heavy is imported, so a port in use fails at once with a
clear message; with ``--workers N`` the same socket is shared by N uvicorn worker processes.
"""

from __future__ import annotations

import functools
import socket
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop import __version__
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
        from mloop.store import SqlStore

        # Opening the store migrates the schema once, here, before any worker starts.
        store = SqlStore(db, artifacts)
        if loops:
            from mloop.loop import LoopThreads, load_loop
            from mloop.store._context import set_default

            specs = [load_loop(path) for path in loops]  # a bad loop.yaml fails before serving
            # The controllers (and the pipelines they run) use the server's own store.
            set_default(tracking_uri=db, artifacts=artifacts)
            loop_threads = LoopThreads(specs).start()
        actual_port = sock.getsockname()[1]
        common: dict[str, Any] = {
            "host": host,
            "port": actual_port,
            "log_level": log_level.value,
            "ws": "none",
            "lifespan": "on",
            "timeout_graceful_shutdown": 10,
        }
        if workers == 1:
            app = create_app(store, settings=settings)
            _banner(app, host, actual_port, store, artifacts, workers)
            uvicorn.Server(uvicorn.Config(app, **common)).run(sockets=[sock])
        else:
            store.close()
            _banner(None, host, actual_port, store, artifacts, workers)
            # The settings travel in the factory's argument, pickled into each worker by
            # uvicorn: neither mloop.toml nor MLOOP_* in a worker's environment can point it
            # at another store.
            factory = functools.partial(worker_app, settings_to_json(settings))
            _run_workers(uvicorn.Config(factory, factory=True, workers=workers, **common), sock)
    finally:
        if loop_threads is not None:
            loop_threads.stop()
        sock.close()


def worker_app(settings_json: str) -> FastAPI:
    """The app of one worker process of ``mloop server --workers N``, over the parent's
    settings (JSON)."""
    from mloop._core._config import settings_from_json
    from mloop.server import create_app
    from mloop.store import SqlStore
    from mloop.store._context import set_default

    settings = settings_from_json(settings_json)
    set_default(settings)
    return create_app(SqlStore(settings.tracking_uri, settings.artifacts), settings=settings)


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
    app: FastAPI | None, host: str, port: int, store: Any, artifacts: str, workers: int
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
    for label, value in lines:
        console.print(f"  [dim]{label:<9}[/] {value}", soft_wrap=True)
    console.print(f"  [dim]log to it:[/] MLOOP_TRACKING_URI={base} python train.py", soft_wrap=True)
