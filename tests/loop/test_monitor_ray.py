"""Monitor runs with ``monitor.engine: ray``: new segments profiled as Ray tasks that read them
from the artifact store themselves (a local folder, and S3), merged on the driver, with the
partials and the results of the local engine."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mloop.store
from mloop.data import register
from mloop.errors import ArtifactNotFound
from mloop.loop import load_loop
from mloop.loop._monitor import run_monitor
from mloop.monitor._predformat import DAY_S, US, date_folder
from mloop.monitor._window import PARTIALS_DIR, window_profile
from mloop.store import ArtifactStore, open_artifact_store, storage_options

pytestmark = pytest.mark.slow  # a local Ray takes seconds to start

DAY_US = 1_900_000_000 // DAY_S * DAY_S * US  # a day's start
HOUR_US = 3600 * US
ROWS = 400


def _segment(k: int, hour: float, shift: float, day_us: int = DAY_US) -> pa.Table:
    """Segment ``k``: ROWS rows from ``hour`` of the day, 1 s apart, in the writer's schema."""
    rng = np.random.default_rng(k)
    a = rng.normal(shift, 1.0, ROWS)
    ts = day_us + int(hour * HOUR_US) + np.arange(ROWS, dtype=np.int64) * US
    failed = np.arange(ROWS) % 50 == 0  # a failed request now and then
    return pa.table(
        {
            "request_id": pa.array([f"s{k}-{i}" for i in range(ROWS)]),
            "row": pa.array(np.zeros(ROWS, np.int32)),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model": pa.array(["churn"] * ROWS),
            "version": pa.array(["1" if k % 2 else "2"] * ROWS),
            "latency_ms": pa.array(rng.gamma(2.0, 1.0, ROWS)),
            "shadow": pa.array(np.arange(ROWS) % 97 == 0),
            "status": pa.array(np.where(failed, 500, None).tolist(), pa.int32()),
            "input.a": pa.array(a),
            "input.b": pa.array(rng.integers(0, 5, ROWS)),
            "input.c": pa.array(rng.choice(["x", "y", "z"], ROWS)),
            "output.proba": pa.array(np.where(failed, None, 1 / (1 + np.exp(-a))).tolist()),
        }
    )


def _publish(
    artifacts: ArtifactStore, k: int, hour: float, shift: float, day_us: int = DAY_US
) -> None:
    sink = io.BytesIO()
    pq.write_table(_segment(k, hour, shift, day_us), sink)
    day = date_folder(day_us // US // DAY_S)
    path = f"predictions/churn/date={day}/{int(hour):02d}-s{k:04d}.parquet"
    artifacts.publish(sink.getvalue(), path)


def _partials(artifacts: ArtifactStore) -> dict[str, bytes]:
    try:
        files = artifacts.walk_files(f"predictions/{PARTIALS_DIR}")
    except ArtifactNotFound:
        return {}
    out = {}
    for info in files:
        with artifacts.open(info.path) as f:
            out[info.path] = f.read()
    return out


def _spec(reference: str, engine: str) -> Any:
    return load_loop(
        {
            "name": f"churn-{engine}",
            "model": "churn",
            "monitor": {
                "every": "10m",
                "window": "6h",
                "reference": reference,
                "drift": {"share": 0.3},
                "estimated": True,
                "min_rows": 10,
                "engine": engine,
            },
        }
    )


@pytest.fixture
def reference(mloop_home: Path) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(0.0, 1.0, 2000),
            "b": rng.integers(0, 5, 2000),
            "c": rng.choice(["x", "y", "z"], 2000),
        }
    )
    return register(frame, "churn-ref", store=mloop.store.current().store).uri


