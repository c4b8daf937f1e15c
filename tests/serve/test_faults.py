"""Faults a server meets in production: a model that raises in a batch, oversized and bad bodies,
a model that cannot warm, 10,000 connections at once, SIGTERM with a request in flight.
(``test_app.py`` covers a lone raising request, a 20 MB body, malformed JSON, a string and a
null in a float column and a missing column; these do not repeat them.)"""

from __future__ import annotations

import asyncio
import math
import re
import resource
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from mloop_serve_testlib import StartServe, mloop_serve, predict_x, save_scaler, wait_for

CONNECTIONS = 10_000


@pytest.mark.slow
def test_raising_row_fails_only_its_own_request_in_a_batch(
    start_serve: StartServe, tmp_path: Path
) -> None:
    # 20 ms per framework call: concurrent requests queue up and are merged into batches.
    model = save_scaler(tmp_path / "slow", 2.0, delay=0.02)
    served = start_serve([model], max_wait_ms=20.0)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            xs = [666.0 if i == 7 else float(i) for i in range(40)]
            return await asyncio.gather(
                *(client.post("/v1/models/slow:predict", json={"records": [{"x": x}]}) for x in xs)
            )

    answers = asyncio.run(burst())
    statuses = [r.status_code for r in answers]
    assert statuses == [500 if i == 7 else 200 for i in range(40)], statuses
    assert len(answers[7].json()["error"]["details"]["error_id"]) == 32
    assert [r.json()["predictions"] for i, r in enumerate(answers) if i != 7] == [
        [2.0 * i] for i in range(40) if i != 7
    ]
    metrics = served.client.get("/metrics").text
    count = float(
        re.search(r'mloop_serve_batch_size_count\{model="slow",version="1"\} (\S+)', metrics).group(
            1
        )
    )  # type: ignore[union-attr]
    assert count < 40  # batches were merged: the bad row shared a framework call with others
    assert predict_x(served.client, "slow", 3.0).json()["predictions"] == [6.0]


def test_ten_megabyte_body_is_refused_while_streaming(
    start_serve: StartServe, models_dir: Path
) -> None:
    served = start_serve([str(models_dir / "reg")], max_body_bytes=8 * 1024 * 1024)
    sent = 0

    def body() -> Iterator[bytes]:  # chunked: no content-length to refuse it early
        nonlocal sent
        chunk = b'{"a": 1.0, "b": 1},' * 5000
        yield b'{"records": ['
        while sent < 10 * 1024 * 1024:
            sent += len(chunk)
            yield chunk
        yield b'{"a": 1.0, "b": 1}]}'

    r = served.client.post("/v1/models/reg:predict", content=body())
    assert r.status_code == 413, r.text
    assert r.json()["error"]["details"] == {"limit": 8 * 1024 * 1024}
    r = served.client.post("/v1/models/reg:predict", json={"records": [{"a": 1.0, "b": 2}]})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("/v1/models/reg:predict", b'{"records": [{"a": NaN, "b": 1}]}', "INVALID_PAYLOAD", None),
        (
            "/v1/models/reg:predict",
            b'{"records": [{"a": 1.0, "b": null}]}',
            "SIGNATURE_MISMATCH",
            "b",
        ),
        (
            "/v1/models/reg:predict",
            b'{"records": [{"a": 1.0, "b": 1.5}]}',
            "SIGNATURE_MISMATCH",
            "b",
        ),
        (
            "/v1/models/reg:predict",
            b'{"records": {"a": 1.0, "b": 1}}',
            "INVALID_PAYLOAD",
            "records",
        ),
        (
            "/v1/models/reg:predict",
            b'{"columns": ["a", "b"], "data": [[1.0]]}',
            "INVALID_PAYLOAD",
            "data",
        ),
        (
            "/v2/models/reg/infer",
            b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]}]}',
            "SIGNATURE_MISMATCH",
            "b",
        ),
    ],
    ids=["nan-literal", "null-int", "float-in-int", "records-object", "ragged", "v2-missing"],
)
def test_bad_bodies_name_the_field(
    served: Any, path: str, body: bytes, code: str, field: str | None
) -> None:
    r = served.client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code
    if code == "SIGNATURE_MISMATCH":
        assert [d["column"] for d in error["details"]] == [field]
        assert f"'{field}'" in error["message"]
    elif field is None:
        assert "position" in error["message"] and error["details"]["position"] > 0
    else:
        assert error["details"] == {"field": field}


