"""Concurrent requests share framework calls, and each gets the answer for its own rows."""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path

import httpx
import pytest
from mloop_serve_testlib import StartServe

from mloop.serve._payload import Inputs, merge_inputs


def _batch_histogram(metrics: str, model: str) -> tuple[float, float]:
    count = re.search(
        rf'mloop_serve_batch_size_count{{model="{model}",version="1"}} (\S+)', metrics
    )
    total = re.search(rf'mloop_serve_batch_size_sum{{model="{model}",version="1"}} (\S+)', metrics)
    assert count and total, metrics
    return float(count.group(1)), float(total.group(1))


async def _burst(url: str, model: str, n: int) -> list[tuple[float, httpx.Response]]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(i: int) -> tuple[float, httpx.Response]:
            a = float(i)
            body = {"records": [{"a": a, "b": i % 3}]}
            return a + 10 * (i % 3), await client.post(f"/v1/models/{model}:predict", json=body)

        return await asyncio.gather(*(one(i) for i in range(n)))


@pytest.mark.parametrize("rounds", [5])
def test_concurrent_requests_are_merged(
    start_serve: StartServe, models_dir: Path, rounds: int
) -> None:
    serve = start_serve([str(models_dir / "reg")], max_wait_ms=5.0)
    before_count, before_rows = _batch_histogram(serve.client.get("/metrics").text, "reg")
    requests = 0
    for _ in range(rounds):
        results = asyncio.run(_burst(serve.url, "reg", 32))
        requests += len(results)
        for want, r in results:
            assert r.status_code == 200, r.text
            (got,) = r.json()["predictions"]
            assert math.isclose(got, want, abs_tol=1e-6)
    count, rows = _batch_histogram(serve.client.get("/metrics").text, "reg")
    assert rows - before_rows == requests  # every row went through exactly one batch
    assert count - before_count < requests  # ... and some batches held several requests


def test_bad_request_in_a_batch_fails_alone(start_serve: StartServe, models_dir: Path) -> None:
    serve = start_serve([str(models_dir / "reg")], max_wait_ms=5.0)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=serve.url, timeout=30) as client:
            bodies: list[dict[str, object]] = [
                {"records": [{"a": float(i), "b": 1}]} for i in range(16)
            ]
            bodies[7] = {"records": [{"a": "seven", "b": 1}]}
            return await asyncio.gather(
                *(client.post("/v1/models/reg:predict", json=b) for b in bodies)
            )

    responses = asyncio.run(burst())
    for i, r in enumerate(responses):
        if i == 7:
            assert r.status_code == 422
            assert r.json()["error"]["details"][0]["column"] == "a"
        else:
            assert r.status_code == 200, r.text
            assert math.isclose(r.json()["predictions"][0], i + 10, abs_tol=1e-6)


def test_a_raising_model_fails_only_its_batch(start_serve: StartServe, models_dir: Path) -> None:
    serve = start_serve([str(models_dir / "doubler")])

    async def burst(values: list[float]) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=serve.url, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post("/v1/models/doubler:predict", json={"records": [{"x": v}]})
                    for v in values
                )
            )

    responses = asyncio.run(burst([1.0, 666.0, 3.0]))
    # Batched together or not, only the request with the bad row fails.
    assert [r.status_code for r in responses] == [200, 500, 200]
    assert [responses[0].json()["predictions"], responses[2].json()["predictions"]] == [
        [2.0],
        [6.0],
    ]
    assert responses[1].json()["error"]["code"] == "INTERNAL_ERROR"
    after = asyncio.run(burst([float(i) for i in range(8)]))
    assert [r.json()["predictions"][0] for r in after] == [2.0 * i for i in range(8)]


def test_merge_inputs() -> None:
    a = Inputs(1, {"a": [1.0], "b": [1]})
    b = Inputs(2, {"a": [2.0, 3.0], "b": [2, 3]})
    frame = merge_inputs([a, b])
    assert frame["a"].tolist() == [1.0, 2.0, 3.0]
    assert merge_inputs([a, Inputs(1, {"a": [1.0]})]) is None
