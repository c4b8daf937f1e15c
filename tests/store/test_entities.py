"""Metric histories as JSON: the server writes numpy columns straight to JSON, the client reads
them back in one conversion; both must say what the list form says."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from mloop.store._entities import MetricHistory

RECORDS = np.dtype([("step", np.int64), ("timestamp", np.int64), ("value", np.float64)])


def _history(values: list[float]) -> MetricHistory:
    # Columns that are views into one record array, as the SQL store reads them.
    rec = np.zeros(len(values), dtype=RECORDS)
    rec["step"] = np.arange(len(values)) * 2**40
    rec["timestamp"] = 1_700_000_000_000 + np.arange(len(values))
    rec["value"] = values
    return MetricHistory("loss", rec["step"], rec["timestamp"], rec["value"])


@pytest.mark.parametrize(
    "values",
    [[0.1, 1e-300, -2.5, 1 / 3, 2.0**60], [0.5, math.nan, math.inf, -math.inf, 7.0], []],
    ids=["finite", "non-finite", "empty"],
)
def test_a_history_written_from_arrays_is_the_json_of_its_lists(values: list[float]) -> None:
    history = _history(values)
    fast = orjson.dumps(history.to_json_dict(arrays=True), option=orjson.OPT_SERIALIZE_NUMPY)
    assert fast == orjson.dumps(history.to_json_dict())
    back = MetricHistory.from_json_dict(orjson.loads(fast))
    assert back.steps.tolist() == history.steps.tolist()
    assert back.timestamps.tolist() == history.timestamps.tolist()
    np.testing.assert_array_equal(back.values, history.values)  # NaN equals NaN here
    assert back.values.dtype == np.float64


def test_a_history_read_from_json_takes_numbers_and_the_non_finite_names() -> None:
    body = {"key": "m", "steps": [0, 1, 2, 3], "timestamps": [5, 6, 7, 8]}
    ints = MetricHistory.from_json_dict({**body, "values": [1, 2, 3, 4]})
    assert ints.values.dtype == np.float64
    assert ints.values.tolist() == [1.0, 2.0, 3.0, 4.0]
    named = MetricHistory.from_json_dict({**body, "values": [1, "NaN", "Infinity", "-Infinity"]})
    assert named.values[0] == 1.0 and math.isnan(named.values[1])
    assert named.values[2:].tolist() == [math.inf, -math.inf]
