"""Retention of the prediction log: expired days go with the monitor's partials of their
segments, and a partial whose segment is gone (removed or compacted otherwise) goes too."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mloop.errors import InvalidArgument
from mloop.monitor import expire_predictions
from mloop.monitor._predformat import DAY_S, US, date_folder
from mloop.monitor._window import PARTIALS_DIR, window_profile
from mloop.store import ArtifactStore, open_artifact_store

DAY0 = 1_900_000_000 // DAY_S  # a day number


def _publish(artifacts: ArtifactStore, model: str, day: int, name: str) -> None:
    n = 20
    ts = (day * DAY_S + 3600) * US + np.arange(n, dtype=np.int64) * US
    table = pa.table(
        {
            "request_id": [f"{name}-{i}" for i in range(n)],
            "row": pa.array(np.zeros(n, np.int32)),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "version": ["1"] * n,
            "input.a": np.arange(n, dtype=float),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    artifacts.publish(
        sink.getvalue(), f"predictions/{model}/date={date_folder(day)}/{name}.parquet"
    )


def _partials(artifacts: ArtifactStore) -> list[str]:
    return [i.path for i in artifacts.walk_files(f"predictions/{PARTIALS_DIR}")]


def test_expired_days_go_with_their_partials_and_orphans_are_swept(tmp_path: Path) -> None:
    artifacts = open_artifact_store(tmp_path / "art")
    for model in ("churn", "fraud"):
        for d in range(3):
            _publish(artifacts, model, DAY0 + d, f"01-s{d}a")
            _publish(artifacts, model, DAY0 + d, f"01-s{d}b")
        window_profile(artifacts, model)  # a monitor run: a partial per segment
    _publish(artifacts, "churn", DAY0 + 2, "01-s2c")  # no partial yet
    feedback = f"predictions/_feedback/date={date_folder(DAY0)}/01-x.parquet"
    artifacts.publish(b"labels", feedback)
    assert len(_partials(artifacts)) == 12

    # Day 0 has ended before the cutoff, day 1 has not (it is never cut).
    expired = expire_predictions(artifacts, (DAY0 + 2) * DAY_S - 1, model="churn")
    assert expired.days == [f"churn/date={date_folder(DAY0)}"]
    assert (expired.segments, expired.partials) == (2, 2)
    assert not artifacts.exists(f"predictions/churn/date={date_folder(DAY0)}")
    assert not artifacts.exists(f"predictions/{PARTIALS_DIR}/churn/date={date_folder(DAY0)}")
    assert artifacts.exists(f"predictions/fraud/date={date_folder(DAY0)}")  # another model's
    assert len(_partials(artifacts)) == 10
    assert artifacts.exists(feedback)  # labels are kept

    # A segment removed by other means (compacted into another one, a lifecycle rule): the
    # next pass removes its partial, and keeps those whose segment is there.
    artifacts.delete(f"predictions/churn/date={date_folder(DAY0 + 1)}/01-s1a.parquet")
    artifacts.delete("predictions/fraud")  # a whole model's log gone
    expired = expire_predictions(artifacts, DAY0 * DAY_S)
    assert (expired.days, expired.segments, expired.partials) == ([], 0, 1 + 6)
    assert sorted(p.rsplit("/", 1)[-1] for p in _partials(artifacts)) == [
        "01-s1b.parquet.partial",
        "01-s2a.parquet.partial",
        "01-s2b.parquet.partial",
    ]

    # A monitor run after retention reads what is left, and computes the new segment's.
    window = window_profile(artifacts, "churn")
    assert (window.segments, window.segments_read, window.rows) == (4, 1, 80)

    expired = expire_predictions(artifacts, "2100-01-01")
    assert expired.segments == 4 and expired.partials == 4
    assert _partials(artifacts) == [] and artifacts.exists(feedback)
    with pytest.raises(InvalidArgument, match="before must be"):
        expire_predictions(artifacts, "soon")
