"""An OpenAI-compatible API for served text generation models: ``POST /v1/chat/completions``
and ``POST /v1/completions``, plain or streamed as server-sent events, with token usage.

``model`` in the body names the served model (as ``mloop serve`` names it). Each request is a
trace (``mloop.genai``) bound to the served version. A streamed completion is generated one step
per chunk pulled by the response, so a client that disconnects stops the generation. When the
server keeps a prediction log, each completion is recorded as ``{"prompt": ...}`` ->
``{"completion": ...}`` after the app's ``state.redact`` hook (a function from text to text, for
personal data) when one is set.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
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
    if not callable(getattr(predictor, "stream", None)):
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
    options = _options(body)
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

        def run() -> Any:
            with (
                bind_model_version(*served) if served else _nullcontext(),
                start_span(f"serve.{obj}", kind="llm", inputs={"prompt": prompt}) as span,
            ):
                result = gen.generate(prompt, **options)
                span.set_outputs(result.text)
                span.set_usage(
                    prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                )
                return result

        result = await run_in_threadpool(run)
        _log(request, version, prompt, result.text, time.perf_counter() - t0)
        usage = _usage(vars(result))
        return Response(
            orjson.dumps(
                {
                    "id": rid,
                    "object": obj,
                    "created": created,
                    "model": body.model,
                    "choices": [choice(result.text, result.finish_reason, False)],
                    "usage": usage,
                }
            ),
            media_type="application/json",
        )

    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk_obj = "chat.completion.chunk" if chat else "text_completion"

    async def events() -> AsyncIterator[bytes]:
        info: dict[str, Any] = {}
        parts: list[str] = []
        base = {"id": rid, "object": chunk_obj, "created": created, "model": body.model}
        try:
            async for piece in iterate_in_threadpool(gen.stream(prompt, info=info, **options)):
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
            # Also on a disconnect (the response is cancelled and no further step is pulled).
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