def _same_runs(local: ArtifactStore, ray: ArtifactStore, reference: str) -> None:
    """Two logs written alike, monitored by each engine: the same partials and results."""
    store = mloop.store.current().store
    for k, hour, shift in [(1, 1, 0.0), (2, 2.5, 0.0), (3, 4, 2.0)]:
        for artifacts in (local, ray):
            _publish(artifacts, k, hour, shift)

    def both(now_hours: float) -> tuple[dict[str, Any], dict[str, Any]]:
        now_ms = (DAY_US + int(now_hours * HOUR_US)) // 1000
        got = [
            run_monitor(_spec(reference, engine), store=store, artifacts=a, now_ms=now_ms)
            for engine, a in (("local", local), ("ray", ray))
        ]
        assert got[0][0] == got[1][0] and got[0][2] == got[1][2]  # status, triggers
        assert got[0][1] == got[1][1]  # the whole result: drift, CBPE, counts, what was read
        return got[0][1], got[1][1]

    # Cold: every segment profiled (threads / Ray tasks); the window's start cuts the first.
    first, _ = both(7.05)
    assert first["incremental"] == {"segments": 3, "segments_read": 3, "rows_read": 3 * ROWS}
    assert first["drift"]["dataset_drift"] is True
    assert first["errors"] and first["estimated"]["metrics"]
    partials = _partials(local)
    assert len(partials) == 3 and partials == _partials(ray)  # byte for byte, same names

    # One new segment: only it (and the cut one) read, by each engine.
    for artifacts in (local, ray):
        _publish(artifacts, 4, 5, 2.0)
    again, _ = both(7.1)
    assert again["incremental"]["segments_read"] == 2
    assert _partials(local) == _partials(ray)

    # The window profile without stored partials: the same merge from both engines.
    lo, hi = DAY_US / US, DAY_US / US + 7 * 3600
    a = window_profile(local, "churn", lo, hi, cache=False, workers=2)
    b = window_profile(ray, "churn", lo, hi, cache=False, engine="ray")
    assert a.profile is not None and b.profile is not None
    assert a.profile.to_bytes() == b.profile.to_bytes()
    assert (a.rows, a.versions, a.errors) == (b.rows, b.versions, b.errors)
    assert a.proba_counts is not None and b.proba_counts is not None
    assert np.array_equal(a.proba_counts, b.proba_counts)


def test_ray_engine_on_a_local_folder_matches_the_local_engine(
    ray_session: None, tmp_path: Path, reference: str
) -> None:
    _same_runs(
        open_artifact_store(tmp_path / "local"), open_artifact_store(tmp_path / "ray"), reference
    )


def test_ray_engine_on_s3_workers_read_the_segments_themselves(
    ray_session: None, s3_server: Any, reference: str
) -> None:
    from mloop._core import Settings

    settings = Settings(
        s3_endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.key,
        aws_secret_access_key=s3_server.secret,
        aws_region=s3_server.region,
    )
    local = open_artifact_store(f"s3://{s3_server.new_bucket()}/art", storage_options(settings))
    ray = open_artifact_store(f"s3://{s3_server.new_bucket()}/art", storage_options(settings))
    _same_runs(local, ray, reference)


def test_a_segment_the_workers_cannot_read_fails_the_run_as_locally(
    ray_session: None, tmp_path: Path
) -> None:
    artifacts = open_artifact_store(tmp_path / "bad")
    folder = f"predictions/churn/date={date_folder(DAY_US // US // DAY_S)}"
    artifacts.publish(b"not parquet", f"{folder}/01-broken.parquet")
    errors = []
    for engine in ("local", "ray"):
        with pytest.raises(Exception) as info:
            window_profile(artifacts, "churn", engine=engine)  # type: ignore[arg-type]
        errors.append(type(info.value))
    assert errors[0] is errors[1]


def test_loop_run_engine_ray_profiles_the_log_on_ray(
    ray_session: None, mloop_home: Path, tmp_path: Path, reference: str
) -> None:
    import orjson
    from typer.testing import CliRunner

    from mloop.cli import app

    ctx = mloop.store.current()
    yesterday_us = (int(time.time()) // DAY_S - 1) * DAY_S * US  # the CLI's clock is the wall's
    for k, hour in [(1, 1), (2, 2)]:
        _publish(ctx.artifacts, k, hour, 0.0, yesterday_us)
    spec = _spec(reference, "local").to_json()
    spec["monitor"]["window"] = "3d"
    loop_file = tmp_path / "loop.yaml"
    loop_file.write_bytes(orjson.dumps(spec))  # JSON is YAML
    env = {"COLUMNS": "200", "NO_COLOR": "1"}
    runner = CliRunner()
    bad = runner.invoke(
        app, ["loop", "run", str(loop_file), "--once", "--engine", "spark"], env=env
    )
    assert bad.exit_code == 2 and "'spark' is not local or ray" in bad.stderr
    for _ in range(2):  # IDLE -> MONITORING, then the monitor run
        done = runner.invoke(
            app, ["loop", "run", str(loop_file), "--once", "--engine", "ray", "--json"], env=env
        )
        assert done.exit_code == 0, done.output
    assert ctx.store.get_loop("churn-local").spec["monitor"]["engine"] == "ray"
    status = orjson.loads(done.stdout)["status"]
    result = status["last_monitor"]["result"]
    assert result["rows"] > 0 and result["incremental"]["segments_read"] == 2
    assert len(_partials(ctx.artifacts)) == 2
