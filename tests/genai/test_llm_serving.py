"""A transformers causal LM saved as an mloop model and served with OpenAI's API: the openai
client works unchanged, streams, gets usage; a disconnect stops the generation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tiny_lm import make_tiny_lm

import mloop
import mloop.models
from mloop import genai

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, tokenizer = make_tiny_lm()
    path = tmp_path_factory.mktemp("lm") / "model"
    mloop.models.save((model, tokenizer), path, flavor="transformers")
    return path


def test_flavor_round_trip(tiny_model_dir: Path) -> None:
    loaded = mloop.models.load(tiny_model_dir)
    assert loaded.flavor == "transformers"
    gen = loaded._predictor
    first = gen.generate("the cat", max_tokens=8, temperature=0)
    assert first == gen.generate("the cat", max_tokens=8, temperature=0)  # greedy: repeatable
    assert first.completion_tokens >= 1 and first.prompt_tokens >= 1
    assert "".join(gen.stream("the cat", max_tokens=8, temperature=0)) == first.text
    out = loaded.predict([{"prompt": "the dog"}])
    assert list(out.columns) == ["completion"] and len(out) == 1
    sampled = {gen.generate("the", max_tokens=6, temperature=1.0, seed=s).text for s in (1, 1)}
    assert len(sampled) == 1  # a seed makes sampling repeatable


@pytest.fixture
def served(tiny_model_dir: Path, mloop_home: Path) -> Iterator[str]:
    from mloop.serve import create_serve_app
    from mloop.server import ServerThread

    app = create_serve_app({"tiny": str(tiny_model_dir)}, poll_interval_s=None)
    with ServerThread(app) as server:
        yield server.url


def test_openai_client_chat_stream_and_completions(served: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{served}/v1", api_key="unused")
    messages: list[Any] = [{"role": "user", "content": "the cat"}]
    reply = client.chat.completions.create(
        model="tiny", messages=messages, max_tokens=12, temperature=0
    )
    text = reply.choices[0].message.content
    assert text and reply.usage is not None
    assert reply.usage.completion_tokens <= 12 and reply.usage.prompt_tokens > 2
    assert reply.choices[0].finish_reason in ("stop", "length")

    stream = client.chat.completions.create(
        model="tiny",
        messages=messages,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens

    done = client.completions.create(model="tiny", prompt="the dog", max_tokens=5, temperature=0)
    assert done.choices[0].text is not None and done.usage is not None
    assert done.usage.completion_tokens <= 5

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=messages)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="tiny", messages=messages, max_tokens=0)

    mloop.flush()
    served_traces = genai.search_traces(name="serve.chat.completion")  # plain and streamed
    assert [t.completion_tokens for t in served_traces] == [reply.usage.completion_tokens] * 2
    assert {t.model_name for t in served_traces} == {"tiny"}


def test_disconnect_stops_generation(served: str) -> None:
    import httpx

    body = {
        "model": "tiny",
        "prompt": "the",
        "max_tokens": 400,
        "temperature": 1.0,
        "stream": True,
        "seed": 3,
    }
    with httpx.stream("POST", f"{served}/v1/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        next(r.iter_lines())  # the first chunk; then hang up
    # the stream's span is written when the server notices and stops generating
    found: list[Any] = []
    while not found:
        mloop.flush()
        found = genai.search_traces(name="serve.text_completion")
    [t] = found
    assert t.completion_tokens is not None and t.completion_tokens < 400


def test_concurrent_streams_each_get_the_whole_completion(served: str) -> None:
    """Chunks of one stream are generated on whichever pool thread is free: concurrent streams
    must not disturb each other (greedy, so each equals the plain completion)."""
    from concurrent.futures import ThreadPoolExecutor

    import openai

    client = openai.OpenAI(base_url=f"{served}/v1", api_key="unused")
    want = client.completions.create(model="tiny", prompt="the sun", max_tokens=20, temperature=0)

    def stream(_: int) -> str:
        chunks = client.completions.create(
            model="tiny", prompt="the sun", max_tokens=20, temperature=0, stream=True
        )
        return "".join(c.choices[0].text for c in chunks if c.choices)

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(stream, range(6)))
    assert got == [want.choices[0].text] * 6


def test_prediction_log_records_redacted_prompts(tiny_model_dir: Path, tmp_path: Path) -> None:
    import re

    import openai

    from mloop.monitor import PredictionLog, read_predictions
    from mloop.serve import create_serve_app
    from mloop.server import ServerThread
    from mloop.store._artifacts import LocalArtifactStore

    store = LocalArtifactStore(tmp_path / "artifacts")
    log = PredictionLog(store)
    app = create_serve_app({"tiny": str(tiny_model_dir)}, poll_interval_s=None, prediction_log=log)
    app.state.redact = lambda text: re.sub(r"\S+@\S+", "<email>", text)
    with ServerThread(app) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
        client.completions.create(model="tiny", prompt="mail ann@example.com the cat", max_tokens=4)
        chunks = client.completions.create(
            model="tiny", prompt="bob@example.org", max_tokens=3, stream=True
        )
        streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    frame = read_predictions(store, "tiny")
    assert sorted(frame["input.prompt"]) == ["<email>", "mail <email> the cat"]
    assert streamed in set(frame["output.completion"])
