"""Contract of the tuning journals (Optuna's storage), on SQLite, PostgreSQL and over HTTP."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mloop.errors import InvalidArgument
from mloop.store import HttpStore, SqlStore, Store


def test_appends_read_back_in_order_with_indexes(store: Store) -> None:
    assert store.read_tune_journal("study-a") == []
    assert store.append_tune_journal("study-a", [{"op": 0}, {"op": 1}]) == 0
    assert store.append_tune_journal("study-a", [{"op": 2, "nested": {"x": [1, 2.5, None]}}]) == 2
    assert store.append_tune_journal("study-a", [{"op": 3}]) == 3
    assert store.read_tune_journal("study-a") == [
        (0, {"op": 0}),
        (1, {"op": 1}),
        (2, {"op": 2, "nested": {"x": [1, 2.5, None]}}),
        (3, {"op": 3}),
    ]


def test_read_from_an_offset_and_with_a_limit(store: Store) -> None:
    store.append_tune_journal("k", [{"i": i} for i in range(25)])
    assert [i for i, _ in store.read_tune_journal("k", 20)] == [20, 21, 22, 23, 24]
    assert store.read_tune_journal("k", 7, limit=3) == [(7, {"i": 7}), (8, {"i": 8}), (9, {"i": 9})]
    assert store.read_tune_journal("k", 25) == []
    assert store.read_tune_journal("k", 1000) == []


def test_keys_are_isolated(store: Store) -> None:
    store.append_tune_journal("exp-1:study", [{"a": 1}])
    store.append_tune_journal("exp-2:study", [{"b": 1}, {"b": 2}])
    store.append_tune_journal("exp-1:study", [{"a": 2}])
    assert store.read_tune_journal("exp-1:study") == [(0, {"a": 1}), (1, {"a": 2})]
    assert store.read_tune_journal("exp-2:study") == [(0, {"b": 1}), (1, {"b": 2})]
    assert store.read_tune_journal("exp-3:study") == []


def test_non_finite_floats_and_unicode_survive(store: Store) -> None:
    store.append_tune_journal("k", [{"v": math.inf, "w": -math.inf, "n": math.nan, "s": "é✓"}])
    ((_, log),) = store.read_tune_journal("k")
    assert log["v"] == math.inf and log["w"] == -math.inf and math.isnan(log["n"])
    assert log["s"] == "é✓"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.append_tune_journal("", [{"a": 1}]), "journal key"),
        (lambda s: s.append_tune_journal("a/b", [{"a": 1}]), "journal key"),
        (lambda s: s.append_tune_journal("k" * 300, [{"a": 1}]), "journal key"),
        (lambda s: s.append_tune_journal("k", []), "at least one"),
        (lambda s: s.append_tune_journal("k", {"a": 1}), "list of JSON objects"),
        (lambda s: s.append_tune_journal("k", [{"a": 1}, [1, 2]]), "log #1 must be a JSON object"),
        (lambda s: s.append_tune_journal("k", [{"a": object()}]), "not JSON-serializable"),
        (lambda s: s.append_tune_journal("k", [{"a": "x" * 1_000_001}]), "at most 1000000"),
        (lambda s: s.append_tune_journal("k", [{}] * 10_001), "at most 10000 logs"),
        (lambda s: s.read_tune_journal("k", -1), "start"),
        (lambda s: s.read_tune_journal("k", 0, 0), "limit"),
        (lambda s: s.read_tune_journal("k", 0, 10_001), "limit"),
        (lambda s: s.read_tune_journal("bad key"), "journal key"),
    ],
)
def test_bad_input_is_rejected(store: Store, call: object, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        call(store)  # type: ignore[operator]
    assert store.read_tune_journal("k") == []


def test_the_server_rejects_a_log_that_is_not_json_with_422(http_store: HttpStore) -> None:
    import httpx

    url = "/api/v1/tune/journals/k/logs"
    with httpx.Client(base_url=http_store.uri, trust_env=False, timeout=30) as client:
        response = client.post(url, json={"logs": ["{not json"]})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == InvalidArgument.code
        assert "not valid JSON" in response.json()["error"]["message"]
        response = client.post(url, json={"logs": ["[1, 2]"]})
        assert response.status_code == 422, response.text
        response = client.post(url, json={"logs": ["[" * 100_000]})  # too deep for json
        assert response.status_code == 422, response.text
        response = client.post(url, json={"logs": ["{}"] * 10_001})
        assert response.status_code == 422, response.text
        response = client.get(url, params={"start": "-1"})
        assert response.status_code == 422, response.text
    assert http_store.read_tune_journal("k") == []


def test_the_routes_are_in_the_openapi_document(http_store: HttpStore) -> None:
    import httpx

    # Generous: building the whole document takes seconds on a loaded machine.
    paths = httpx.get(f"{http_store.uri}/openapi.json", timeout=120).json()["paths"]
    route = paths["/api/v1/tune/journals/{key}/logs"]
    assert set(route) == {"get", "post"}
    assert "422" in route["post"]["responses"]


_WRITER = textwrap.dedent(
    """
    import json, pathlib, sys, time
    from mloop.store import HttpStore, SqlStore

    kind, uri, artifacts, wid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    barrier = pathlib.Path(sys.argv[5])
    store = HttpStore(uri) if kind == "http" else SqlStore(uri, artifacts)
    store.read_tune_journal("shared")  # connected and warm
    # Start together, so that the appends of the four writers interleave.
    (barrier / str(wid)).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    seen, n = [], 0
    for b in range(40):
        size = 1 + (b + wid) % 3
        store.append_tune_journal("shared", [{"w": wid, "n": n + i, "size": size} for i in
                                             range(size)])
        n += size
        # Read on incrementally, as Optuna does: from the first index not read yet.
        seen.extend(store.read_tune_journal("shared", len(seen)))
        # A trial does work between appends. Back to back, one SQLite writer can take the lock
        # again before the others' busy handlers wake up, and run its 40 appends alone.
        time.sleep(0.003)
    print(json.dumps([[i, log] for i, log in seen]))
    """
)


@pytest.mark.slow
def test_concurrent_appends_lose_nothing_and_every_reader_sees_one_order(
    store: Store, tmp_path: Path
) -> None:
    if isinstance(store, HttpStore):
        kind, uri, artifacts = "http", store.uri, ""
    else:
        assert isinstance(store, SqlStore)
        kind, uri, artifacts = "sql", store.uri, store.artifacts_uri
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, kind, uri, artifacts, str(w), str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    views = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        views.append([(i, log) for i, log in json.loads(out)])

    final = store.read_tune_journal("shared")
    total = sum(sum(1 + (b + w) % 3 for b in range(40)) for w in range(4))
    assert [i for i, _ in final] == list(range(total))  # no gap, nothing lost
    # Each writer's logs appear once each, in the order it appended them, and the logs of one
    # append stay together.
    for w in range(4):
        mine = [(i, log) for i, log in final if log["w"] == w]
        assert [log["n"] for _, log in mine] == list(range(len(mine)))
    pos = 0
    while pos < total:
        size = final[pos][1]["size"]
        batch = final[pos : pos + size]
        assert {log["w"] for _, log in batch} == {batch[0][1]["w"]}
        assert [log["n"] for _, log in batch] == list(
            range(batch[0][1]["n"], batch[0][1]["n"] + size)
        )
        pos += size
    # The writers did run at once: the order switches between them many times.
    switches = sum(1 for a, b in itertools.pairwise(final) if a[1]["w"] != b[1]["w"])
    assert switches >= 10
    # Every reader's incremental view is a prefix of the one final order.
    for view in views:
        assert view == final[: len(view)]
        assert len(view) >= total // 4
