"""Datasets: register, load, list, the canonical digest, integrity, and run lineage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mloop
from mloop.data import Dataset, list_datasets, load, register
from mloop.data._dataset import PARQUET_OPTIONS, digest_of, register_dataset
from mloop.errors import DataError, DatasetNotFound, InvalidArgument, InvalidData, NoActiveRun
from mloop.store import SqlStore, Store
from mloop.tracking._inputs import log_input


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "id": np.arange(1000, dtype=np.int64),
            "age": rng.integers(18, 90, 1000),
            "score": rng.normal(size=1000),
            "country": rng.choice(["DE", "FR", "US"], 1000),
            "when": pd.date_range("2024-01-01", periods=1000, freq="h"),
        }
    )


@pytest.fixture
def sql(tmp_path: Path) -> Store:
    store = SqlStore(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "artifacts"))
    yield store  # type: ignore[misc]
    store.close()


def test_register_and_load_on_every_store(store: Store, frame: pd.DataFrame) -> None:
    ds = register(frame, "people", description="a sample", tags={"team": "growth"}, store=store)
    assert isinstance(ds, Dataset)
    assert (ds.name, ds.version, ds.uri) == ("people", 1, "datasets:/people/1")
    assert (ds.num_rows, ds.num_columns) == (1000, 5)
    assert ds.schema == {
        "id": "int64",
        "age": "int64",
        "score": "double",
        "country": "string",
        "when": "timestamp[us]",
    }
    assert ds.description == "a sample"
    assert ds.tags == {"team": "growth"}
    assert len(ds.digest) == 64
    back = load("datasets:/people/1", store=store)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert load(ds, as_arrow=True, store=store).num_rows == 1000
    assert ds.load(store=store).shape == (1000, 5)

    again = register(frame, "people", store=store)
    assert again.version == 1  # the same content: no new version
    smaller = register(frame.head(10), "people", store=store)
    assert smaller.version == 2
    assert load("datasets:/people@latest", store=store).shape == (10, 5)
    assert load(f"datasets:/people@{ds.digest[:8]}", store=store).shape == (1000, 5)
    assert [d.version for d in list_datasets("people", store=store)] == [2, 1]
    assert [(d.name, d.version) for d in list_datasets(store=store)] == [("people", 2)]


def test_register_reports_whether_it_created(sql: Store, frame: pd.DataFrame) -> None:
    first, created = register_dataset(frame, "d", store=sql)
    second, created_again = register_dataset(frame, "d", store=sql)
    assert (created, created_again) == (True, False)
    assert first == second


def test_digest_ignores_the_pandas_index_and_the_chunking(frame: pd.DataFrame) -> None:
    base = digest_of(frame)
    shuffled_index = frame.set_axis(np.arange(1000)[::-1] * 3)
    assert digest_of(shuffled_index) == base
    assert digest_of(frame.set_index("id", drop=False)) == base
    table = pa.Table.from_pandas(frame, preserve_index=False)
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(1, 333), table.slice(334)])
    assert chunked.column("id").num_chunks == 3
    assert digest_of(chunked) == base
    batches = pa.Table.from_batches(table.to_batches(max_chunksize=7))
    assert digest_of(batches) == base
    with_meta = table.replace_schema_metadata({"owner": "someone"})
    assert digest_of(with_meta) == base
    large = table.cast(
        pa.schema(
            [
                pa.field(f.name, pa.large_string() if f.name == "country" else f.type)
                for f in table.schema
            ]
        )
    )
    assert digest_of(large) == base
    assert digest_of(frame.assign(age=frame["age"] + 1)) != base
    assert digest_of(frame[["age", "id", "score", "country", "when"]]) != base  # order matters


def test_paths_register_like_the_table_they_hold(
    sql: Store, frame: pd.DataFrame, tmp_path: Path
) -> None:
    parquet = tmp_path / "people.parquet"
    frame.set_index("id", drop=False).to_parquet(parquet, compression="gzip")  # index written
    csv = tmp_path / "people.csv"
    frame.drop(columns="when").to_csv(csv, index=False)
    from_parquet = register(parquet, "p", store=sql)
    assert from_parquet.digest == digest_of(frame)
    assert from_parquet.num_columns == 5  # the pandas index column is dropped
    from_csv = register(str(csv), "c", store=sql)
    assert from_csv.num_rows == 1000
    assert from_csv.schema["country"] == "string"
    assert from_csv.digest == digest_of(frame.drop(columns="when"))
    unknown_suffix = tmp_path / "people.data"
    unknown_suffix.write_bytes(parquet.read_bytes())
    assert register(unknown_suffix, "p", store=sql).version == 1  # sniffed as Parquet


def test_the_stored_file_is_canonical_parquet(
    sql: Store, frame: pd.DataFrame, tmp_path: Path
) -> None:
    ds = register(frame, "canon", store=sql)
    path = tmp_path / "artifacts" / "datasets" / "canon" / f"{ds.digest}.parquet"
    assert ds.source == str(path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == ds.digest
    assert ds.size_bytes == len(data)
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression.lower() == PARQUET_OPTIONS["compression"]
    assert b"pandas" not in (pq.read_schema(path).metadata or {})  # no pandas metadata


def test_a_tampered_file_is_refused(store: Store, frame: pd.DataFrame, tmp_path: Path) -> None:
    ds = register(frame, "guarded", store=store)
    files = [p for p in tmp_path.rglob(f"{ds.digest}.parquet") if "datasets" in p.parts]
    assert len(files) == 1
    table = pq.read_table(files[0])
    changed = table.set_column(1, "age", pa.array(np.zeros(1000, dtype=np.int64)))
    pq.write_table(changed, files[0])
    with pytest.raises(DataError, match="not the registered digest") as err:
        load(ds, store=store)
    assert ds.digest in str(err.value)
    assert f"{ds.digest}.parquet" in str(err.value)  # names the file
    files[0].unlink()
    with pytest.raises(DataError, match="missing"):
        load("datasets:/guarded/1", store=store)


def test_a_dataset_from_another_store_is_refused(sql: Store, frame: pd.DataFrame) -> None:
    ds = register(frame, "x", store=sql)
    other = Dataset(**{**ds.__dict__, "digest": "0" * 64})
    with pytest.raises(DataError, match="another store"):
        load(other, store=sql)


def test_bad_input_is_refused_clearly(sql: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidData, match=r"column 'mixed'.*int.*str"):
        register(pd.DataFrame({"mixed": [1, "a", 2]}), "bad", store=sql)
    with pytest.raises(InvalidData, match="at least one column"):
        register(pd.DataFrame(), "bad", store=sql)
    with pytest.raises(InvalidData, match="unique"):
        register(pd.DataFrame([[1, 2]], columns=["a", "a"]), "bad", store=sql)
    with pytest.raises(InvalidArgument, match="no such file"):
        register(tmp_path / "missing.csv", "bad", store=sql)
    with pytest.raises(InvalidArgument, match="dataset name"):
        register(pd.DataFrame({"a": [1]}), "no spaces", store=sql)
    with pytest.raises(InvalidArgument, match="DataFrame"):
        register([1, 2, 3], "bad", store=sql)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(InvalidData, match="cannot read"):
        register(broken, "bad", store=sql)
    with pytest.raises(DatasetNotFound):
        load("datasets:/bad@latest", store=sql)
    with pytest.raises(InvalidArgument):
        load(42, store=sql)


def test_empty_tables_and_odd_types_register(sql: Store) -> None:
    empty = register(pd.DataFrame({"a": pd.Series([], dtype="int64")}), "empty", store=sql)
    assert empty.num_rows == 0
    assert load(empty, store=sql).shape == (0, 1)
    odd = pd.DataFrame(
        {
            "nulls": [None, None],
            "cat": pd.Categorical(["x", "y"]),
            "lists": [[1, 2], None],
            "inf": [np.inf, -np.inf],
            "flag": [True, None],
        }
    )
    ds = register(odd, "odd", store=sql)
    assert ds.schema["nulls"] == "null"
    back = load(ds, store=sql)
    assert back["inf"].tolist() == [np.inf, -np.inf]


def test_the_default_store_comes_from_the_settings(mloop_home: Path, frame: pd.DataFrame) -> None:
    ds = register(frame, "home")
    assert (mloop_home / "artifacts" / "datasets" / "home" / f"{ds.digest}.parquet").exists()
    assert load("datasets:/home/1").shape == (1000, 5)
    assert [d.name for d in list_datasets()] == ["home"]


def test_runs_record_the_datasets_they_read(mloop_home: Path, frame: pd.DataFrame) -> None:
    train = register(frame, "train")
    register(frame.head(5), "eval")
    with pytest.raises(NoActiveRun):
        log_input(train)
    with mloop.start_run() as run:
        log_input(train)
        log_input("datasets:/eval@latest", context="eval")
        log_input(train)  # again: recorded once
        with pytest.raises(InvalidArgument, match="Dataset"):
            log_input(object())
        with pytest.raises(DatasetNotFound):
            log_input("datasets:/nope/1")
    store = mloop.Client().store
    inputs = store.get_run_inputs(run.run_id)
    assert sorted((i.dataset_uri, i.context) for i in inputs) == [
        ("datasets:/eval/1", "eval"),
        ("datasets:/train/1", "train"),
    ]
    assert {i.digest for i in inputs if i.dataset_name == "train"} == {train.digest}
