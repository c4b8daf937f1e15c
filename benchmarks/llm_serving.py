"""LLM serving benchmark: ``mloop serve``'s OpenAI-compatible streaming against a plain
``transformers`` ``generate`` loop, on a tiny GPT-2 made here (2 layers, CPU).

Figures, for 1, 8 and 32 concurrent streams: time to first token (median, ms) and tokens per
second (all streams together). The plain loop runs ``model.generate`` with a
``TextIteratorStreamer`` in one thread per stream, in this process, with no HTTP; the
sequential row runs the same ``generate`` calls one after another (what one process serving one
request at a time gets). ``mloop serve`` decodes concurrent streams together (continuous
batching, ``--generation-batch-size``).

Usage::

    .venv/bin/python benchmarks/llm_serving.py [--tokens 64] [--streams 1,8,32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "genai"))

from tiny_lm import make_tiny_lm


def plain(model: Any, tokenizer: Any, streams: int, tokens: int) -> tuple[float, float]:
    from transformers import TextIteratorStreamer

    ttft: list[float] = []
    counts: list[int] = []

    def one() -> None:
        ids = tokenizer("the cat", return_tensors="pt")
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
        t0 = time.perf_counter()
        th = threading.Thread(
            target=model.generate,
            kwargs={
                **ids,
                "streamer": streamer,
                "max_new_tokens": tokens,
                "min_new_tokens": tokens,
                "do_sample": False,
                "pad_token_id": tokenizer.eos_token_id,
            },
        )
        th.start()
        first = None
        for _ in streamer:
            if first is None:
                first = time.perf_counter() - t0
        th.join()
        ttft.append(first or 0.0)
        counts.append(tokens)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=one) for _ in range(streams)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statistics.median(ttft) * 1000, sum(counts) / (time.perf_counter() - t0)


def sequential(model: Any, tokenizer: Any, streams: int, tokens: int) -> tuple[float, float]:
    """The streams' ``generate`` calls one after another, all arrived at the start: TTFT counts
    the wait for the ones before (a server generating one request at a time)."""
    from transformers import TextIteratorStreamer

    ids = tokenizer("the cat", return_tensors="pt")
    ttft: list[float] = []
    t0 = time.perf_counter()
    for _ in range(streams):
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
        th = threading.Thread(
            target=model.generate,
            kwargs={
                **ids,
                "streamer": streamer,
                "max_new_tokens": tokens,
                "min_new_tokens": tokens,
                "do_sample": False,
                "pad_token_id": tokenizer.eos_token_id,
            },
        )
        th.start()
        first = None
        for _ in streamer:
            if first is None:
                first = time.perf_counter() - t0
        th.join()
        ttft.append(first or 0.0)
    return statistics.median(ttft) * 1000, streams * tokens / (time.perf_counter() - t0)


def served(url: str, streams: int, tokens: int) -> tuple[float, float]:
    import httpx
    import orjson

    ttft: list[float] = []
    counts: list[int] = []

    def one() -> None:
        body = {
            "model": "tiny",
            "prompt": "the cat",
            "max_tokens": tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        t0 = time.perf_counter()
        first = None
        used = 0
        with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=300) as r:
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = orjson.loads(line[6:])
                if first is None and chunk["choices"] and chunk["choices"][0]["text"]:
                    first = time.perf_counter() - t0
                if chunk.get("usage"):
                    used = chunk["usage"]["completion_tokens"]
        ttft.append(first or 0.0)
        counts.append(used)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=one) for _ in range(streams)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statistics.median(ttft) * 1000, sum(counts) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--streams", default="1,8,32", help="comma-separated stream counts")
    args = ap.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    import mloop.models
    from mloop.serve import create_serve_app
    from mloop.server import ServerThread
    from mloop.store import use

    model, tokenizer = make_tiny_lm(steps=5)
    with tempfile.TemporaryDirectory(prefix="mloop-bench-llm-") as tmp:
        path = Path(tmp) / "model"
        mloop.models.save((model, tokenizer), path, flavor="transformers")
        rows = []
        with (
            use(f"sqlite:///{tmp}/mloop.db", artifacts=f"{tmp}/artifacts"),
            ServerThread(create_serve_app({"tiny": str(path)}, poll_interval_s=None)) as server,
        ):
            served(server.url, 1, 4)  # warm both sides
            plain(model, tokenizer, 1, 4)
            for streams in counts:
                p = plain(model, tokenizer, streams, args.tokens)
                q = sequential(model, tokenizer, streams, args.tokens)
                m = served(server.url, streams, args.tokens)
                rows.append((streams, m, p, q))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"LLM serving, tiny GPT-2 (2 layers), {args.tokens} tokens per stream, load {load}")
    head = f"{'streams':>7} {'figure':<18}{'mloop serve':>12}{'plain threads':>14}"
    print(f"{head}{'plain sequential':>17}{'serve/threads':>14}")
    for streams, m, p, q in rows:
        for i, figure in ((0, "TTFT ms (median)"), (1, "tokens/s (total)")):
            print(
                f"{streams:>7} {figure:<18}{m[i]:>12.1f}{p[i]:>14.1f}{q[i]:>17.1f}"
                f"{m[i] / p[i]:>14.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
