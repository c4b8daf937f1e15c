"""``mloop serve``: serve models for prediction (``/v1`` predict, Open Inference Protocol v2).

The socket is bound first (a port in use fails at once); the models are loaded before uvicorn
starts, so a bad URI fails with a clear message, and warmed with their input examples once it
runs. With ``--workers N`` every worker process loads the models itself. Aliases are followed
(``--poll-interval``) and ``--policy deploy.yaml`` sets canary and shadow traffic. SIGTERM drains:
uvicorn stops accepting, lets requests in flight finish (up to 30 s), then exits (0 with one
worker).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop import __version__
from mloop.cli._context import state
from mloop.cli._output import stderr
from mloop.cli._server import (
    SERVER_EXTRA_HINT,
    BodyTimeout,
    HeaderTimeout,
    LimitConcurrency,
    LogLevel,
    SslCertfile,
    SslKeyfile,
    _bind,
    _run_workers,
    make_config,
    transport_options,
)
from mloop.errors import MloopError

if TYPE_CHECKING:
    from types import FrameType

    from fastapi import FastAPI

_GRACEFUL_S = 30


def _served(uris: list[str], *, optimize: bool = False) -> list[Any]:
    from mloop.serve import ServedModel

    out = []
    for item in uris:
        name, sep, uri = item.partition("=")
        # NAME=URI names a model; a URI itself may hold '=' only after ':' or '/'.
        if sep and name and not any(ch in name for ch in ":/\\"):
            out.append(ServedModel(uri, name=name, optimize=optimize))
        else:
            out.append(ServedModel(item, optimize=optimize))
    return out


def _configure_logging(level_name: str) -> None:
    """mloop's own log lines on stderr: swaps and registry outages (``mloop.serve``) at INFO or
    above whatever ``--log-level`` says; each shadow result (``mloop.serve.shadow``) only at
    ``--log-level info`` or lower."""
    level = logging.DEBUG if level_name == "trace" else logging.getLevelName(level_name.upper())
    root = logging.getLogger("mloop")
    if not any(getattr(h, "_mloop_serve", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._mloop_serve = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)
    logging.getLogger("mloop.serve").setLevel(min(level, logging.INFO))
    logging.getLogger("mloop.serve.shadow").setLevel(level)


def _create(spec: dict[str, Any]) -> FastAPI:
    """The app, over the current store (``models:/`` and ``runs:/`` URIs resolve through it,
    the prediction log goes to its artifact store)."""
    from mloop.serve import VertexRoutes, create_serve_app
    from mloop.store import current

    _configure_logging(spec.get("log_level", "warning"))
    log = None
    if spec.get("log_sample_rate", 0.0) > 0:
        from mloop.serve import PredictionLog

        log = PredictionLog(current().artifacts, sample_rate=spec["log_sample_rate"])
    return create_serve_app(
        _served(spec["models"], optimize=spec.get("optimize", False)),
        max_batch_size=spec["max_batch_size"],
        max_wait_ms=spec["max_wait_ms"],
        batching=spec["batching"],
        poll_interval_s=spec["poll_interval_s"] or None,
        policy=spec["policy"],
        prediction_log=log,
        vertex=VertexRoutes(**spec["vertex"]) if spec.get("vertex") else None,
        auth=_token_cache() if spec.get("auth") else None,
        metrics_auth=bool(spec.get("metrics_auth")),
        trust=_trust(spec.get("trust") or []),
        deployments=spec.get("deployments", True),
        generation_batch_size=spec.get("generation_batch_size", 32),
        generation_max_waiting=spec.get("generation_max_waiting", 256),
        redact=redactor(spec["redact"]) if spec.get("redact") else None,
    )


def redactor(target: str) -> Any:
    """The function ``--redact module:function`` (or ``path/to/file.py:function``) names,
    checked: it imports, is callable and turns a text into a text.

    Raises:
        InvalidArgument: with what is wrong, before anything is served.
    """
    import importlib
    import importlib.util

    from mloop.errors import InvalidArgument

    source, sep, attr = target.rpartition(":")
    if not sep or not source or not attr.replace(".", "").replace("_", "").isalnum():
        raise InvalidArgument(
            f"--redact takes module:function (or file.py:function), got {target!r}"
        )
    if source.endswith(".py"):
        path = Path(source)
        if not path.is_file():
            raise InvalidArgument(f"--redact {target}: no file {source!r}")
        spec = importlib.util.spec_from_file_location(f"_mloop_redact_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise InvalidArgument(f"--redact {target}: cannot load {source!r}")
        module: Any = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # user code: any failure is a bad option
            raise InvalidArgument(
                f"--redact {target}: {source} failed to load: {type(exc).__name__}: {exc}"
            ) from None
    else:
        # A module of the folder mloop serve runs in, as `python -m` would find it.
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.append(os.getcwd())
        try:
            module = importlib.import_module(source)
        except Exception as exc:  # user code: any failure is a bad option
            raise InvalidArgument(
                f"--redact {target}: cannot import {source!r}: {type(exc).__name__}: {exc}"
            ) from None
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise InvalidArgument(f"--redact {target}: {source} has no function {attr!r}")
    try:
        probe = fn("mloop redaction check: ann@example.com")
    except Exception as exc:
        raise InvalidArgument(
            f"--redact {target}: the function failed on a sample text: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(probe, str):
        raise InvalidArgument(
            f"--redact {target}: the function must return text, it returned {type(probe).__name__}"
        )
    return fn


def _absolute_redact(target: str) -> str:
    source, sep, attr = target.rpartition(":")
    if sep and source.endswith(".py"):
        return f"{Path(source).resolve()}:{attr}"
    return target


def _trust(paths: list[str]) -> Any:
    if not paths:
        return None
    from mloop.models import TrustedKeys

    return TrustedKeys.from_files(paths)


def _token_cache() -> Any:
    """The token check of ``--auth``: against the metadata store the models come from; over
    HTTP, the tracking server is asked (``/api/v1/auth/whoami``), with refusals cached for a
    few seconds too."""
    from mloop._web._bearer import NEGATIVE_CACHE_SECONDS, TokenCache
    from mloop.store import HttpStore, current

    store = current().store
    if isinstance(store, HttpStore):
        return TokenCache(store, negative_ttl=NEGATIVE_CACHE_SECONDS)
    return TokenCache(store)


def serve(
    ctx: typer.Context,
    model_uris: Annotated[
        list[str],
        typer.Argument(
            metavar="MODEL_URI...",
            help="Models to serve: models:/name@alias, models:/name/3, runs:/<id>/model, a "
            "folder; NAME=URI serves one under another name.",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option("--host", help="The interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port",
            "-p",
            min=0,
            max=65535,
            envvar="AIP_HTTP_PORT",
            help="The port (0: any free one); Vertex AI's AIP_HTTP_PORT when set.",
        ),
    ] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, max=64, help="Worker processes.")
    ] = 1,
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", min=1, help="The most rows per framework call.")
    ] = 64,
    max_wait_ms: Annotated[
        float,
        typer.Option("--max-wait-ms", min=0.0, help="The longest a batch waits for more requests."),
    ] = 2.0,
    no_batching: Annotated[
        bool, typer.Option("--no-batching", help="One framework call per request.")
    ] = False,
    optimize: Annotated[
        bool,
        typer.Option(
            "--optimize",
            help="Compile scikit-learn models to ONNX at load and serve them with ONNX Runtime "
            "when their predictions match the original's on the input example and a sample; "
            "else serve the model as it is, with the reason logged (needs mloop[onnx]).",
        ),
    ] = False,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval",
            min=0.0,
            help="Seconds between registry polls of aliases (models:/name@alias, models:/name): "
            "a moved alias is loaded beside the old version, then swapped in. 0: never.",
        ),
    ] = 5.0,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="A deploy.yaml: canary weights, a sticky key and a shadow per model. It wins "
            "over the deployment record for the names it lists.",
            show_default=False,
        ),
    ] = None,
    no_deployment: Annotated[
        bool,
        typer.Option(
            "--no-deployment",
            help="Ignore deployment records (the traffic split `mloop deploy set` and the loop "
            "controller write in the store); by default each served registered model follows "
            "its record on the --poll-interval.",
        ),
    ] = False,
    log_sample_rate: Annotated[
        float,
        typer.Option(
            "--log-sample-rate",
            min=0.0,
            max=1.0,
            help="The share of requests written to the prediction log (Parquet under "
            "predictions/ in the artifact store, for monitoring; labels arrive on POST "
            "/v1/feedback). 0: no log.",
        ),
    ] = 1.0,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level", help="uvicorn's and mloop's log level (info: one line per shadow copy)."
        ),
    ] = LogLevel.warning,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth",
            help="Require a bearer token: the 'predict' scope for predictions, 'feedback' for "
            "labels (mloop token create NAME --scope predict). Health stays open.",
        ),
    ] = False,
    metrics_auth: Annotated[
        bool, typer.Option("--metrics-auth", help="With --auth, /metrics needs a token too.")
    ] = False,
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust",
            metavar="KEYS",
            help="Load only model versions signed by a public key in this file (repeatable; "
            "PEM or ssh-ed25519 lines): unsigned or tampered versions are refused, now and "
            "when an alias moves. Sign with mloop models sign.",
            show_default=False,
        ),
    ] = None,
    generation_batch_size: Annotated[
        int,
        typer.Option(
            "--generation-batch-size",
            min=1,
            help="Text generation models (/v1/chat/completions, /v1/completions): the most "
            "requests one model decodes together, step by step (continuous batching).",
        ),
    ] = 32,
    generation_max_waiting: Annotated[
        int,
        typer.Option(
            "--generation-max-waiting",
            min=0,
            help="Generation requests that may wait for a place in a model's batch; one more "
            "is answered 503 (retry later).",
        ),
    ] = 256,
    redact: Annotated[
        str | None,
        typer.Option(
            "--redact",
            metavar="MODULE:FUNCTION",
            help="A function from text to text (module:function or file.py:function) applied "
            "to prompts and completions before the prediction log records them, to remove "
            "personal data. Checked at start.",
            show_default=False,
        ),
    ] = None,
    header_timeout: HeaderTimeout = 10.0,
    body_timeout: BodyTimeout = 60.0,
    limit_concurrency: LimitConcurrency = 1024,
    ssl_certfile: SslCertfile = None,
    ssl_keyfile: SslKeyfile = None,
) -> None:
    """Serve models over HTTP: POST /v1/models/NAME:predict, the OIP v2 API, /metrics."""
    from mloop._core._config import settings_to_json

    # models:/ and runs:/ URIs resolve through the current store: here the global options',
    # in worker processes the same settings, handed over in the app factory's argument.
    settings = state(ctx).settings
    from mloop.serve._vertex import VertexRoutes

    # Vertex AI's custom-container contract: its health and predict routes, when it set them
    # (the platform's variables, read here at the edge like the AIP_HTTP_PORT of --port).
    vertex = VertexRoutes.from_env(os.environ)
    # a file path made absolute: worker processes may start elsewhere
    redact_target = _absolute_redact(redact) if redact else None
    if redact_target is not None:
        redactor(redact_target)  # a bad --redact fails now, before the socket is bound
    spec = {
        "models": list(model_uris),
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "batching": not no_batching,
        "optimize": optimize,
        "poll_interval_s": poll_interval,
        "policy": None if policy is None else str(policy),
        "deployments": not no_deployment,
        "log_level": log_level.value,
        "log_sample_rate": log_sample_rate,
        "vertex": None if vertex is None else dataclasses.asdict(vertex),
        "auth": auth,
        "metrics_auth": metrics_auth,
        "trust": [str(p) for p in trust or []],
        "generation_batch_size": generation_batch_size,
        "generation_max_waiting": generation_max_waiting,
        "redact": redact_target,
    }
    transport = transport_options(
        header_timeout, body_timeout, limit_concurrency, ssl_certfile, ssl_keyfile
    )
    sock = _bind(host, port)
    try:
        try:
            import uvicorn

            import mloop.serve  # noqa: F401
        except ImportError as exc:
            raise MloopError(
                f"mloop serve needs FastAPI and uvicorn ({exc.name} is missing): "
                f"{SERVER_EXTRA_HINT}"
            ) from None
        app = _create(spec)  # loads every model: a bad URI fails here, before serving
        actual_port = sock.getsockname()[1]
        common: dict[str, Any] = {
            "host": host,
            "port": actual_port,
            "log_level": log_level.value,
            "ws": "none",
            "lifespan": "on",
            "access_log": False,
            "timeout_graceful_shutdown": _GRACEFUL_S,
            "loop": "auto",  # uvloop when installed
            "http": "auto",  # httptools when installed (with read deadlines: make_config)
            **transport,
        }
        _banner(app, host, actual_port, workers)
        if workers == 1:
            # uvicorn drains on SIGTERM, then raises the signal again once done; a drained
            # server has finished its work, so it exits 0 (as an orchestrator expects).
            signal.signal(signal.SIGTERM, _drained)
            config = make_config(app, common, header_timeout, body_timeout)
            uvicorn.Server(config).run(sockets=[sock])
        else:
            del app
            factory = functools.partial(worker_app, json.dumps(spec), settings_to_json(settings))
            config = make_config(
                factory,
                {**common, "factory": True, "workers": workers},
                header_timeout,
                body_timeout,
            )
            _run_workers(config, sock)
    finally:
        sock.close()


def _drained(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's own handler: re-raised by uvicorn once it has drained (or sent
    before it started): the work is done, exit 0."""
    raise SystemExit(0)


