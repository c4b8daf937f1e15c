"""The inference app: ``/v1`` predict, the Open Inference Protocol v2, health and metrics.

Handlers take the raw :class:`~starlette.requests.Request` and parse the body with orjson (the
body is documented in OpenAPI through ``openapi_extra``): pydantic per request would cost more
than the model. Errors use the server's one JSON shape (``mloop._web._errors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mloop import __version__
from mloop._web._bearer import TokenCache
from mloop._web._errors import (
    ERROR_RESPONSES,
    TOO_LARGE_RESPONSE,
    JsonResponse,
    document_method_not_allowed,
    error_response,
    install_error_handlers,
    internal_error_response,
    status_for,
)
from mloop._web._heap import freeze_heap
from mloop._web._request_id import REQUEST_ID_PATTERN
from mloop.errors import (
    InvalidArgument,
    MloopError,
    PayloadTooLarge,
    ServedModelNotFound,
)
from mloop.models import TrustedKeys
from mloop.monitor import PredictionLog
from mloop.serve import _openapi as api
from mloop.serve._auth import ServeAuth
from mloop.serve._deployfollow import DeploymentFollower
from mloop.serve._feedback_api import feedback_router
from mloop.serve._follow import Follower
from mloop.serve._metrics import ServeMetrics
from mloop.serve._openai_api import close_generation, openai_router
from mloop.serve._payload import (
    OUTPUT_TENSOR,
    Inputs,
    decode_json,
    parse_v1,
    parse_v2,
    v2_outputs,
    v2_tensor_metadata,
)
from mloop.serve._policy import DeployPolicy, Router, Shadow, load_deploy_policy, version_uri
from mloop.serve._slot import (
    ModelSlot,
    ServedModel,
    ServedVersion,
    Track,
    add_track,
    load_slot,
)
from mloop.serve._vertex import VertexRoutes, add_vertex_routes

__all__ = ["PredictionHook", "create_serve_app"]

logger = logging.getLogger("mloop.serve")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_REQUEST_ID = "x-request-id"

_V1_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "One of the accepted formats (MLflow's): records, split "
                    "(columns + data), instances or inputs.",
                    "properties": {
                        "records": {"type": "array", "items": {"type": "object"}},
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "data": {"type": "array", "items": {"type": "array"}},
                        "instances": {"type": "array"},
                        "inputs": {},
                    },
                },
                "examples": {
                    "records": {"value": {"records": [{"age": 42, "income": 51000.0}]}},
                    "split": {"value": {"columns": ["age", "income"], "data": [[42, 51000.0]]}},
                },
            }
        },
    },
    "responses": {
        "200": {
            "description": "Predictions, one per row",
            "content": {
                "application/json": {
                    "example": {
                        "predictions": [1],
                        "model": {"name": "churn", "version": "3"},
                        "request_id": "4f1c...",
                    }
                }
            },
        }
    },
}
_V2_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "inputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "shape", "datatype", "data"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "shape": {"type": "array", "items": {"type": "integer"}},
                                    "datatype": {"type": "string"},
                                    "data": {"type": "array"},
                                },
                            },
                        },
                    },
                }
            }
        },
    }
}
_PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {**ERROR_RESPONSES, **TOO_LARGE_RESPONSE}


class PredictionHook(Protocol):
    """Called after each successful prediction (and each shadow copy's, with ``shadow=True``),
    on the event loop: it must only enqueue (the prediction log does)."""

    def __call__(
        self,
        request_id: str,
        version: ServedVersion,
        inputs: Inputs,
        predictions: Any,
        latency_s: float,
        shadow: bool,
    ) -> None: ...


class FailureHook(Protocol):
    """Called after a request failed once a version was picked (its status and error), on the
    event loop: it must only enqueue (the prediction log does)."""

    def __call__(
        self,
        request_id: str,
        version: ServedVersion,
        inputs: Inputs | None,
        status: int,
        error: str,
        latency_s: float,
    ) -> None: ...


class _Server:
    """The state one app shares between its routes."""

    def __init__(
        self, slots: dict[str, ModelSlot], metrics: ServeMetrics, max_body_bytes: int
    ) -> None:
        self.slots = slots
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.started = False
        #: Set by whoever keeps a prediction log; None: nothing is called.
        self.on_prediction: PredictionHook | None = None
        self.on_failure: FailureHook | None = None
        self.follower: Follower | None = None

    def slot(self, name: str) -> ModelSlot:
        slot = self.slots.get(name)
        if slot is None:
            raise ServedModelNotFound(
                f"no model named {name!r} is served here; served: {', '.join(sorted(self.slots))}",
                details={"model": name, "served": sorted(self.slots)},
            )
        return slot

    @property
    def ready(self) -> bool:
        return self.started and all(slot.ready for slot in self.slots.values())

    async def body(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise _too_large(int(length), limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def asgi_body(self, receive: Receive, length: bytes | None) -> bytes:
        limit = self.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            raise _too_large(int(length), limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def infer(
        self,
        name: str,
        v2: bool,
        request_id: str,
        read_body: Callable[[], Awaitable[bytes]],
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> Response:
        """Answer one ``/v1`` predict or OIP ``infer`` request."""
        start = time.perf_counter()
        version: ServedVersion | None = None
        router: Router | None = None
        inputs: Inputs | None = None
        try:
            slot = self.slot(name)
            router = slot.router
            if router is None:
                # One version: one attribute read picks it (the alias poller swaps it).
                version = slot.current
                version.inflight += 1
                batcher = version.batcher
                batcher.arriving += 1
                try:
                    body = decode_json(await read_body())
                    if v2:
                        inputs, oip_id = parse_v2(body, version.signature)
                    else:
                        inputs = parse_v1(body, version.signature)
                finally:
                    batcher.arriving -= 1
            else:
                body = decode_json(await read_body())
                version = router.pick(headers, body)
                version.inflight += 1
                if v2:
                    inputs, oip_id = parse_v2(body, version.signature)
                else:
                    inputs = parse_v1(body, version.signature)
            predictions = await version.predict(inputs)
        except ClientDisconnect:
            return Response(status_code=499)  # nobody to answer; nginx's code, for the log
        except Exception as exc:
            if version is None and router is not None:
                # Failed before a version was picked: count it against the default one.
                return _error(exc, request_id, self.slots[name].current)
            failed = _error(exc, request_id, version)
            on_failure = self.on_failure
            if version is not None and on_failure is not None:
                code = exc.code if isinstance(exc, MloopError) else "INTERNAL_ERROR"
                cause: BaseException = exc
                while cause.__cause__ is not None:  # the model's own exception, if wrapped
                    cause = cause.__cause__
                try:
                    on_failure(
                        request_id,
                        version,
                        inputs,
                        failed.status_code,
                        f"{code}: {type(cause).__name__}",
                        time.perf_counter() - start,
                    )
                except Exception as hook_exc:  # the log must never change an answer
                    logger.error("the failure hook failed: %s", hook_exc, exc_info=hook_exc)
            return failed
        finally:
            if version is not None:
                version.inflight -= 1
        metrics = version.metrics
        metrics.requests.inc()
        if v2:
            content: dict[str, Any] = {
                "model_name": version.name,
                "model_version": version.version,
                "id": oip_id if oip_id is not None else request_id,
                "outputs": v2_outputs(predictions, version.signature),
            }
        else:
            content = {
                "predictions": predictions,
                "model": version.model_info,
                "request_id": request_id,
            }
        response = JsonResponse(content, headers={"x-request-id": request_id})
        latency = time.perf_counter() - start
        metrics.latency.observe(latency)
        hook = self.on_prediction
        if hook is not None:
            try:
                hook(request_id, version, inputs, predictions, latency, shadow=False)
            except Exception as exc:  # the log must never cost a caller its answer
                logger.error("the prediction hook failed: %s", exc, exc_info=exc)
        if router is not None and router.shadow is not None:
            router.shadow.mirror(request_id, body, v2, version, predictions, hook)
        return response


class _PredictFastPath:
    """Answers the two predict routes before FastAPI's routing and dependency machinery (which
    would cost more than a small model's predict); the FastAPI routes of the same paths stay,
    for OpenAPI, and answer the same way."""

    def __init__(self, app: ASGIApp, server: _Server) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            name = ""
            v2 = False
            if path.startswith("/v1/models/") and path.endswith(":predict"):
                name = path[11:-8]
            elif path.startswith("/v2/models/") and path.endswith("/infer"):
                name, v2 = path[11:-6], True
            if name and "/" not in name:
                request_id = None
                length = None
                for key, value in scope["headers"]:
                    if key == b"x-request-id":
                        given = value.decode("latin-1")
                        if REQUEST_ID_PATTERN.match(given):  # else a new one (as the server)
                            request_id = given
                    elif key == b"content-length":
                        length = value
                server = self.server
                response = await server.infer(
                    name,
                    v2,
                    request_id or uuid.uuid4().hex,
                    lambda: server.asgi_body(receive, length),
                    scope["headers"],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body ({size} bytes or more) is over the limit of {limit} bytes; "
        "send fewer rows per request",
        details={"limit": limit},
    )


def _error(exc: BaseException, request_id: str, version: ServedVersion | None) -> JsonResponse:
    headers = {"x-request-id": request_id}
    if isinstance(exc, MloopError) and not _is_model_failure(exc):
        status = status_for(type(exc))
        if version is not None:
            version.metrics.error(exc.code)
        response = error_response(status, exc.code, exc.message, exc.details, headers)
        return response
    if version is not None:
        version.metrics.error("INTERNAL_ERROR")
    response = internal_error_response(exc, request_id)
    response.headers["x-request-id"] = request_id
    return response


def _is_model_failure(exc: MloopError) -> bool:
    # A ModelError that is not a client's fault (the framework raised on valid rows): a 500.
    return not isinstance(exc, InvalidArgument) and status_for(type(exc)) >= 500


def create_serve_app(
    models: Sequence[ServedModel | str] | Mapping[str, str],
    *,
    max_batch_size: int = 64,
    max_wait_ms: float = 2.0,
    batching: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    poll_interval_s: float | None = 5.0,
    policy: str | os.PathLike[str] | Mapping[str, Any] | DeployPolicy | None = None,
    prediction_log: PredictionLog | None = None,
    vertex: VertexRoutes | None = None,
    auth: TokenCache | None = None,
    metrics_auth: bool = False,
    trust: TrustedKeys | None = None,
    deployments: bool = True,
    generation_batch_size: int = 32,
    generation_max_waiting: int = 256,
    redact: Callable[[str], str] | None = None,
) -> FastAPI:
    """An ASGI app serving ``models``, each by name and version.

    Args:
        models: :class:`ServedModel` objects or URIs, or a mapping name -> URI.
        max_batch_size: the most rows one framework call receives.
        max_wait_ms: the longest a batch waits for more requests after its first one (it
            waits only while other requests for the model are being read).
        batching: merge concurrent requests (False: one call per request, for every model).
        max_body_bytes: larger request bodies are answered 413.
        poll_interval_s: how often aliases (``models:/churn@champion``) and ``models:/churn``
            (latest) are resolved again; when one moved, the new version is loaded and warmed
            beside the old one, then swapped in with no failed request. None: never.
        policy: a traffic policy (``deploy.yaml``): its path, the parsed mapping or a
            :class:`DeployPolicy`; canary weights, sticky callers and shadow copies per name.
        prediction_log: where sampled predictions (and shadow answers) are written, off the
            hot path; it also gets ``POST /v1/feedback`` for late labels. The app starts it
            and, on shutdown, flushes and closes it.
        vertex: Vertex AI's health and predict routes (``AIP_HEALTH_ROUTE``,
            ``AIP_PREDICT_ROUTE``), answered for the first served model.
        auth: check bearer tokens with this cache (``mloop serve --auth``): predictions need
            the ``predict`` scope, feedback ``feedback``; health stays open.
        metrics_auth: with ``auth``, ``/metrics`` needs a valid token too.
        trust: load only model versions signed by one of these keys, now and whenever an
            alias or a policy moves (``mloop serve --trust KEYS``).
        deployments: follow the deployment record of each served registered model (the
            traffic split the loop controller or ``mloop deploy set`` writes), on the same poll
            as aliases; a name ``policy`` lists keeps the file's split. False: ignore records.

    Returns:
        A FastAPI app; the models (and every version the policy names) are loaded now and
        warmed with their input examples when the app starts (``/readyz`` answers 200 once all
        are warm). ``app.state.serve.on_prediction`` takes a hook called after each prediction.

    Raises:
        ModelNotFound, ModelIntegrityError, RegistryError, InvalidArgument: a model cannot be
            loaded, or two models share a name.
        InvalidArgument: the policy is malformed (the message names the file, line and key),
            names a model that is not served, or a version of another model.

    Example::

        app = create_serve_app(
            ["models:/churn@champion"], poll_interval_s=5.0, policy="deploy.yaml"
        )
        uvicorn.run(app, port=8080)
    """
    if isinstance(models, Mapping):
        served = [ServedModel(uri, name=name) for name, uri in models.items()]
    else:
        served = [m if isinstance(m, ServedModel) else ServedModel(str(m)) for m in models]
    if trust is not None:
        served = [dataclasses.replace(m, trust=trust) for m in served]
    if not served:
        raise InvalidArgument("no model to serve: pass at least one model URI")
    if generation_batch_size < 1 or generation_max_waiting < 0:
        raise InvalidArgument(
            "generation_batch_size must be at least 1 and generation_max_waiting at least 0, "
            f"got {generation_batch_size} and {generation_max_waiting}"
        )
    if redact is not None and not callable(redact):
        raise InvalidArgument(f"redact must be a function from text to text, got {redact!r}")
    if poll_interval_s is not None and not poll_interval_s > 0:
        raise InvalidArgument(
            f"poll_interval_s must be a positive number of seconds (or None), got {poll_interval_s}"
        )
    deploy = load_deploy_policy(policy) if policy is not None else None
    max_wait_s = max_wait_ms / 1000.0
    metrics = ServeMetrics()
    slots: dict[str, ModelSlot] = {}
    for item in served:
        if not batching and item.batching:
            item = dataclasses.replace(item, batching=False)
        name = item.resolved_name()
        if name in slots:
            raise InvalidArgument(
                f"two models are served as {name!r}; name them apart (name=... or NAME=URI)"
            )
        slots[name] = load_slot(item, metrics, max_batch_size=max_batch_size, max_wait_s=max_wait_s)
    if deploy is not None:
        _apply_policy(deploy, slots, metrics, max_batch_size, max_wait_s)
        for name in deploy.models:
            slots[name].follows_deployment = False  # a static split a person chose wins
    server = _Server(slots, metrics, max_body_bytes)
    if prediction_log is not None:
        server.on_prediction = prediction_log.on_prediction
        server.on_failure = prediction_log.on_failure
    metrics.watch(slots, prediction_log)
    if poll_interval_s is not None:
        server.follower = Follower(
            slots,
            metrics,
            interval_s=poll_interval_s,
            max_batch_size=max_batch_size,
            max_wait_s=max_wait_s,
            deployments=DeploymentFollower(
                metrics, max_batch_size=max_batch_size, max_wait_s=max_wait_s
            )
            if deployments
            else None,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        versions = [v for slot in slots.values() for v in slot.versions]
        for v in versions:
            v.batcher.start()
        if prediction_log is not None:
            prediction_log.start()
        server.started = True
        warming = asyncio.get_running_loop().create_task(_warm_all(versions))
        if server.follower is not None:
            server.follower.start()
        try:
            yield
        finally:
            server.started = False
            warming.cancel()
            if server.follower is not None:
                await server.follower.stop()
            for slot in slots.values():
                shadow = slot.router.shadow if slot.router is not None else None
                if shadow is not None:
                    await shadow.drain(timeout=5.0)
            for v in {id(v): v for slot in slots.values() for v in slot.versions}.values():
                await v.batcher.stop()
                await asyncio.to_thread(close_generation, v)
            if prediction_log is not None:
                await asyncio.to_thread(prediction_log.close, 10.0)

    app = FastAPI(
        title="mloop serve",
        version=__version__,
        description="Predictions from mloop models: /v1 (MLflow-style bodies) and the Open "
        "Inference Protocol v2.",
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    app.state.serve = server
    app.state.generation = {
        "max_batch_size": generation_batch_size,
        "max_waiting": generation_max_waiting,
    }
    app.state.redact = redact
    install_error_handlers(app)
    document_method_not_allowed(app)
    _add_routes(app, server)
    if vertex is not None:
        add_vertex_routes(app, server, vertex)
    if prediction_log is not None:
        app.include_router(feedback_router(prediction_log))
    app.include_router(openai_router())  # text generation models: OpenAI's API
    app.add_middleware(_PredictFastPath, server=server)
    if auth is not None:  # added last: outermost, before the predict fast path
        app.add_middleware(ServeAuth, cache=auth, metrics_auth=metrics_auth)
    return app


def _apply_policy(
    deploy: DeployPolicy,
    slots: dict[str, ModelSlot],
    metrics: ServeMetrics,
    max_batch_size: int,
    max_wait_s: float,
) -> None:
    """Load the versions ``deploy`` names and give each slot it covers a router."""
    source = deploy.source
    for name, spec in deploy.models.items():
        slot = slots.get(name)
        if slot is None:
            raise InvalidArgument(
                f"{source}: models.{name}: no model named {name!r} is served; served: "
                f"{', '.join(sorted(slots))}",
                details={"source": source, "key": f"models.{name}", "served": sorted(slots)},
            )
        registered = slot.registered_name
        track = functools.partial(
            _policy_track, slot, registered, metrics, max_batch_size, max_wait_s, source
        )
        tracks: list[Track] = [slot.main]
        weights = [1.0]
        if spec.canary is not None:
            tracks, weights = [], []
            for i, entry in enumerate(spec.canary):
                target = entry.uri if entry.uri is not None else entry.version
                assert target is not None
                tracks.append(track(target, f"canary[{i}]"))
                weights.append(entry.weight)
        shadow = None
        if spec.shadow is not None:
            shadow = Shadow(name, track(spec.shadow, "shadow"), spec.shadow_max_pending)
        slot.router = Router(name, tracks, weights, spec.sticky_key, shadow)


def _policy_track(
    slot: ModelSlot,
    registered: str | None,
    metrics: ServeMetrics,
    max_batch_size: int,
    max_wait_s: float,
    source: str,
    target: str | int,
    key: str,
) -> Track:
    uri = version_uri(target, registered, f"{source}: models.{slot.name}.{key}")
    return add_track(slot, uri, metrics, max_batch_size=max_batch_size, max_wait_s=max_wait_s)


_WARM_RETRY_MAX_S = 60.0


async def _warm_all(versions: list[ServedVersion], first_retry_s: float = 1.0) -> None:
    """Warm every version; retry those that fail (backing off to once a minute) until they
    warm or the server stops: a model that needed a file or a service that was not there yet
    becomes ready without a restart."""
    pending = versions
    delay = first_retry_s
    while True:
        failed = []
        for v in pending:
            retried = v.warm_error is not None
            try:
                await asyncio.to_thread(v.warm)
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if v.warm_error != problem:  # log each new failure once, not every retry
                    logger.error(
                        "warming %s v%s failed (retrying, at most every %g s): %s",
                        v.name,
                        v.version,
                        _WARM_RETRY_MAX_S,
                        exc,
                        exc_info=exc,
                    )
                v.warm_error = problem
                failed.append(v)
            else:
                if retried:
                    logger.info("%s v%s is warm now", v.name, v.version)
        if len(failed) < len(pending):
            # What was loaded lives as long as the server: keep it out of full collections.
            freeze_heap()
        if not failed:
            return
        pending = failed
        await asyncio.sleep(delay)
        delay = min(delay * 2, _WARM_RETRY_MAX_S)


def _request_id(request: Request) -> str:
    given = request.headers.get(_REQUEST_ID)
    return given if given and REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex


def _add_routes(app: FastAPI, server: _Server) -> None:
    @app.post(
        "/v1/models/{name}:predict",
        tags=["predict"],
        summary="Predict with a served model",
        openapi_extra=_V1_BODY,
        responses=_PREDICT_RESPONSES,
    )
    async def predict_v1(request: Request, name: str) -> Response:
        return await server.infer(
            name,
            False,
            _request_id(request),
            lambda: server.body(request),
            request.scope["headers"],
        )

    @app.post(
        "/v2/models/{name}/infer",
        tags=["open inference protocol v2"],
        summary="Infer (Open Inference Protocol v2)",
        openapi_extra=_V2_BODY,
        responses=_PREDICT_RESPONSES,
    )
    async def infer_v2(request: Request, name: str) -> Response:
        return await server.infer(
            name,
            True,
            _request_id(request),
            lambda: server.body(request),
            request.scope["headers"],
        )

    @app.get("/v2/health/live", tags=["open inference protocol v2"], responses=api.LIVE)
    async def v2_live() -> Response:
        return JsonResponse({"live": True})

    @app.get("/v2/health/ready", tags=["open inference protocol v2"], responses=api.V2_READY)
    async def v2_ready() -> Response:
        ready = server.ready
        return JsonResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/v2", tags=["open inference protocol v2"], responses=api.SERVER)
    async def v2_server() -> Response:
        return JsonResponse(
            {"name": "mloop", "version": __version__, "extensions": []},
        )

    @app.get("/v2/models/{name}", tags=["open inference protocol v2"], responses=ERROR_RESPONSES)
    async def v2_metadata(name: str) -> Response:
        slot = server.slot(name)
        v = slot.current
        sig = v.signature
        return JsonResponse(
            {
                "name": slot.name,
                "versions": [x.version for x in slot.versions],
                "platform": f"mloop_{v.model.flavor}",
                "inputs": v2_tensor_metadata(sig.inputs if sig is not None else None),
                "outputs": v2_tensor_metadata(
                    sig.outputs if sig is not None else None, OUTPUT_TENSOR
                ),
            }
        )

    @app.get(
        "/v2/models/{name}/ready", tags=["open inference protocol v2"], responses=ERROR_RESPONSES
    )
    async def v2_model_ready(name: str) -> Response:
        slot = server.slot(name)
        ready = server.started and slot.ready
        return JsonResponse({"name": name, "ready": ready}, status_code=200 if ready else 503)

    @app.get("/v1/models", tags=["predict"], responses=api.MODELS)
    async def list_models() -> Response:
        return JsonResponse(
            {
                "models": [
                    _describe(slot, server.follower is not None) for slot in server.slots.values()
                ]
            }
        )

    @app.get("/healthz", tags=["operations"], responses=api.HEALTH)
    async def healthz() -> Response:
        return JsonResponse({"status": "ok"})

    @app.get("/readyz", tags=["operations"], responses=api.READY)
    async def readyz() -> Response:
        waiting = {
            f"{v.name}/{v.version}": v.warm_error or "warming"
            for slot in server.slots.values()
            for v in slot.versions
            if not v.warmed
        }
        if server.ready:
            return JsonResponse({"status": "ready"})
        return JsonResponse({"status": "not ready", "models": waiting}, status_code=503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        return Response(
            server.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


def _describe(slot: ModelSlot, following: bool) -> dict[str, Any]:
    main = slot.main
    out: dict[str, Any] = {
        "name": slot.name,
        "version": main.current.version,
        "uri": main.uri,
        "flavor": main.current.model.flavor,
        "ready": slot.ready,
        "batching": main.current.batching,
        "versions": sorted(slot.loaded, key=lambda v: (len(v), v)),
        "following": following and any(t.followed for t in slot.tracks.values()),
        "registry_error": slot.registry_error,
        "load_errors": {t.uri: t.load_error for t in slot.tracks.values() if t.load_error},
        "deployment": {
            "follows": following and slot.follows_deployment,
            "generation": slot.deployment_generation or 0,
            "error": slot.deployment_error,
        },
    }
    if slot.router is not None:
        out["policy"] = slot.router.describe()
    return out