@pytest.mark.slow
def test_readyz_names_a_model_that_cannot_warm(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    model = save_scaler(tmp_path / "cold", 2.0, fail_while=str(broken))
    broken.touch()  # its input example now raises
    from mloop.serve import create_serve_app
    from mloop.server import ServerThread

    app = create_serve_app([model])
    with ServerThread(app) as thread, httpx.Client(base_url=thread.url) as client:
        wait_for(lambda: app.state.serve.slots["cold"].current.warm_error is not None, 60, "warm")
        r = client.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "not ready"
        assert list(body["models"]) == ["cold/1"]  # the model, by name and version, and why
        assert f"RuntimeError: broken while {broken} exists" in body["models"]["cold/1"]
        assert client.get("/v2/health/ready").status_code == 503
        assert client.get("/v2/models/cold/ready").json() == {"name": "cold", "ready": False}
        assert client.get("/healthz").status_code == 200  # alive, only not ready
        broken.unlink()  # what it needed is there now: a retry warms it, no restart
        wait_for(lambda: client.get("/readyz").status_code == 200, 60, "ready after the fix")
        assert app.state.serve.slots["cold"].current.warm_error is None


@pytest.mark.slow
def test_sigterm_drains_the_request_in_flight(tmp_path: Path) -> None:
    release = tmp_path / "release"
    model = save_scaler(tmp_path / "held", 2.0, hold=str(release))
    with mloop_serve(model, env={"MLOOP_HOME": str(tmp_path / "home")}) as (proc, url):
        answer: list[httpx.Response] = []
        sender = threading.Thread(
            target=lambda: answer.append(
                httpx.post(
                    f"{url}/v1/models/held:predict", json={"records": [{"x": 40.0}]}, timeout=60
                )
            )
        )
        sender.start()
        wait_for(lambda: Path(f"{release}.entered").exists(), 60, "the request inside predict")
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: _refuses(url), 60, "the server to stop accepting connections")
        assert not answer  # still held: the server is draining it
        release.touch()
        sender.join(60)
        assert answer and answer[0].status_code == 200, answer
        assert answer[0].json()["predictions"] == [80.0]
        assert proc.wait(60) == 0
        _, err = proc.communicate()
        assert "Traceback" not in err


def _refuses(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=1)
    except httpx.TransportError:
        return True
    return False


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(
            f"{CONNECTIONS} connections need {needed} open files per process; the hard limit "
            f"(ulimit -Hn) is {hard}: raise it to run this test"
        )
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def _storm(port: int, n: int) -> list[tuple[int, float, float]]:
    """Open ``n`` connections, then send one predict on each, then read every answer."""
    gate = asyncio.Semaphore(1000)  # connects in flight (the listen backlog is 2048)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with gate:
            return await asyncio.open_connection("127.0.0.1", port)

    streams = await asyncio.gather(*(connect() for _ in range(n)))
    # All n are open at once; now a request on each, written back to back.
    for i, (_, writer) in enumerate(streams):
        body = orjson.dumps({"records": [{"a": float(i), "b": i % 3}]})
        writer.write(
            b"POST /v1/models/reg:predict HTTP/1.1\r\nhost: t\r\ncontent-type: application/json"
            b"\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )

    async def answer(i: int, reader: asyncio.StreamReader) -> tuple[int, float, float]:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        payload = orjson.loads(await reader.readexactly(length))
        got = payload["predictions"][0] if status == 200 else math.nan
        return status, got, float(i) + 10 * (i % 3)

    try:
        return await asyncio.gather(*(answer(i, r) for i, (r, _) in enumerate(streams)))
    finally:
        for _, writer in streams:
            writer.close()


@pytest.mark.slow  # ~6-20 s: 10,000 connections on two cores
def test_ten_thousand_connections(tmp_path: Path, models_dir: Path) -> None:
    _raise_nofile(CONNECTIONS + 1000)  # the server process inherits the raised limit
    home = {"MLOOP_HOME": str(tmp_path / "home")}
    # The connection limit (default 2,048, excess answered 503) is raised past the storm: this
    # test is about holding 10,000 open connections, the limit has its own tests.
    args = ("--max-batch-size", "256", "--limit-concurrency", "20000", "--header-timeout", "300")
    with mloop_serve(str(models_dir / "reg"), *args, env=home) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        results = asyncio.run(_storm(port, CONNECTIONS))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    bad = [(i, r) for i, r in enumerate(results) if r[0] != 200]
    assert bad == [], bad[:5]
    wrong = [(i, r) for i, r in enumerate(results) if not math.isclose(r[1], r[2], abs_tol=1e-6)]
    assert wrong == [], wrong[:5]