def worker_app(spec: str, settings: str) -> FastAPI:
    """The app of one worker process of ``mloop serve --workers N``: ``spec`` and
    ``settings`` (JSON) are the parent's, pickled into the process by uvicorn, so the worker
    neither reads the environment nor ``mloop.toml``."""
    from mloop._core._config import settings_from_json
    from mloop.store._context import set_default

    set_default(settings_from_json(settings))
    return _create(json.loads(spec))


def _banner(app: FastAPI, host: str, port: int, workers: int) -> None:
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    console = stderr()
    console.print(f"[bold]mloop serve {__version__}[/] listening on [bold]{base}[/]")
    for slot in app.state.serve.slots.values():
        v = slot.current
        console.print(
            f"  [dim]{slot.name} v{v.version}[/] POST {base}/v1/models/{slot.name}:predict  "
            f"POST {base}/v2/models/{slot.name}/infer  ({v.model.flavor}, {v.uri})",
            soft_wrap=True,
        )
    for label, path in (
        ("docs", "/docs"),
        ("health", "/healthz"),
        ("ready", "/readyz"),
        ("metrics", "/metrics"),
    ):
        console.print(f"  [dim]{label:<8}[/] {base}{path}", soft_wrap=True)
    if workers > 1:
        console.print(f"  [dim]workers [/] {workers}")
