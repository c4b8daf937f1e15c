"""Continuous batching of generations (``TextGenerator.batched``) on a real tiny GPT-2: greedy
sequences decoded together, joining and leaving the batch at any step, give exactly the tokens
each gives alone; seeds, stop sequences, max_tokens and cancellation hold per sequence; a full
queue is refused."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from tiny_lm import make_tiny_lm

from mloop.errors import InvalidArgument, ServerBusy
from mloop.models._transformers import TextGenerator

pytestmark = pytest.mark.slow  # a language model is trained for the module

PROMPTS = [
    "the cat",
    "a bird sang in",
    "the",
    "the sun rose over the hill. the dog",
    "",
    "the mat",
]


@pytest.fixture(scope="module")
def lm() -> TextGenerator:
    model, tokenizer = make_tiny_lm()
    return TextGenerator(model, tokenizer)


def test_greedy_batched_equals_alone(lm: TextGenerator) -> None:
    # Prompts of different lengths (left padding), more requests than places (a queue), and
    # max_tokens that differ (sequences leave the batch at different steps, others join).
    requests = [(p, 6 + 5 * (i % 4)) for i, p in enumerate(PROMPTS * 2)]
    want = [lm.generate(p, max_tokens=n, temperature=0) for p, n in requests]
    engine = lm.batched(max_batch_size=4)
    try:
        handles = [engine.submit(p, max_tokens=n, temperature=0) for p, n in requests]
        got = [h.result() for h in handles]
        assert got == want
        assert engine.stats()["peak_batch"] > 1  # they did share steps

        # Requests arriving while others are being decoded join the running batch.
        late: list[tuple[int, Any]] = []
        first = engine.submit("the dog", max_tokens=40, temperature=0)
        pieces = iter(first)
        head = next(pieces)  # the first is being decoded now

        def join(i: int) -> None:
            late.append((i, engine.submit(PROMPTS[i], max_tokens=25, temperature=0)))

        threads = [threading.Thread(target=join, args=(i,)) for i in range(len(PROMPTS))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        text = head + "".join(pieces)
        for i, handle in late:
            assert handle.result() == lm.generate(PROMPTS[i], max_tokens=25, temperature=0)
        alone = lm.generate("the dog", max_tokens=40, temperature=0)
        assert text == alone.text
        assert first.info["completion_tokens"] == alone.completion_tokens
    finally:
        engine.close()


def test_seed_stop_and_max_tokens_per_sequence(lm: TextGenerator) -> None:
    engine = lm.batched(max_batch_size=8)
    try:
        sampled = [
            engine.submit("the", max_tokens=12, temperature=1.0, top_p=0.9, seed=s)
            for s in (1, 2, 1)
        ]
        greedy = lm.generate("the cat", max_tokens=20, temperature=0)
        stop_at = greedy.text.split()[2]  # a word the greedy completion reaches
        stopped = engine.submit("the cat", max_tokens=20, temperature=0, stop=[stop_at])
        short = engine.submit("the cat", max_tokens=3, temperature=0)
        texts = [h.result() for h in sampled]
        assert texts[0] == texts[2]  # the same seed, the same tokens, whatever the batch
        assert texts[0] == lm.generate("the", max_tokens=12, temperature=1.0, top_p=0.9, seed=1)
        done = stopped.result()
        assert done.finish_reason == "stop" and stop_at not in done.text
        assert greedy.text.startswith(done.text)
        cut = short.result()
        assert cut.completion_tokens == 3 and cut.finish_reason == "length"
        assert cut == lm.generate("the cat", max_tokens=3, temperature=0)
    finally:
        engine.close()


def test_cancel_leaves_the_batch_and_a_full_queue_is_refused(lm: TextGenerator) -> None:
    engine = lm.batched(max_batch_size=1, max_waiting=1)
    try:
        running = engine.submit("the", max_tokens=400, temperature=1.0, seed=7)
        waiting = engine.submit("the cat", max_tokens=5, temperature=0)
        with pytest.raises(ServerBusy, match="waiting"):
            engine.submit("the dog", max_tokens=5, temperature=0)
        pieces = iter(running)
        next(pieces)
        running.cancel()
        list(pieces)  # ends without the 400 tokens
        assert running.info["completion_tokens"] < 400
        assert waiting.result() == lm.generate("the cat", max_tokens=5, temperature=0)
        assert engine.stats()["active"] == 0
        with pytest.raises(InvalidArgument, match="max_tokens"):
            engine.submit("the", max_tokens=0)
        with pytest.raises(InvalidArgument, match="top_p"):
            engine.submit("the", top_p=0)
    finally:
        engine.close()
