"""The prediction log: real Parquet segments in a real LocalArtifactStore, read back by window,
with labels joined (the feedback route over HTTP: tests/serve/test_feedback_api.py)."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mloop.errors import InvalidArgument, StoreError
from mloop.monitor import PredictionLog, RequestRows, read_predictions
from mloop.monitor._predformat import sample_bucket
from mloop.store._artifacts import LocalArtifactStore
from mloop.store._entities import ArtifactInfo
from mloop.store._objectstore import open_artifact_store

T0 = datetime(2026, 11, 28, 10, 15, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FlakyStore(LocalArtifactStore):
    """The real local store, with an outage switch (as a full disk or a lost bucket would)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.down = False
        self.attempts = 0

    def put_stream(self, stream: IO[bytes], dest: str) -> ArtifactInfo:
        self.attempts += 1
        if self.down:
            raise StoreError(f"could not write artifact {dest!r}: No space left on device")
        return super().put_stream(stream, dest)


class Trickle(io.RawIOBase):
    """A stream that gives 4 KiB a read, slowly: a segment's write takes a while."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        time.sleep(0.0005)
        data = self.stream.read(min(len(buffer), 4096))
        buffer[: len(data)] = data
        return len(data)


class SlowStore(LocalArtifactStore):
    """The real local store, fed slowly (as a slow disk or network would)."""

    def put_stream(self, stream: IO[bytes], dest: str) -> ArtifactInfo:
        return super().put_stream(Trickle(stream), dest)  # type: ignore[arg-type]


def cols(**columns: list[Any]) -> RequestRows:
    rows = len(next(iter(columns.values())))
    return RequestRows(rows, dict(columns))


def segments(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_rows_round_trip_with_columns_and_types(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, clock=Clock())
    log.record("r1", T0, "churn", "3", cols(age=[42, 17], plan=["pro", "free"]), [1, 0], 0.004)
    log.record("r2", T0 + 1.5, "churn", "3", cols(age=[30], plan=["pro"]), np.array([1]), 0.002)
    log.record("r0", T0 - 1, "churn", "3", cols(age=[55], plan=[None]), [0], 0.010, shadow=True)
    assert log.flush(30)

    files = segments(Path(store.root))
    assert len(files) == 1
    rel = files[0].relative_to(store.root).as_posix()
    assert re.fullmatch(r"predictions/churn/date=2026-11-28/10-[0-9a-f]{32}\.parquet", rel)
    schema = pq.read_schema(files[0])
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("row").type == pa.int32()
    assert schema.field("input.age").type == pa.int64()
    assert schema.field("input.plan").type == pa.string()
    assert schema.field("shadow").type == pa.bool_()

    frame = read_predictions(store, "churn")
    assert list(frame.columns[:7]) == [
        "request_id",
        "row",
        "ts",
        "model",
        "version",
        "latency_ms",
        "shadow",
    ]
    assert frame["request_id"].tolist() == ["r0", "r1", "r1", "r2"]  # ordered by ts
    assert frame["row"].tolist() == [0, 0, 1, 0]
    assert frame["input.age"].tolist() == [55, 42, 17, 30]
    assert frame["input.plan"].tolist()[1:] == ["pro", "free", "pro"]
    assert pd.isna(frame["input.plan"].iloc[0])
    assert frame["output"].tolist() == [0, 1, 0, 1]
    assert frame["shadow"].tolist() == [True, False, False, False]
    assert frame["latency_ms"].tolist() == pytest.approx([10.0, 4.0, 4.0, 2.0])
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert frame["ts"].iloc[1] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert set(frame["model"]) == {"churn"}
    assert set(frame["version"]) == {"3"}
    assert log.recorded == 3
    assert log.segments_written == 1
    assert log.rows_written == 4


def test_columns_reads_only_what_is_asked_and_still_joins_labels(
    store: LocalArtifactStore,
) -> None:
    log = PredictionLog(store, clock=Clock())
    log.record("r1", T0, "churn", "3", cols(age=[42, 17], plan=["pro", "free"]), [1, 0], 0.004)
    log.record("r2", T0 + 1, "churn", "3", cols(age=[30], plan=["pro"]), [1], 0.002, shadow=True)
    log.record_feedback("r1", [1, 1])
    assert log.flush(30)

    frame = read_predictions(store, "churn", columns=["output", "input.nope"])
    assert list(frame.columns) == [
        "request_id",
        "row",
        "ts",
        "shadow",
        "output",
        "label",
        "label_ts",
    ]
    assert frame["output"].tolist() == [1, 0, 1]
    assert frame["label"].tolist()[:2] == [1, 1] and pd.isna(frame["label"].iloc[2])
    full = read_predictions(store, "churn")
    assert frame.equals(full[list(frame.columns)])


def test_array_inputs_and_several_outputs(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, clock=Clock())
    proba = np.array([[0.1, 0.9], [0.8, 0.2]])
    log.record("a", T0, "img", "1", RequestRows(2, None, np.arange(6.0).reshape(2, 3)), proba, 0.01)
    log.record("b", T0 + 1, "img", "1", RequestRows(1, None, np.ones((1, 3))), proba[:1], 0.01)
    log.record("c", T0, "multi", "1", cols(x=[1.0]), [{"score": 0.5, "band": "mid"}], 0.01)
    log.record(
        "d", T0, "vec", "1", RequestRows(2, None, np.array([3.0, 4.0])), np.array([6, 8]), 0.0
    )
    assert log.flush(30)

    img = read_predictions(store, "img")
    assert [list(v) for v in img["input"]] == [[0, 1, 2], [3, 4, 5], [1, 1, 1]]
    assert pq.read_schema(segments(Path(store.root) / "predictions" / "img")[0]).field(
        "input"
    ).type == pa.list_(pa.float64(), 3)
    assert img["output.0"].tolist() == [0.1, 0.8, 0.1]
    assert img["output.1"].tolist() == [0.9, 0.2, 0.9]
    multi = read_predictions(store, "multi")
    assert multi["output.score"].tolist() == [0.5]
    assert multi["output.band"].tolist() == ["mid"]
    vec = read_predictions(store, "vec")
    assert vec["input"].tolist() == [3.0, 4.0]
    assert vec["output"].tolist() == [6, 8]


def test_versions_get_their_own_segments_and_read_back_unified(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, clock=Clock())
    log.record("v1", T0, "churn", "1", cols(age=[40]), [0], 0.001)
    log.record("v2", T0 + 1, "churn", "2", cols(age=[41.5], plan=["pro"]), ["yes"], 0.001)
    log.record("v1b", T0 + 2, "churn", "1", cols(age=[42]), [1], 0.001)
    assert log.flush(30)
    files = segments(Path(store.root))
    assert len(files) == 2
    versions = sorted(set(pq.read_table(f)["version"].to_pylist()).pop() for f in files)
    assert versions == ["1", "2"]

    frame = read_predictions(store, "churn")
    assert frame["request_id"].tolist() == ["v1", "v2", "v1b"]
    assert frame["version"].tolist() == ["1", "2", "1"]
    assert frame["input.age"].tolist() == [40.0, 41.5, 42.0]  # int64 and float64 unified
    assert pd.isna(frame["input.plan"].iloc[0]) and frame["input.plan"].iloc[1] == "pro"
    assert frame["output"].tolist() == [0, "yes", 1]  # int and string: read as objects
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"  # the other columns keep their type
    assert list(frame.columns) == [
        "request_id",
        "row",
        "ts",
        "model",
        "version",
        "latency_ms",
        "shadow",
        "input.age",
        "input.plan",
        "output",
        "label",
        "label_ts",
    ]


def test_window_reads_only_its_dates(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, clock=Clock())
    day = 86_400.0
    for i, t in enumerate([T0 - 2 * day, T0 - day, T0, T0 + 3600, T0 + day]):
        log.record(f"r{i}", t, "churn", "1", cols(x=[i]), [i], 0.001)
    assert log.flush(30)
    dates = sorted(p.name for p in (Path(store.root) / "predictions" / "churn").iterdir())
    assert dates == [
        "date=2026-11-26",
        "date=2026-11-27",
        "date=2026-11-28",
        "date=2026-11-29",
    ]
    start = datetime(2026, 11, 27, 12, 0)  # naive: UTC
    frame = read_predictions(store, "churn", start, T0 + 3600)
    assert frame["request_id"].tolist() == ["r2"]  # r1 is before start, r3 at the end: excluded
    assert read_predictions(store, "churn", "2026-11-27", "2026-11-28")["request_id"].tolist() == [
        "r1"
    ]
    # A partition the window excludes is not even opened: corrupt one and read around it.
    old = next((Path(store.root) / "predictions/churn/date=2026-11-26").glob("*.parquet"))
    old.write_bytes(b"not parquet")
    assert len(read_predictions(store, "churn", start=T0 - day)) == 4
    assert read_predictions(store, "nobody").empty
    with pytest.raises(InvalidArgument, match="start must be a datetime"):
        read_predictions(store, "churn", start="yesterday")


def test_segments_roll_by_rows(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, max_rows_per_segment=3, max_segment_age_s=3600)
    log.record("big", T0, "m", "1", cols(x=[0, 1, 2, 3, 4]), [0, 1, 2, 3, 4], 0.001)
    log.record("s1", T0 + 1, "m", "1", cols(x=[5]), [5], 0.001)
    assert log.flush(30, roll=False)
    assert [pq.read_metadata(f).num_rows for f in segments(Path(store.root))] == [3, 3]
    log.record("s2", T0 + 2, "m", "1", cols(x=[6]), [6], 0.001)
    assert log.flush(30)
    sizes = sorted(pq.read_metadata(f).num_rows for f in segments(Path(store.root)))
    assert sizes == [1, 3, 3]
    frame = read_predictions(store, "m")
    assert frame["input.x"].tolist() == list(range(7))
    assert frame["row"].tolist() == [0, 1, 2, 3, 4, 0, 0]


def test_segments_roll_by_age(store: LocalArtifactStore) -> None:
    clock = Clock()
    log = PredictionLog(store, max_segment_age_s=60, clock=clock)
    log.record("a", None, "m", "1", cols(x=[1]), [1], 0.001)  # time None: the clock's
    assert log.flush(30, roll=False)
    assert segments(Path(store.root)) == []
    clock.now += 59
    log.record("b", None, "m", "1", cols(x=[2]), [2], 0.001)
    assert log.flush(30, roll=False)
    assert segments(Path(store.root)) == []  # 59 s old: still open
    clock.now += 1
    assert log.flush(30, roll=False)
    (first,) = segments(Path(store.root))
    assert pq.read_table(first)["request_id"].to_pylist() == ["a", "b"]
    log.record("c", None, "m", "1", cols(x=[3]), [3], 0.001)
    assert log.flush(30, roll=False)  # a segment's age counts from when it opened
    clock.now += 30
    assert log.flush(30, roll=False)
    assert len(segments(Path(store.root))) == 1
    clock.now += 30
    assert log.flush(30, roll=False)
    assert len(segments(Path(store.root))) == 2
    assert read_predictions(store, "m")["ts"].iloc[0] == pd.Timestamp(T0, unit="s", tz="UTC")


def test_background_thread_rolls_by_age_without_being_asked(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, max_segment_age_s=0.2).start()
    try:
        log.record("a", None, "m", "1", cols(x=[1]), [1], 0.001)
        deadline = time.monotonic() + 60  # bounds a hang only
        while not segments(Path(store.root)):
            assert time.monotonic() < deadline, "the segment was not written by age"
            time.sleep(0.02)
    finally:
        assert log.close(30)


def test_sampling_is_deterministic_by_request_id(store: LocalArtifactStore) -> None:
    ids = [f"req-{i}" for i in range(5000)] + [uuid.uuid4().hex for _ in range(5000)]
    replica_a = PredictionLog(store, sample_rate=0.1, max_queue=20_000)
    replica_b = PredictionLog(store, sample_rate=0.1, max_queue=20_000)
    kept_a = {i for i in ids if replica_a.record(i, T0, "m", "1", cols(x=[1]), [1], 0.0)}
    kept_b = {i for i in ids if replica_b.record(i, T0, "m", "2", cols(x=[1]), [1], 0.0, True)}
    assert kept_a == kept_b  # another replica, a shadow copy: the same requests
    assert 0.08 * len(ids) < len(kept_a) < 0.12 * len(ids)
    assert kept_a == {i for i in ids if sample_bucket(i) < 0.1}
    assert replica_a.recorded == len(kept_a)
    assert replica_a.sampled_out == len(ids) - len(kept_a)
    assert replica_a.flush(10)
    assert set(read_predictions(store, "m", with_feedback=False)["request_id"]) == kept_a
    none = PredictionLog(store, sample_rate=0.0)
    assert not any(none.record(i, T0, "m", "1", cols(x=[1]), [1], 0.0) for i in ids[:100])
    with pytest.raises(InvalidArgument, match="sample_rate"):
        PredictionLog(store, sample_rate=1.5)


def test_full_queue_drops_and_counts_without_blocking(
    store: LocalArtifactStore, caplog: pytest.LogCaptureFixture
) -> None:
    log = PredictionLog(store, max_queue=10)  # no writer thread: nothing drains
    caplog.set_level(logging.WARNING, logger="mloop.monitor.predlog")
    results: list[bool] = []
    caller = threading.Thread(
        target=lambda: results.extend(
            log.record(f"r{i}", T0, "m", "1", cols(x=[i]), [i], 0.0) for i in range(1000)
        )
    )
    caller.start()
    caller.join(60)  # a record() that waited for room would never return: nothing drains
    assert not caller.is_alive(), "record() blocked on a full queue"
    assert len(results) == 1000
    assert results.count(True) == 10
    assert log.recorded == 10
    assert log.dropped == 990
    drops = [r for r in caplog.records if "dropping records" in r.getMessage()]
    assert len(drops) == 1  # logged once a minute at most, not per record
    assert log.flush(30)
    assert read_predictions(store, "m")["request_id"].tolist() == [f"r{i}" for i in range(10)]


def test_close_flushes_and_refuses_later_records(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, max_segment_age_s=3600, clock=Clock()).start()
    for i in range(100):
        log.record(f"r{i}", T0 + i, "m", "1", cols(x=[i]), [i], 0.0)
    log.record_feedback("r3", 1)
    assert log.close(timeout=10)
    assert len(read_predictions(store, "m")) == 100
    assert read_predictions(store, "m").set_index("request_id").loc["r3", "label"] == 1
    assert not log.record("late", T0, "m", "1", cols(x=[0]), [0], 0.0)
    assert log.dropped == 1


def test_the_request_path_never_raises_and_the_writer_survives_bad_records(
    store: LocalArtifactStore,
) -> None:
    log = PredictionLog(store).start()
    try:
        assert log.record(None, T0, "m", "1", cols(x=[1]), [1], 0.0) is False  # type: ignore[arg-type]
        assert log.record("bad", T0, "m", "1", None, [1], 0.0)  # type: ignore[arg-type]
        assert log.flush(30)
        assert log.dropped == 2  # the id that cannot hash, the inputs that cannot convert
        log.record("good", T0, "m", "1", cols(x=[1]), [1], 0.0)
        assert log.flush(30)
        assert read_predictions(store, "m")["request_id"].tolist() == ["good"]
    finally:
        log.close()


def test_a_failing_store_is_retried_then_counted_never_raised(tmp_path: Path) -> None:
    flaky = FlakyStore(tmp_path / "artifacts")
    flaky.down = True
    log = PredictionLog(flaky, retry_base_s=0.01).start()
    try:
        for i in range(20):
            assert log.record(f"r{i}", T0, "m", "1", cols(x=[i]), [i], 0.0)
        assert not log.flush(30)  # the segment waits for a retry
        assert log.write_errors >= 1
        assert log.pending_segments == 1
        assert log.segments_written == 0
        deadline = time.monotonic() + 60  # bounds a hang only
        attempts = flaky.attempts
        while flaky.attempts < attempts + 2:  # retried in the background, with backoff
            assert time.monotonic() < deadline
            time.sleep(0.01)
        flaky.down = False
        deadline = time.monotonic() + 60  # bounds a hang only
        while log.segments_written == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert log.pending_segments == 0
        assert log.rows_lost == 0
        assert read_predictions(flaky, "m")["request_id"].tolist() == [f"r{i}" for i in range(20)]
    finally:
        log.close()


def test_a_long_outage_gives_segments_up_with_a_count(tmp_path: Path) -> None:
    flaky = FlakyStore(tmp_path / "artifacts")
    flaky.down = True
    log = PredictionLog(flaky, retry_base_s=0.01, max_retry_s=0.1)
    log.record("r1", T0, "m", "1", cols(x=[1, 2, 3]), [1, 2, 3], 0.0)
    assert not log.flush(30)
    time.sleep(0.15)
    log.record("r2", T0, "m", "1", cols(x=[4]), [4], 0.0)
    log.flush(30)  # r1's segment is older than max_retry_s: given up; r2's waits
    assert log.rows_lost == 3
    assert log.pending_segments == 1
    small = PredictionLog(flaky, retry_base_s=0.01, max_pending_bytes=1)
    small.record("r3", T0, "m", "1", cols(x=[5]), [5], 0.0)
    assert not small.flush(30)
    assert small.rows_lost == 1 and small.pending_segments == 0  # over the memory bound
    assert not log.close()  # still down: reported, not raised
    assert log.rows_lost == 3 and log.write_errors >= 3


def test_readers_never_see_a_partial_segment(tmp_path: Path) -> None:
    store = SlowStore(tmp_path / "artifacts")
    log = PredictionLog(store, max_rows_per_segment=400, max_segment_age_s=3600)
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for info in store.walk_files("") if store.exists("predictions") else []:
                try:
                    with store.open(info.path) as f:
                        assert pq.read_table(f).num_rows == 400
                    seen.add(info.path)
                except FileNotFoundError:
                    continue
                except BaseException as exc:
                    errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    rng = np.random.default_rng(0)  # random values: segments of ~100 KiB, many reads each
    wide = {f"f{j}": rng.normal(size=50).tolist() for j in range(40)}
    for i in range(160):
        log.record(f"r{i}", T0, "m", "1", RequestRows(50, wide), np.zeros(50), 0.0)
        if i % 8 == 7:
            log.flush(30, roll=False)
    stop.set()
    thread.join()
    assert not errors, errors[:3]
    assert len(seen) >= 2
    assert log.segments_written == 20
    assert not [p for p in Path(store.root).rglob("*") if p.name.startswith(".mloop-tmp-")]


def test_model_names_are_encoded_into_one_folder(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, prefix="/logs/", clock=Clock())
    for name in ("_feedback", "a/b", "..", "churn v2"):
        log.record(f"r-{name}", T0, name, "1", cols(x=[1]), [1], 0.0)
    log.record_feedback("r-_feedback", 7)
    assert log.flush(30)
    folders = sorted(p.name for p in (Path(store.root) / "logs").iterdir())
    assert folders == ["%2E.", "%5Ffeedback", "_feedback", "a%2Fb", "churn%20v2"]
    for name in ("_feedback", "a/b", "..", "churn v2"):
        frame = read_predictions(store, name, prefix="logs")
        assert frame["request_id"].tolist() == [f"r-{name}"]
        assert frame["model"].tolist() == [name]
    assert read_predictions(store, "_feedback", prefix="logs")["label"].tolist() == [7]


def test_an_fsspec_store_holds_the_log_too() -> None:
    remote = open_artifact_store(f"memory://predlog-{uuid.uuid4().hex}/root")
    log = PredictionLog(remote, clock=Clock())
    log.record("a", T0, "m", "1", cols(x=[1, 2]), [0, 1], 0.001)
    log.record_feedback("a", [1, 0])
    assert log.flush(30)
    assert sorted(i.path.split("/")[1] for i in remote.walk_files("predictions")) == [
        "_feedback",
        "m",
    ]
    frame = read_predictions(remote, "m", start="2026-11-28")
    assert frame["label"].tolist() == [1, 0]
    assert frame["output"].tolist() == [0, 1]


def test_the_writer_writes_every_queued_row(store: LocalArtifactStore) -> None:
    # What record() costs and how fast the writer goes: benchmarks/predlog.py.
    n = 5_000
    log = PredictionLog(store, max_queue=n, clock=Clock())
    for i in range(n):
        assert log.record(
            f"r{i}",
            T0,
            "m",
            "1",
            cols(**{f"f{j}": [float(i + j)] for j in range(10)}),
            [0.5],
            0.001,
        )
    assert log.queued == n
    assert log.flush(60)
    assert log.rows_written == n
    assert log.counters()["rows_written"] == n
    frame = read_predictions(store, "m")
    assert frame["request_id"].tolist() == [f"r{i}" for i in range(n)]
    assert frame["input.f9"].tolist() == [float(i + 9) for i in range(n)]


# -- feedback -----------------------------------------------------------------------------------


def test_feedback_joins_by_request_and_row_latest_wins(store: LocalArtifactStore) -> None:
    clock = Clock(T0 + 3600)
    log = PredictionLog(store, clock=clock)
    log.record("a", T0, "m", "1", cols(x=[1, 2, 3]), [1, 1, 0], 0.0)
    log.record("b", T0 + 1, "m", "1", cols(x=[4]), [0], 0.0)
    log.record("c", T0 + 2, "m", "1", cols(x=[5, 6]), [1, 0], 0.0)
    log.record("d", T0 + 3, "m", "1", cols(x=[7]), [1], 0.0)
    assert log.record_feedback("a", [1, None, 0]) == 2  # rows 0 and 2; row 1 unlabeled
    log.record_feedback("b", 0, time=T0 + 10)
    log.record_feedback("b", 1, time=T0 + 20)  # later: wins
    log.record_feedback("b", 5, time=T0 + 15)  # arrives last, but older
    log.record_feedback("c", "churned")  # no row: every row of c
    log.record_feedback("c", ["kept"], time=clock.now + 1)  # row 0, later: wins for row 0
    log.record_feedback("zzz", 1)  # no such prediction: stored, joined to nothing
    assert log.flush(30)
    frame = read_predictions(store, "m")
    got = list(zip(frame["request_id"], frame["row"], frame["label"], strict=True))
    assert got[:2] == [("a", 0, 1), ("a", 1, got[1][2])] and pd.isna(got[1][2])
    assert got[2:6] == [("a", 2, 0), ("b", 0, 1), ("c", 0, "kept"), ("c", 1, "churned")]
    assert got[6][:2] == ("d", 0)
    assert pd.isna(got[6][2])
    assert frame.loc[frame["request_id"] == "b", "label_ts"].iloc[0] == pd.Timestamp(
        T0 + 20, unit="s", tz="UTC"
    )
    assert len(frame) == 7
    assert "label" in frame and "label" not in read_predictions(store, "m", with_feedback=False)


def test_named_labels_become_columns(store: LocalArtifactStore) -> None:
    log = PredictionLog(store, clock=Clock(T0 + 3600))  # labels without a time: the clock's
    log.record("a", T0, "m", "1", cols(x=[1]), [1], 0.0)
    log.record("b", T0, "m", "1", cols(x=[2]), [1], 0.0)
    log.record_feedback("a", {"churned": True, "revenue": 12.5})
    log.record_feedback("b", {"churned": False, "revenue": None})
    log.record_feedback("a", np.int64(3), time=datetime(2000, 1, 1))  # older: loses
    assert log.flush(30)
    frame = read_predictions(store, "m")
    assert frame["label.churned"].tolist() == [True, False]
    assert frame["label.revenue"].iloc[0] == 12.5 and pd.isna(frame["label.revenue"].iloc[1])
    files = segments(Path(store.root) / "predictions" / "_feedback")
    assert {f.parent.name for f in files} == {"date=2000-01-01", "date=2026-11-28"}


@pytest.mark.parametrize("when", [1e20, -1e13, "0001-01-01T00:00+05:00", float("inf")])
def test_a_feedback_time_out_of_range_is_refused_and_loses_nothing(
    store: LocalArtifactStore, when: Any
) -> None:
    log = PredictionLog(store, clock=Clock())
    log.record("r", T0, "m", "1", cols(x=[1]), [1], 0.0)
    log.record_feedback("r", 1)
    with pytest.raises(InvalidArgument, match="'time' must be"):
        log.record_feedback("r", 0, time=when)
    assert log.flush(30)
    assert read_predictions(store, "m")["label"].tolist() == [1]


@pytest.mark.parametrize(
    ("request_id", "label", "message"),
    [
        ("", 1, "'request_id' must be a non-empty string of at most 128 characters"),
        ("x" * 129, 1, "got a string of 129 characters"),
        (42, 1, "got int"),
        ("a\nb", 1, "must not contain control characters"),
        ("r", None, "'label' is missing or null"),
        ("r", float("nan"), "'label' must be a finite number"),
        ("r", [1, [2]], r"'label\[1\]' must be a JSON scalar .* got list"),
        ("r", [], "must be a list of 1 to 100000 labels"),
        ("r", [None, None], "holds only nulls"),
        ("r", {"a": {"b": 1}}, "'label.a' must be a JSON scalar"),
        ("r", {}, "must name 1 to 100 labels"),
        ("r", object(), "got object"),
        ("r", "x" * 5000, "at most 4096"),
    ],
)
def test_bad_feedback_is_refused_with_a_message(
    store: LocalArtifactStore, request_id: Any, label: Any, message: str
) -> None:
    log = PredictionLog(store, clock=Clock())
    with pytest.raises(InvalidArgument, match=message):
        log.record_feedback(request_id, label)
    assert log.feedback_recorded == 0
    assert log.queued == 0
