"""Batch scoring: every row scored once, in order, chunk by chunk, with the model recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import mloop
from mloop.batch import score
from mloop.batch._score import METADATA_KEY, _cpus_per_replica
from mloop.cli import app
from mloop.errors import InvalidArgument, SignatureMismatch


def _expected(model_uri: str, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(mloop.models.load(model_uri).predict(frame[["a", "b", "c", "d"]]))


def _metadata(path: Path) -> dict[str, object]:
    meta = pq.read_schema(path).metadata
    return dict(json.loads(meta[METADATA_KEY]))


def test_scores_parquet_in_chunks_with_the_model_version_recorded(
    model_uri: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    src = tmp_path / "in.parquet"
    frame.to_parquet(src, row_group_size=256)
    out = tmp_path / "scores.parquet"
    seen: list[tuple[int, int | None]] = []
    result = score(
        model_uri, str(src), out, chunk_rows=300, progress=lambda n, t: seen.append((n, t))
    )
    assert (result.rows, result.chunks, result.model_version) == (1_000, 4, 1)
    assert seen == [(300, 1_000), (600, 1_000), (900, 1_000), (1_000, 1_000)]
    table = pq.read_table(out)
    assert table.column_names == ["a", "b", "c", "d", "id", "prediction", "model_version"]
    assert table.column("id").to_pylist() == list(range(1_000))  # input order kept
    np.testing.assert_array_equal(
        table.column("prediction").to_numpy(), _expected(model_uri, frame)
    )
    assert set(table.column("model_version").to_pylist()) == {"scorer/1"}
    # one row group per chunk: the chunks were written as they came, never gathered
    assert pq.ParquetFile(out).metadata.num_row_groups == 4
    meta = _metadata(out)
    assert meta["model_uri"] == "models:/scorer@champion"
    assert (meta["model_name"], meta["model_version"], meta["flavor"]) == ("scorer", 1, "sklearn")
    assert str(meta["model_source"]).startswith("runs:/")
    assert list(tmp_path.glob(".scores.parquet*")) == []


def test_an_alias_is_pinned_before_the_first_row(
    model_uri: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    from sklearn.dummy import DummyClassifier

    src = tmp_path / "in.parquet"
    frame.to_parquet(src)
    moved = False

    def move_alias(rows: int, total: int | None) -> None:
        nonlocal moved
        if not moved:  # after the first chunk, point @champion at a new version
            with mloop.start_run():
                info = mloop.models.log_model(
                    DummyClassifier(strategy="constant", constant=1).fit(
                        frame[["a", "b", "c", "d"]], np.ones(len(frame), dtype=int)
                    ),
                    input_example=frame[["a", "b", "c", "d"]].head(2),
                    registered_model_name="scorer",
                )
            assert info.registered_model_version is not None
            mloop.registry.set_alias("scorer", "champion", info.registered_model_version.version)
            moved = True

    out = tmp_path / "o.parquet"
    score(model_uri, str(src), out, chunk_rows=250, progress=move_alias)
    table = pq.read_table(out)
    assert set(table.column("model_version").to_pylist()) == {"scorer/1"}
    np.testing.assert_array_equal(
        table.column("prediction").to_numpy(), _expected("models:/scorer/1", frame)
    )


def test_scores_csv_and_registered_datasets(
    model_uri: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    csv = tmp_path / "in.csv"
    frame.to_csv(csv, index=False)
    a = score(model_uri, str(csv), tmp_path / "a.parquet", chunk_rows=400)
    assert (a.rows, a.chunks) == (1_000, 3)
    ds = mloop.data.register(frame, "customers")
    b = score(model_uri, ds.uri, tmp_path / "b.parquet", chunk_rows=1_000)
    assert _metadata(tmp_path / "b.parquet")["input"] == ds.uri
    left = pq.read_table(tmp_path / "a.parquet").column("prediction").to_numpy()
    right = pq.read_table(tmp_path / "b.parquet").column("prediction").to_numpy()
    np.testing.assert_array_equal(left, right)
    assert b.rows == 1_000


def test_a_failing_chunk_leaves_no_output(
    model_uri: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    bad = frame.astype({"a": object})
    bad.loc[700, "a"] = "oops"
    src = tmp_path / "bad.csv"
    bad.to_csv(src, index=False)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous result")
    with pytest.raises(SignatureMismatch):
        score(model_uri, str(src), out, chunk_rows=100, format="csv")
    assert out.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "spark"}, "engine must be one of local, ray"),
        ({"chunk_rows": 0}, "chunk_rows must be a positive integer"),
        ({"data": "missing.parquet"}, "no such input file"),
        ({"data": "in.txt"}, "cannot tell the format"),
    ],
)
def test_bad_arguments_are_refused_clearly(
    model_uri: str, frame: pd.DataFrame, tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    (tmp_path / "in.txt").write_text("x")
    frame.to_parquet(tmp_path / "in.parquet")
    args: dict[str, object] = {"data": str(tmp_path / "in.parquet"), **kwargs}
    if not str(args["data"]).startswith("/"):
        args["data"] = str(tmp_path / str(args["data"]))
    data = str(args.pop("data"))
    with pytest.raises(InvalidArgument, match=message):
        score(model_uri, data, tmp_path / "o.parquet", **args)  # type: ignore[arg-type]


def test_an_input_column_named_like_an_output_is_refused(
    model_uri: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame.assign(prediction=1).to_parquet(tmp_path / "in.parquet")
    with pytest.raises(InvalidArgument, match="already has a column 'prediction'"):
        score(model_uri, str(tmp_path / "in.parquet"), tmp_path / "o.parquet")


def test_cli_prints_a_json_summary(model_uri: str, frame: pd.DataFrame, tmp_path: Path) -> None:
    frame.to_parquet(tmp_path / "in.parquet")
    result = CliRunner().invoke(
        app,
        [
            "score",
            model_uri,
            "--data",
            str(tmp_path / "in.parquet"),
            "--out",
            str(tmp_path / "o.parquet"),
            "--chunk-rows",
            "500",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["chunks"], summary["model_version"]) == (1_000, 2, 1)
    assert summary["columns"][-2:] == ["prediction", "model_version"]
    bad = CliRunner().invoke(app, ["score", model_uri, "--data", "nope.csv", "--out", "o.parquet"])
    assert bad.exit_code == 1
    assert "no such input file" in bad.output


def test_cpus_per_replica_leaves_room_for_the_reads() -> None:
    assert _cpus_per_replica(16.0, 4) == 1.0
    assert _cpus_per_replica(2.0, 2) == 0.5
    assert _cpus_per_replica(2.0, 1) == 1.0


@pytest.mark.slow
# Ray Data warns about its own configuration internals and about small inputs.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")
@pytest.mark.filterwarnings("ignore::UserWarning:ray.*")
def test_ray_engine_scores_like_the_local_engine(
    model_uri: str, frame: pd.DataFrame, tmp_path: Path, ray_session: None
) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), src, row_group_size=250)
    local = score(model_uri, str(src), tmp_path / "local.parquet", chunk_rows=250)
    remote = score(
        model_uri, str(src), tmp_path / "ray.parquet", engine="ray", workers=2, chunk_rows=250
    )
    assert remote.rows == local.rows == 1_000
    assert pq.read_table(tmp_path / "ray.parquet").equals(pq.read_table(tmp_path / "local.parquet"))
    assert _metadata(tmp_path / "ray.parquet")["ray_workers"] == 2
