"""Late labels: every form of a label's time, named and per-row labels, the body shapes of
``POST /v1/feedback`` and their refusals; stored in a real local artifact store, read back
joined to their prediction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI

from mloop._web._errors import install_error_handlers
from mloop.errors import InvalidArgument
from mloop.serve import PredictionLog, feedback_router, read_predictions
from mloop.server import ServerThread
from mloop.store import open_artifact_store

T0 = datetime(2031, 2, 28, 23, 30, tzinfo=UTC).timestamp()  # labels without a time: the clock's


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Any:
    return open_artifact_store(tmp_path / "artifacts")


@pytest.fixture
def log(store: Any) -> PredictionLog:
    """A log of one prediction: request ``r`` with three rows, at T0 - 1 hour."""
    from mloop.serve._payload import Inputs

    log = PredictionLog(store, clock=Clock())
    log.record("r", T0 - 3600, "m", "1", Inputs(3, {"x": [1.0, 2.0, 3.0]}), [0, 1, 0], 0.001)
    return log


def labels(log: PredictionLog, store: Any) -> pd.DataFrame:
    assert log.flush(30)
    return read_predictions(store, "m")


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (None, datetime.fromtimestamp(T0, UTC)),
        (T0 - 60, datetime.fromtimestamp(T0 - 60, UTC)),
        (int(T0), datetime.fromtimestamp(T0, UTC)),
        ("2031-02-28T20:00:00", datetime(2031, 2, 28, 20, tzinfo=UTC)),  # naive: UTC
        ("2031-03-01T09:00:00+14:00", datetime(2031, 2, 28, 19, tzinfo=UTC)),
        (datetime(2031, 2, 28, 12, 0), datetime(2031, 2, 28, 12, tzinfo=UTC)),
        (
            datetime(2031, 2, 28, 12, 0, tzinfo=timezone(timedelta(hours=-10))),
            datetime(2031, 2, 28, 22, tzinfo=UTC),
        ),
    ],
)
def test_every_form_of_time_is_stored_in_utc(
    log: PredictionLog, store: Any, when: Any, expected: datetime
) -> None:
    log.record_feedback("r", 1, time=when)
    frame = labels(log, store)
    assert frame["label"].tolist() == [1, 1, 1]
    assert {ts.to_pydatetime() for ts in frame["label_ts"]} == {expected}


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("tomorrow", "'time' must be an ISO-8601 time or seconds since the epoch, got 'tomorrow'"),
        (True, "'time' must be an ISO-8601 time or seconds since the epoch, got bool"),
        ([T0], "got list"),
        (float("nan"), "got float"),
        (-1, "'time' must be between 1970 and 9999"),
    ],
)
def test_a_bad_time_is_refused(log: PredictionLog, when: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as err:
        log.record_feedback("r", 1, time=when)
    assert err.value.details == {"field": "time"}
    assert log.feedback_recorded == 0


def test_labels_per_row_named_and_from_numpy(log: PredictionLog, store: Any) -> None:
    assert log.record_feedback("r", np.array([1, 0, 1])) == 3
    log.record_feedback("r", [None, np.float64(0.5), None], time=T0 + 1)  # row 1 only, later
    frame = labels(log, store)
    assert frame["label"].tolist() == [1, 0.5, 1]
    assert log.record_feedback("r", {"churned": np.bool_(True), "plan": "pro"}, time=T0 + 2) == 1
    named = labels(log, store)
    assert named["label.churned"].tolist() == [True, True, True]
    assert named["label.plan"].tolist() == ["pro", "pro", "pro"]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ({"": 1}, "has a label name that is not a short string: ''"),
        ({1: 1}, "has a label name that is not a short string: 1"),
        ({f"k{i}": i for i in range(101)}, "must name 1 to 100 labels, got 101"),
        ({"score": float("inf")}, "'label.score' must be a finite number"),
        ([1] * 100_001, "must be a list of 1 to 100000 labels, one per row, got 100001"),
        (np.array([], dtype=float), "must be a list of 1 to 100000 labels"),
    ],
)
def test_bad_labels_name_their_field(log: PredictionLog, label: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        log.record_feedback("r", label)
    assert log.feedback_recorded == 0


# -- the route ----------------------------------------------------------------------------------


@pytest.fixture
def route(log: PredictionLog) -> Iterator[httpx.Client]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(feedback_router(log, max_items=3, max_body_bytes=2_000))
    server = ServerThread(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()


def test_the_route_takes_one_label_or_items(
    route: httpx.Client, log: PredictionLog, store: Any
) -> None:
    r = route.post("/v1/feedback", json={"request_id": "r", "label": [1, 1, 1]})
    assert (r.status_code, r.json()) == (202, {"accepted": 3})
    items = [
        {"request_id": "r", "label": 0, "time": "2031-02-28T23:45:00Z"},
        {"request_id": "other", "label": {"ok": True}},
    ]
    r = route.post("/v1/feedback", json={"items": items})
    assert (r.status_code, r.json()) == (202, {"accepted": 2})
    frame = labels(log, store)
    assert frame["label"].tolist() == [0, 0, 0]  # the later label wins for every row


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"items": [1]}, 422, "INVALID_PAYLOAD", "'items[0]' must be an object"),
        ({"items": "r"}, 422, "INVALID_PAYLOAD", "'items' must be a non-empty list"),
        (
            {"items": [{"request_id": "r"}]},
            422,
            "INVALID_PAYLOAD",
            "'items[0].label' is missing",
        ),
        (
            {"items": [{"request_id": "r", "label": 1, "when": 3}]},
            422,
            "INVALID_PAYLOAD",
            "unknown key(s) 'when' in 'items[0]'",
        ),
        (
            {"items": [{"request_id": "r", "label": 1}] * 4},
            413,
            "PAYLOAD_TOO_LARGE",
            "'items' holds 4 labels; send at most 3",
        ),
        ({"request_id": "r", "label": "x" * 3000}, 413, "PAYLOAD_TOO_LARGE", "2000"),
    ],
)
def test_the_route_refuses_bad_bodies_and_keeps_nothing(
    route: httpx.Client, log: PredictionLog, body: Any, status: int, code: str, message: str
) -> None:
    r = route.post("/v1/feedback", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert message in r.json()["error"]["message"]
    assert log.feedback_recorded == 0
