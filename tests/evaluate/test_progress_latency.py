"""Feedback while a gate runs, and latency measured under stated conditions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mloop.evaluate import gate
from mloop.evaluate._latency import machine_load, measure_latency


def test_a_gate_reports_each_phase_and_each_model_s_time(tmp_path: Path, mloop_home: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60)})
    frame["y"] = (frame["x"] > 0).astype(int)
    uri = mloop.models.save(
        LogisticRegression().fit(frame[["x"]], frame["y"]),
        tmp_path / "m",
        input_example=frame[["x"]].head(2),
    ).model_uri
    lines: list[str] = []
    result = gate(
        uri,
        frame,
        ["accuracy >= 0.5", "p99_latency_ms >= 0"],
        champion_uri=uri,
        target="y",
        log=False,
        progress=lines.append,
    )
    assert result.passed
    challenger = [line for line in lines if line.startswith("challenger: ")]
    assert challenger[:2] == [f"challenger: loading {uri}", "challenger: predicting 60 rows"]
    assert "challenger: measuring latency" in challenger
    done = [line for line in lines if " evaluated in " in line]
    assert [line.split(" evaluated in ")[0] for line in done] == ["challenger", "champion"]
    assert all(line.endswith(" s") for line in done)
    assert any("thread pools limited to 1 thread" in n for n in result.challenger.notes)


def test_latency_notes_say_how_it_was_measured() -> None:
    class Model:
        def predict(self, data: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(data))

    timings, notes = measure_latency(
        Model(), pd.DataFrame({"x": range(10)}), single_calls=5, batch_calls=2
    )
    assert set(timings) == {
        "p50_latency_ms",
        "p99_latency_ms",
        "batch_p50_latency_ms",
        "batch_p99_latency_ms",
    }
    assert notes[0] == "latency: measured with BLAS/OpenMP thread pools limited to 1 thread"


def test_an_oversubscribed_machine_is_named() -> None:
    assert machine_load(load=1.5, cores=2) is None
    warning = machine_load(load=9.3, cores=2)
    assert warning is not None and "oversubscribed (load average 9.3 on 2 cores)" in warning
