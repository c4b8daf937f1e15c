"""An OpenAI-compatible API for served text generation models: ``POST /v1/chat/completions``
and ``POST /v1/completions``, plain or streamed as server-sent events, with token usage.

``model`` in the body names the served model (as ``mloop serve`` names it). Each request is a
trace (``mloop.genai``) bound to the served version. Generations of one model share its
continuous-batching loop (:mod:`mloop.models._genbatch`): concurrent requests are decoded
together, step by step, each streamed as its tokens come; a client that disconnects leaves the
batch at the next step. When the server keeps a prediction log, each completion is recorded as
``{"prompt": ...}`` -> ``{"completion": ...}`` after the app's ``state.redact`` hook (a function
from text to text, for personal data) when one is set.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from mloop._web._errors import ERROR_RESPONSES
from mloop.errors import InvalidPayload
from mloop.genai import bind_model_version, start_span


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str


class _StreamOptions(BaseModel):
    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields mloop does not use
    model: str
    max_tokens: int = Field(16, ge=1, le=4096)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None
    seed: int | None = None


class ChatBody(_Common):
    messages: list[_Message] = Field(min_length=1)


class CompletionBody(_Common):
    prompt: str


def _generator(request: Request, name: str) -> tuple[Any, Any]:
    server = request.app.state.serve
    version = server.slot(name).current
    predictor = getattr(version.model, "_predictor", None)
    if not callable(getattr(predictor, "shared_batcher", None)):
        raise InvalidPayload(
            f"model {name!r} does not generate text (flavor {version.model.flavor!r}); "
            "/v1/chat/completions serves transformers models"
        )
    return version, predictor


def _options(body: _Common) -> dict[str, Any]:
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    return {
        "max_tokens": body.max_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "stop": stop,
        "seed": body.seed,
    }


def _usage(info: dict[str, Any]) -> dict[str, int]:
    p, c = int(info.get("prompt_tokens", 0)), int(info.get("completion_tokens", 0))
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _log(request: Request, version: Any, prompt: str, text: str, latency_s: float) -> None:
    hook = request.app.state.serve.on_prediction
    if hook is None:
        return
    redact: Callable[[str], str] | None = getattr(request.app.state, "redact", None)
    if redact is not None:
        prompt, text = redact(prompt), redact(text)
    from mloop.monitor._predformat import RequestRows

    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    outputs = [{"completion": text}]  # one row: logged as output.completion
    hook(request_id, version, RequestRows(1, {"prompt": [prompt]}), outputs, latency_s, False)


async def _complete(request: Request, body: _Common, prompt: str, chat: bool) -> Response:
    version, gen = _generator(request, body.model)
    settings = getattr(request.app.state, "generation", None) or {}
    engine = gen.shared_batcher(**settings)
    # Queued now: a full queue (503) or a bad option (422) is the answer, before any stream.
    handle = engine.submit(prompt, **_options(body), loop=asyncio.get_running_loop())
    created = int(time.time())
    rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
    obj = "chat.completion" if chat else "text_completion"
    t0 = time.perf_counter()
    served = (version.name, int(version.version)) if str(version.version).isdigit() else None

    def choice(text: str, finish: str | None, delta: bool) -> dict[str, Any]:
        if chat:
            key = "delta" if delta else "message"
            return {
                "index": 0,
                key: {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        return {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}

    if not body.stream:
        try:
            with (
                bind_model_version(*served) if served else _nullcontext(),
                start_span(f"serve.{obj}", kind="llm", inputs={"prompt": prompt}) as span,
            ):
                text = "".join([piece async for piece in handle.aiter()])
                info = handle.info
                span.set_outputs(text)
                span.set_usage(
                    prompt_tokens=info["prompt_tokens"],
                    completion_tokens=info["completion_tokens"],
                )
        finally:
            handle.cancel()  # a no-op once finished; stops the generation if this was cancelled
        _log(request, version, prompt, text, time.perf_counter() - t0)
        return Response(
            orjson.dumps(
                {
                    "id": rid,
                    "object": obj,
                    "created": created,
                    "model": body.model,
                    "choices": [choice(text, info["finish_reason"], False)],
                    "usage": _usage(info),
                }
            ),
            media_type="application/json",
        )

    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk_obj = "chat.completion.chunk" if chat else "text_completion"

    async def events() -> AsyncIterator[bytes]:
        info = handle.info
        parts: list[str] = []
        base = {"id": rid, "object": chunk_obj, "created": created, "model": body.model}
        try:
            async for piece in handle.aiter():
                parts.append(piece)
                chunk = {**base, "choices": [choice(piece, None, True)]}
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            last = {**base, "choices": [choice("", info.get("finish_reason", "stop"), True)]}
            yield b"data: " + orjson.dumps(last) + b"\n\n"
            if include_usage:
                usage = {**base, "choices": [], "usage": _usage(info)}
                yield b"data: " + orjson.dumps(usage) + b"\n\n"
            yield b"data: [DONE]\n\n"
        finally:
            # Also on a disconnect (the response is cancelled): the sequence leaves the batch.
            handle.cancel()
            text = "".join(parts)
            with bind_model_version(*served) if served else _nullcontext():
                span = start_span(f"serve.{obj}", kind="llm", inputs={"prompt": prompt})
                span.set_outputs(text)
                span.set_usage(
                    prompt_tokens=info.get("prompt_tokens"),
                    completion_tokens=info.get("completion_tokens"),
                )
                span.set_attributes({"stream": True, "finish_reason": info.get("finish_reason")})
                span.end()
            _log(request, version, prompt, text, time.perf_counter() - t0)

    return StreamingResponse(events(), media_type="text/event-stream")


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def close_generation(version: Any) -> None:
    """Stop the continuous-batching loop of a served version, if it has one (app shutdown)."""
    predictor = getattr(getattr(version, "model", None), "_predictor", None)
    engine = getattr(predictor, "_batcher", None)
    if engine is not None:
        engine.close()


def openai_router() -> APIRouter:
    """The routes, for ``mloop serve``'s app (which holds the served models)."""
    router = APIRouter(responses=ERROR_RESPONSES, tags=["openai"])

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request, body: ChatBody) -> Response:
        """OpenAI's chat completions: the messages through the tokenizer's chat template."""
        _, gen = _generator(request, body.model)
        prompt = gen.chat_prompt([m.model_dump() for m in body.messages])
        return await _complete(request, body, prompt, chat=True)

    @router.post("/v1/completions")
    async def completions(request: Request, body: CompletionBody) -> Response:
        """OpenAI's text completions."""
        return await _complete(request, body, body.prompt, chat=False)

    return router
