"""Automatic tracing of the openai client against a real local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_server import make_app

import mloop
from mloop import genai
from mloop.server import ServerThread


@pytest.fixture
def base_url() -> Iterator[str]:
    with ServerThread(make_app()) as server:
        yield f"{server.url}/v1"


@pytest.fixture
def autolog() -> Iterator[None]:
    genai.autolog_openai()
    yield
    genai.autolog_openai(disable=True)


@pytest.mark.slow
def test_sync_async_streaming_and_errors_are_traced(
    mloop_home: Path, base_url: str, autolog: None
) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="test")
    with mloop.start_run() as run:

        @mloop.trace
        def ask(q: str) -> str:
            reply = client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": q}], temperature=0
            )
            return reply.choices[0].message.content or ""

        assert ask("one two three") == "three two one"
        stream = client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "a b c d"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        with mloop.start_span("while streaming"):
            pass  # started after the stream opened: not its child
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "d c b a"
        text = client.completions.create(model="tiny", prompt="x y")
        assert text.choices[0].text == "y x"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="missing", messages=[{"role": "user", "content": "q"}]
            )

        async def ask_async() -> str:
            aclient = openai.AsyncOpenAI(base_url=base_url, api_key="test")
            r = await aclient.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "left right"}]
            )
            await aclient.close()
            return r.choices[0].message.content or ""

        assert asyncio.run(ask_async()) == "right left"
    mloop.flush()
    traces = {t.name: t for t in genai.search_traces(run_id=run.run_id, limit=50)}
    assert set(traces) >= {"ask", "openai.chat.completions", "openai.completions"}
    ask_trace = genai.get_trace(traces["ask"].trace_id)
    root, llm = ask_trace.spans
    assert llm.parent_id == root.span_id and llm.kind == "llm"
    assert llm.inputs["model"] == "tiny" and llm.inputs["temperature"] == 0
    assert llm.outputs == "three two one"
    assert (llm.prompt_tokens, llm.completion_tokens) == (3, 3)

    chat = genai.search_traces(name="openai.chat.completions", limit=50)
    streamed = [genai.get_trace(t.trace_id).spans[0] for t in chat]
    by_output = {s.outputs: s for s in streamed}
    assert by_output["d c b a"].prompt_tokens == 4
    assert by_output["right left"].status == "OK"
    failed = [s for s in streamed if s.status == "ERROR"]
    assert len(failed) == 1 and "NotFoundError" in (failed[0].error or "")
    assert traces["while streaming"].span_count == 1
    assert traces["openai.completions"].completion_tokens == 2

    genai.autolog_openai(disable=True)
    client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "q"}])
    mloop.flush()
    assert len(genai.search_traces(name="openai.chat.completions", limit=50)) == len(chat)


@pytest.mark.slow
def test_llm_judge_and_endpoint_scoring(mloop_home: Path, base_url: str) -> None:
    rows = [
        {"inputs": {"q": "a b"}, "expected": "b a"},
        {"inputs": {"q": "x y"}, "expected": "wrong"},
    ]
    genai.register_prompt("echo", "{{q}}")
    result = genai.evaluate(
        "prompts:/echo/1",
        rows,
        [genai.llm_judge("Matches the expected answer", base_url=base_url, model="judge")],
        endpoint=genai.Endpoint(base_url=base_url, model="tiny"),
    )
    assert [r["output"] for r in result.rows] == ["b a", "y x"]
    assert [r["judge"] for r in result.rows] == [1.0, 0.0]
    assert result.metrics["judge"] == 0.5
    assert [r["usage"]["completion_tokens"] for r in result.rows] == [2, 2]
