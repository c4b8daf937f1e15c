"""A transformers causal LM saved as an mloop model and served with OpenAI's API: the openai
client works unchanged, streams, gets usage; concurrent requests share decode steps; a
disconnect stops the generation; a full queue is answered 503; ``mloop serve --redact``."""

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
def served_app(tiny_model_dir: Path, mloop_home: Path) -> Iterator[tuple[str, Any]]:
    from mloop.serve import create_serve_app
    from mloop.server import ServerThread

    app = create_serve_app({"tiny": str(tiny_model_dir)}, poll_interval_s=None)
    with ServerThread(app) as server:
        yield server.url, app


@pytest.fixture
def served(served_app: tuple[str, Any]) -> str:
    return str(served_app[0])


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


def test_concurrent_streams_share_steps_and_each_get_its_completion(
    served_app: tuple[str, Any], tiny_model_dir: Path
) -> None:
    """Concurrent requests are decoded in one batch: each still gets exactly the completion it
    gets alone (greedy), streamed or not, whatever its prompt's length."""
    from concurrent.futures import ThreadPoolExecutor

    import openai

    url, app = served_app
    gen = mloop.models.load(tiny_model_dir)._predictor
    prompts = ["the sun", "a bird sang in the tree. the", "the", "the dog sat on"] * 2
    want = [gen.generate(p, max_tokens=60, temperature=0).text for p in prompts]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")

    def ask(i: int) -> str:
        if i % 2:
            done = client.completions.create(
                model="tiny", prompt=prompts[i], max_tokens=60, temperature=0
            )
            return done.choices[0].text
        chunks = client.completions.create(
            model="tiny", prompt=prompts[i], max_tokens=60, temperature=0, stream=True
        )
        return "".join(c.choices[0].text for c in chunks if c.choices)

    with ThreadPoolExecutor(len(prompts)) as pool:
        got = list(pool.map(ask, range(len(prompts))))
    assert got == want
    engine = app.state.serve.slot("tiny").current.model._predictor.shared_batcher()
    assert engine.stats()["peak_batch"] > 1


def test_a_full_queue_is_answered_503(tiny_model_dir: Path, mloop_home: Path) -> None:
    """One place in the batch and none in the queue: of concurrent requests, those that come
    while another is generating are refused with 503; the others get their whole completion."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from mloop.serve import create_serve_app
    from mloop.server import ServerThread

    app = create_serve_app(
        {"tiny": str(tiny_model_dir)},
        poll_interval_s=None,
        generation_batch_size=1,
        generation_max_waiting=0,
    )
    body = {"model": "tiny", "prompt": "the", "max_tokens": 300, "temperature": 1.0, "seed": 3}
    with ServerThread(app) as server:

        def ask(_: int) -> httpx.Response:
            return httpx.post(f"{server.url}/v1/completions", json=body, timeout=120)

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(ask, range(6)))
    codes = sorted(r.status_code for r in answers)
    assert 503 in codes and 200 in codes, codes
    for r in answers:
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "SERVER_BUSY"
            assert "waiting" in r.json()["error"]["message"]
        else:
            assert r.json()["usage"]["completion_tokens"] == 300


SCRUB = """
import re


def scrub(text):
    return re.sub(r"\\S+@\\S+", "<email>", text)


def count(text):
    return len(text)
"""


def test_serve_cli_redact_option(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``mloop serve --redact file.py:function``: checked at start, applied to the log."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx
    from typer.testing import CliRunner

    from mloop.cli import app
    from mloop.monitor import read_predictions
    from mloop.store._artifacts import LocalArtifactStore

    scrub = tmp_path / "scrub.py"
    scrub.write_text(SCRUB, encoding="utf-8")
    env = {**os.environ, "MLOOP_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200"}
    env["OMP_NUM_THREADS"] = "1"  # a loaded CI machine: no spinning OpenMP pool in the server
    for spec, message in [
        ("scrub", "--redact takes module:function"),
        ("no_such_module_here:scrub", "cannot import 'no_such_module_here'"),
        (f"{scrub}:missing", "has no function 'missing'"),
        (f"{scrub}:count", "must return text, it returned int"),
    ]:
        bad = CliRunner().invoke(
            app, ["serve", str(tiny_model_dir), "--port", "0", "--redact", spec], env=env
        )
        assert bad.exit_code == 1, bad.output
        assert message in bad.output

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mloop_exe = Path(sys.executable).with_name("mloop")
    args = [str(mloop_exe), "serve", f"tiny={tiny_model_dir}", "--port", str(port)]
    args += ["--poll-interval", "0", "--redact", f"{scrub}:scrub"]
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = {"model": "tiny", "prompt": "mail ann@example.com the cat", "max_tokens": 4}
        assert httpx.post(f"{url}/v1/completions", json=body, timeout=60).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    frame = read_predictions(LocalArtifactStore(tmp_path / "home" / "artifacts"), "tiny")
    assert list(frame["input.prompt"]) == ["mail <email> the cat"]
