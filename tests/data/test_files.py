"""Tables from files straight into Arrow, and files profiled chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.data import merge_profiles, profile
from mloop.data._drift import drift
from mloop.data._files import iter_batches, profile_file, read_table
from mloop.errors import InvalidData


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.poisson(5, n),
            "c": pd.array(rng.choice(["a", "b", "c"], n), dtype="str"),
            "flag": rng.random(n) < 0.3,
        }
    )


def test_read_table_gives_arrow_with_strings_as_dictionaries(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _table(500, 0).to_parquet(path)
    t = read_table(path)
    assert isinstance(t, pa.Table)
    assert t.num_rows == 500
    assert pa.types.is_dictionary(t.schema.field("c").type)
    # The same profile as from the DataFrame: counting by dictionary index changes nothing.
    a, b = profile(t), profile(pd.read_parquet(path))
    for name in ("x", "k", "c", "flag"):
        assert a[name].n == b[name].n
        assert a[name].nulls == b[name].nulls
    assert dict(a["c"].top(3)) == dict(b["c"].top(3))


def test_read_table_csv_and_tsv(tmp_path: Path) -> None:
    csv, tsv = tmp_path / "t.csv", tmp_path / "t.tsv"
    df = _table(200, 1)
    df.to_csv(csv, index=False)
    df.to_csv(tsv, index=False, sep="\t")
    for path in (csv, tsv):
        t = read_table(path)
        assert t.column_names == ["x", "k", "c", "flag"]
        assert t.column("x").null_count == int(df["x"].isna().sum())


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_profile_file_in_chunks_equals_the_whole(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    df = _table(5000, 2)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, row_group_size=700)
    streamed = profile_file(path, chunk_rows=800)
    whole = profile(df)
    assert streamed.rows == whole.rows == 5000
    for name in ("x", "k", "c", "flag"):
        s, w = streamed[name], whole[name]
        assert (s.n, s.nulls) == (w.n, w.nulls)
        if s.is_numeric:
            assert s.mean == pytest.approx(w.mean, rel=1e-12)
            assert s.min == w.min and s.max == w.max
    assert dict(streamed["c"].top(3)) == dict(whole["c"].top(3))


def test_iter_batches_yields_bounded_chunks(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _table(2500, 3).to_parquet(path, row_group_size=1000)
    sizes = [t.num_rows for t in iter_batches(path, chunk_rows=600)]
    assert sum(sizes) == 2500
    assert max(sizes) <= 600


def test_drift_between_streamed_profiles_matches_tables(tmp_path: Path) -> None:
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    a, b = _table(4000, 4), _table(4000, 5)
    b["x"] = b["x"] + 0.8
    a.to_parquet(ref)
    b.to_parquet(cur)
    from_tables = drift(read_table(ref), read_table(cur))
    from_profiles = drift(profile_file(ref, chunk_rows=1000), profile_file(cur, chunk_rows=1000))
    assert from_profiles.drifted_columns == from_tables.drifted_columns == ["x"]
    assert merge_profiles(profile_file(ref, chunk_rows=1000)).rows == 4000


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.parquet", None, "no such file"),
        ("t.txt", b"a\n1\n", "unknown file type .txt"),
        ("t.parquet", b"not parquet at all", "cannot read it as parquet"),
        ("t.csv", b"a,b\n1,2\n3\n", "cannot read it as csv"),
    ],
)
def test_unreadable_files_say_why(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidData, match=message):
        read_table(path)
    with pytest.raises(InvalidData, match=message):
        profile_file(path, chunk_rows=10)


def test_chunk_rows_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _table(10, 6).to_parquet(path)
    with pytest.raises(InvalidData, match="chunk_rows must be at least 1"):
        profile_file(path, chunk_rows=0)


@pytest.mark.slow
def test_profiling_in_threads_while_pandas_is_first_imported(tmp_path: Path) -> None:
    # A chunk large enough for profile()'s two threads, in a process that has not imported
    # pandas: one thread imports it (string hashing) while the other checks its table's type.
    import subprocess
    import sys

    path = tmp_path / "t.parquet"
    df = _table(120_000, 7)
    df["s"] = pd.array(np.random.default_rng(1).choice(["u", "v"], len(df)), dtype="str")
    df.to_parquet(path)
    code = (
        "import sys\n"
        "from mloop.data._files import profile_file\n"
        "assert 'pandas' not in sys.modules\n"
        f"p = profile_file({str(path)!r}, chunk_rows=60_000)\n"
        "assert p.rows == 120_000, p.rows\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_parquet_columns_read_a_column_at_a_time_as_read_table_does(tmp_path: Path) -> None:
    from mloop.data._files import ParquetColumns

    path = tmp_path / "t.parquet"
    _table(3000, 0).to_parquet(path, row_group_size=1000)
    whole = read_table(path)
    lazy = ParquetColumns(path)
    assert lazy.column_names == whole.column_names
    assert lazy.num_rows == len(lazy) == 3000
    for name in whole.column_names:
        assert lazy.column(name).equals(whole.column(name))
    assert lazy.column("c") is lazy.column("c")  # the last column read is kept
    with pytest.raises(InvalidData, match="no column 'nope'"):
        lazy.column("nope")
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(InvalidData, match="Parquet files only"):
        ParquetColumns(csv)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(InvalidData, match="cannot read it as parquet"):
        ParquetColumns(bad)


def test_drift_on_parquet_columns_equals_drift_on_whole_tables(tmp_path: Path) -> None:
    from mloop.data._files import ParquetColumns

    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    _table(20_000, 1).to_parquet(ref)
    shifted = _table(20_000, 2)
    shifted["x"] += 0.5
    shifted.to_parquet(cur)
    a = drift(read_table(ref), read_table(cur)).to_dict()
    b = drift(ParquetColumns(ref), ParquetColumns(cur)).to_dict()
    a.pop("elapsed_s")
    b.pop("elapsed_s")
    assert a == b
    assert "x" in b["drifted_columns"]
