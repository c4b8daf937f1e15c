"""The checks of a batch of metric points (the store's ``normalize_metrics``): the common case
is checked inline, and a bad step or timestamp is still refused by name."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from mloop.errors import InvalidArgument
from mloop.store import Metric
from mloop.store._base import normalize_metrics


class Step(enum.IntEnum):
    TEN = 10


def test_good_points_pass_unchanged() -> None:
    points = normalize_metrics([("loss", 0.5, 0, 1), ("loss", 1, -(2**63), 2**63 - 1)])
    assert [(m.key, m.value, m.step, m.timestamp) for m in points] == [
        ("loss", 0.5, 0, 1),
        ("loss", 1.0, -(2**63), 2**63 - 1),
    ]
    assert normalize_metrics([("m", 1.0, Step.TEN, 5)])[0].step == 10


@pytest.mark.parametrize("bad", [True, 1.0, "1", None, 2**63, -(2**63) - 1])
@pytest.mark.parametrize("field", ["step", "timestamp"])
def test_a_bad_step_or_timestamp_is_named(field: str, bad: Any) -> None:
    point = ("acc", 0.1, bad, 7) if field == "step" else ("acc", 0.1, 3, bad)
    with pytest.raises(InvalidArgument, match=f"{field} of metric 'acc' must be a 64-bit"):
        normalize_metrics([("ok", 1.0, 0, 0), point])


def test_points_come_back_as_metrics_and_metrics_are_kept() -> None:
    given = Metric("loss", 0.25, 1, 2)
    out = normalize_metrics([given, ("loss", 3, 2, 3), ["acc", 0.5, 0, 0]])
    assert out[0] is given  # a good Metric is not rebuilt
    assert all(type(m) is Metric for m in out)
    assert out[1] == ("loss", 3.0, 2, 3) and type(out[1].value) is float


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (["loss"], "metric key must be a string, got list"),
        ({"k": 1}, "metric key must be a string, got dict"),
        (7, "metric key must be a string, got int"),
        ("a/../b", "may only contain"),
        ("", "must not be empty"),
    ],
)
def test_a_bad_key_is_refused_by_name(key: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        normalize_metrics([("ok", 1.0, 0, 0), (key, 1.0, 0, 0)])
