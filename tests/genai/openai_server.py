"""A small OpenAI-compatible server for tests: ``/v1/chat/completions`` and ``/v1/completions``
(plain and server-sent-event streaming, with usage), answering from a deterministic rule: the
reply is the last user message (or the prompt) reversed word by word."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


def reply_to(text: str) -> str:
    if text.startswith("You grade an answer"):  # a judge: 5 when the answer is the expected one
        expected = text.split("Expected answer: ", 1)[1].split("\n", 1)[0]
        answer = text.split("Answer to grade: ", 1)[1].strip()
        return f'Sure. {{"score": {5 if answer == expected else 1}, "reason": "compared"}}'
    return " ".join(reversed(text.split()))


def _usage(prompt: str, completion: str) -> dict[str, int]:
    p, c = len(prompt.split()), len(completion.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def make_app() -> FastAPI:
    app = FastAPI()

    def sse(chunks: Iterator[dict[str, Any]]) -> StreamingResponse:
        def gen() -> Iterator[bytes]:
            for c in chunks:
                yield f"data: {json.dumps(c)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        if body.get("model") == "missing":
            return JSONResponse({"error": {"message": "no such model"}}, status_code=404)
        prompt = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        answer = reply_to(prompt)
        base = {"id": "chatcmpl-1", "created": int(time.time()), "model": body["model"]}
        if body.get("stream"):
            words = answer.split()

            def chunks() -> Iterator[dict[str, Any]]:
                for i, w in enumerate(words):
                    delta = {"content": (" " if i else "") + w}
                    yield {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                    }
                yield {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": _usage(prompt, answer),
                }

            return sse(chunks())
        return {
            **base,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(prompt, answer),
        }

    @app.post("/v1/completions")
    async def complete(request: Request) -> Any:
        body = await request.json()
        answer = reply_to(body["prompt"])
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "text": answer, "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(body["prompt"], answer),
        }

    return app
