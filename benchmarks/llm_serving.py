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
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def serve_process(model_dir: Path, home: Path) -> Iterator[str]:
    """``mloop serve`` as its own process (as deployed): the clients' threads here do not share
    its interpreter lock."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launcher = (
        os.environ.get("BENCH_LAUNCHER")
        or "import sys; from mloop.cli import main; sys.argv[0] = 'mloop'; main()"
    )
    cmd = [sys.executable, "-c", launcher, "serve", f"tiny={model_dir}", "--port", str(port)]
    cmd += ["--poll-interval", "0", "--log-sample-rate", "0"]
    proc = subprocess.Popen(cmd, env={**os.environ, "MLOOP_HOME": str(home)})
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mloop serve exited with {proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--streams", default="1,8,32", help="comma-separated stream counts")
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="run the server in this process (a thread, sharing the clients' interpreter lock) "
        "rather than as `mloop serve`",
    )
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
        with contextlib.ExitStack() as stack:
            if args.in_process:
                stack.enter_context(use(f"sqlite:///{tmp}/mloop.db", artifacts=f"{tmp}/artifacts"))
                app = create_serve_app({"tiny": str(path)}, poll_interval_s=None)
                url = stack.enter_context(ServerThread(app)).url
            else:
                url = stack.enter_context(serve_process(path, Path(tmp) / "home"))
            served(url, 1, 4)  # warm both sides
            plain(model, tokenizer, 1, 4)
            for streams in counts:
                p = plain(model, tokenizer, streams, args.tokens)
                q = sequential(model, tokenizer, streams, args.tokens)
                m = served(url, streams, args.tokens)
                rows.append((streams, m, p, q))
    load = Path("/proc/loadavg").read_text().split()[:3]
    where = "in-process thread" if args.in_process else "own process"
    print(
        f"LLM serving, tiny GPT-2 (2 layers), {args.tokens} tokens per stream, "
        f"mloop serve: {where}, load {load}"
    )
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
