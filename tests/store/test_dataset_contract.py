"""The datasets contract (versions, files, run inputs), on SQLite, PostgreSQL and HTTP."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mloop.errors import (
    ArtifactNotFound,
    DatasetNotFound,
    InvalidArgument,
    InvalidData,
    RunNotFound,
)
from mloop.store import DatasetColumn, DatasetVersion, SqlStore, Store
from mloop.store._datasets_base import parse_datasets_uri

COLUMNS = [("a", "int64"), ("s", "string")]


def _upload(store: Store, name: str, payload: bytes) -> str:
    digest = hashlib.sha256(payload).hexdigest()
    info = store.put_dataset_file(name, f"{digest}.parquet", io.BytesIO(payload))
    assert info.sha256 == digest
    assert info.size == len(payload)
    return digest


def _register(store: Store, name: str, payload: bytes, **kwargs: object) -> DatasetVersion:
    digest = _upload(store, name, payload)
    return store.create_dataset_version(
        name,
        digest=digest,
        num_rows=10,
        num_columns=2,
        columns=COLUMNS,
        size_bytes=len(payload),
        **kwargs,  # type: ignore[arg-type]
    )


def test_versions_count_up_and_same_content_is_found(store: Store) -> None:
    v1 = _register(store, "churn", b"one", description="first", tags={"team": "growth"})
    v2 = _register(store, "churn", b"two")
    again = _register(store, "churn", b"one", description="ignored")
    assert (v1.version, v2.version, again.version) == (1, 2, 1)
    assert again == v1  # the existing version, unchanged
    assert v1.uri == "datasets:/churn/1"
    assert v1.digest == hashlib.sha256(b"one").hexdigest()
    assert v1.columns == [
        DatasetColumn(name="a", type="int64"),
        DatasetColumn(name="s", type="string"),
    ]
    assert (v1.num_rows, v1.num_columns, v1.size_bytes, v1.format) == (10, 2, 3, "parquet")
    assert v1.description == "first"
    assert v1.tags == {"team": "growth"}
    assert v1.source.endswith(f"datasets/churn/{v1.digest}.parquet")
    assert v1.creation_time > 0
    assert [v.version for v in store.list_dataset_versions("churn")] == [2, 1]
    assert store.get_dataset_version("churn", 2) == v2
    assert store.get_latest_dataset_version("churn") == v2


def test_the_same_content_under_another_name_is_its_own_dataset(store: Store) -> None:
    a = _register(store, "a", b"same")
    b = _register(store, "b", b"same")
    assert (a.version, b.version) == (1, 1)
    assert [d.name for d in store.list_datasets()] == ["a", "b"]


def test_list_datasets_gives_the_latest_version_of_each(store: Store) -> None:
    assert store.list_datasets() == []
    _register(store, "zeta", b"1")
    _register(store, "alpha", b"1")
    _register(store, "alpha", b"2")
    listed = store.list_datasets()
    assert [(d.name, d.version) for d in listed] == [("alpha", 2), ("zeta", 1)]


def test_digest_prefixes_resolve_and_ambiguity_is_refused(store: Store) -> None:
    versions = [_register(store, "p", str(i).encode()) for i in range(40)]
    v = versions[7]
    assert store.get_dataset_version_by_digest("p", v.digest[:8]) == v
    assert store.get_dataset_version_by_digest("p", v.digest.upper()[:12]) == v
    assert store.get_dataset_version_by_uri(f"datasets:/p@{v.digest[:10]}") == v
    assert store.get_dataset_version_by_uri("datasets:/p/8") == v
    assert store.get_dataset_version_by_uri("datasets:/p@latest").version == 40
    assert store.get_dataset_version_by_uri("datasets:/p").version == 40
    assert store.find_dataset_versions("p", v.digest[:8]) == [v]
    with pytest.raises(DatasetNotFound, match="no version with a digest starting"):
        store.get_dataset_version_by_digest("p", "0" * 64)
    with pytest.raises(InvalidArgument, match="at least 8"):
        store.get_dataset_version_by_uri("datasets:/p@abc")


# Two contents whose sha256 digests share their first 8 hex digits (found by a birthday search
# over b"amb-0", b"amb-1", ...: 5ef5e489e4ad... and 5ef5e48953b8...).
COLLIDING = (b"amb-4669", b"amb-30802")


def test_an_ambiguous_prefix_names_the_candidates(store: Store) -> None:
    first, second = (_register(store, "amb", payload) for payload in COLLIDING)
    prefix = first.digest[:8]
    assert second.digest[:8] == prefix and first.digest[8] != second.digest[8]
    assert store.find_dataset_versions("amb", prefix) == [first, second]
    # Over HTTP this is the server's own lookup answering, mapped back to the same error.
    with pytest.raises(
        InvalidArgument, match=f"digest prefix '{prefix}' of dataset 'amb' is ambiguous"
    ) as err:
        store.get_dataset_version_by_digest("amb", prefix)
    assert "version 1" in str(err.value)
    assert "version 2" in str(err.value)
    with pytest.raises(InvalidArgument, match="ambiguous"):
        store.get_dataset_version_by_uri(f"datasets:/amb@{prefix}")
    # One more digit tells them apart.
    assert store.get_dataset_version_by_digest("amb", second.digest[:9]) == second


def test_unknown_datasets_and_versions(store: Store) -> None:
    with pytest.raises(DatasetNotFound, match="no dataset named 'ghost'"):
        store.get_latest_dataset_version("ghost")
    with pytest.raises(DatasetNotFound):
        store.list_dataset_versions("ghost")
    with pytest.raises(DatasetNotFound):
        store.get_dataset_version_by_digest("ghost", "a" * 8)
    _register(store, "real", b"x")
    with pytest.raises(DatasetNotFound, match="no version 2"):
        store.get_dataset_version("real", 2)


def test_files_round_trip_and_bad_bytes_are_refused(store: Store) -> None:
    digest = _upload(store, "f", b"payload")
    with store.open_dataset_file("f", f"{digest}.parquet") as fh:
        assert fh.read() == b"payload"
    profile = store.put_dataset_file("f", f"{digest}.profile.bin", io.BytesIO(b"profile"))
    assert profile.size == 7
    with store.open_dataset_file("f", f"{digest}.profile.bin") as fh:
        assert fh.read() == b"profile"
    wrong = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(InvalidData, match="not the digest"):
        store.put_dataset_file("f", f"{wrong}.parquet", io.BytesIO(b"payload"))
    with pytest.raises(ArtifactNotFound):
        store.open_dataset_file("f", f"{wrong}.parquet")  # nothing was stored
    for bad in ("../x.parquet", "model.pkl", f"{digest}.csv", f"{digest[:10]}.parquet"):
        with pytest.raises(InvalidArgument):
            store.put_dataset_file("f", bad, io.BytesIO(b"x"))


def test_a_version_needs_its_file(store: Store) -> None:
    digest = hashlib.sha256(b"never uploaded").hexdigest()
    with pytest.raises(InvalidArgument, match="put_dataset_file"):
        store.create_dataset_version(
            "nofile", digest=digest, num_rows=1, num_columns=0, columns=[], size_bytes=1
        )
    with pytest.raises(DatasetNotFound):
        store.list_dataset_versions("nofile")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_dataset_version("bad name", 1),
        lambda s: s.get_dataset_version("../etc", 1),
        lambda s: s.get_dataset_version("ok", 0),
        lambda s: s.get_dataset_version("ok", "one"),
        lambda s: s.create_dataset_version(
            "ok", digest="xyz", num_rows=1, num_columns=0, columns=[], size_bytes=1
        ),
        lambda s: s.create_dataset_version(
            "ok", digest="a" * 64, num_rows=-1, num_columns=0, columns=[], size_bytes=1
        ),
        lambda s: s.create_dataset_version(
            "ok", digest="a" * 64, num_rows=1, num_columns=3, columns=[("a", "int64")], size_bytes=1
        ),
        lambda s: s.log_inputs("run", [("ok", 1, "not a context!")]),
        lambda s: s.log_inputs("run", [("ok", 1)]),
        lambda s: s.get_dataset_version_by_uri("models:/x/1"),
        lambda s: s.get_dataset_version_by_uri("datasets:/x@not-hex"),
    ],
)
def test_invalid_dataset_arguments(store: Store, call: object) -> None:
    with pytest.raises(InvalidArgument):
        call(store)  # type: ignore[operator]


def test_runs_record_their_inputs(store: Store) -> None:
    exp = store.create_experiment("e")
    run = store.create_run(exp.experiment_id)
    train = _register(store, "train", b"t")
    evals = _register(store, "eval", b"e")
    assert store.get_run_inputs(run.run_id) == []
    store.log_inputs(run.run_id, [("train", 1, "train"), ("eval", 1, "eval")])
    store.log_inputs(run.run_id, [("train", 1, "train")])  # again: no change
    store.log_inputs(run.run_id, [("eval", 1, "train")])  # another role is another input
    inputs = store.get_run_inputs(run.run_id)
    got = sorted((i.dataset_name, i.dataset_version, i.context, i.digest) for i in inputs)
    assert got == [
        ("eval", 1, "eval", evals.digest),
        ("eval", 1, "train", evals.digest),
        ("train", 1, "train", train.digest),
    ]
    assert {i.run_id for i in inputs} == {run.run_id}
    assert {i.dataset_uri for i in inputs} == {"datasets:/train/1", "datasets:/eval/1"}
    with pytest.raises(DatasetNotFound, match="no version 9"):
        store.log_inputs(run.run_id, [("train", 1, "x"), ("train", 9, "x")])
    assert len(store.get_run_inputs(run.run_id)) == 3  # nothing of the failed call
    with pytest.raises(RunNotFound):
        store.log_inputs("f" * 32, [("train", 1, "train")])
    with pytest.raises(RunNotFound):
        store.get_run_inputs("f" * 32)


def test_parse_datasets_uri() -> None:
    assert parse_datasets_uri("datasets:/a.b-c/12").version == 12
    assert parse_datasets_uri("datasets:/a@LATEST").version is None
    assert parse_datasets_uri("datasets:/a@ABCDEF12").digest_prefix == "abcdef12"
    for bad in ("datasets:/", "datasets:/a/0", "datasets:/a@", "dataset:/a/1", "datasets:/a/b/1"):
        with pytest.raises(InvalidArgument):
            parse_datasets_uri(bad)


_REGISTER = """
import hashlib, io, sys
from mloop.store import SqlStore
store = SqlStore(sys.argv[1], sys.argv[2])
payload = sys.argv[3].encode()
digest = hashlib.sha256(payload).hexdigest()
store.put_dataset_file("race", digest + ".parquet", io.BytesIO(payload))
v = store.create_dataset_version(
    "race", digest=digest, num_rows=1, num_columns=0, columns=[], size_bytes=len(payload)
)
print(v.version)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_eight_processes_register_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'race.db'}"
    else:
        uri = request.getfixturevalue("pg_database")
        request.getfixturevalue("pg_store")  # a clean slate in the shared test database
    art = str(tmp_path / "art")
    store = SqlStore(uri, art)  # migrated before the race
    # eight different contents, and two more processes with content another one has
    payloads = [f"content {i}" for i in range(8)] + ["content 0", "content 5"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REGISTER, uri, art, payload],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ,
        )
        for payload in payloads
    ]
    got: dict[str, set[int]] = {}
    for payload, p in zip(payloads, procs, strict=True):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        got.setdefault(payload, set()).add(int(out))
    assert all(len(v) == 1 for v in got.values())  # same content, same version
    assert sorted(v.pop() for v in got.values()) == list(range(1, 9))
    assert [v.version for v in store.list_dataset_versions("race")] == list(range(8, 0, -1))
    store.close()
