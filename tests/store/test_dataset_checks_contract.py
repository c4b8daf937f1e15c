"""Stored data-check results of dataset versions, on SQLite, PostgreSQL and HTTP."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

from mloop.errors import DatasetNotFound, InvalidArgument
from mloop.store import DatasetCheck, HttpStore, Store

RUN = "a" * 32


def _version(store: Store, name: str, payload: bytes) -> int:
    digest = hashlib.sha256(payload).hexdigest()
    store.put_dataset_file(name, f"{digest}.parquet", io.BytesIO(payload))
    return store.create_dataset_version(
        name, digest=digest, num_rows=3, num_columns=1, columns=[("age", "int64")], size_bytes=1
    ).version


def _report(failed: int = 1, errors: int = 0, checks: int = 4) -> dict[str, Any]:
    failures = [
        {
            "check": "min",
            "column": "age",
            "name": None,
            "status": "failed",
            "expected": ">= 0",
            "message": "2 of 3 rows (67%) are below 0",
            "failed_rows": 2,
            "total_rows": 3,
            "examples": [{"row": 0, "value": -1}, {"row": 2, "value": -5.5}],
        }
    ][:failed]
    return {
        "passed": failed + errors == 0,
        "data": "datasets:/people/1",
        "checks": "checks.yaml",
        "num_rows": 3,
        "num_columns": 1,
        "summary": {
            "checks": checks,
            "passed": checks - failed - errors,
            "failed": failed,
            "error": errors,
        },
        "failures": failures,
        "results": [],
        "notes": [],
    }


def _actor(store: Store, claimed: str) -> str:
    """A server without auth records the claimed name as unverified."""
    return f"unverified:{claimed}" if isinstance(store, HttpStore) else claimed


def test_check_results_are_stored_per_version_newest_first(store: Store) -> None:
    v1 = _version(store, "people", b"one")
    v2 = _version(store, "people", b"two")
    first = store.log_dataset_check("people", v1, _report(), run_id=RUN, actor="alice")
    assert isinstance(first, DatasetCheck)
    assert (first.name, first.version, first.passed) == ("people", v1, False)
    assert (first.num_checks, first.num_failed, first.num_errors, first.num_passed) == (4, 1, 0, 3)
    assert (first.checks, first.num_rows, first.run_id) == ("checks.yaml", 3, RUN)
    assert first.actor == _actor(store, "alice")
    assert first.time > 0
    assert first.failures[0]["column"] == "age"
    assert first.failures[0]["examples"] == [{"row": 0, "value": -1}, {"row": 2, "value": -5.5}]
    assert first.dataset_uri == f"datasets:/people/{v1}"
    second = store.log_dataset_check("people", v2, _report(failed=0))
    third = store.log_dataset_check("people", v1, _report(failed=0))
    assert second.passed and second.failures == [] and second.run_id is None
    assert first.check_id < second.check_id < third.check_id

    every = store.list_dataset_checks("people")
    assert [c.check_id for c in every] == [third.check_id, second.check_id, first.check_id]
    assert every[-1] == first  # read back as written
    assert [c.check_id for c in store.list_dataset_checks("people", v1)] == [
        third.check_id,
        first.check_id,
    ]
    assert [c.check_id for c in store.list_dataset_checks("people", max_results=1)] == [
        third.check_id
    ]
    _version(store, "empty", b"e")
    assert store.list_dataset_checks("empty") == []


def test_check_results_of_what_does_not_exist_are_refused(store: Store) -> None:
    _version(store, "people", b"one")
    with pytest.raises(DatasetNotFound, match="no version 9"):
        store.log_dataset_check("people", 9, _report())
    with pytest.raises(DatasetNotFound, match="no dataset named"):
        store.log_dataset_check("nobody", 1, _report())
    with pytest.raises(DatasetNotFound):
        store.list_dataset_checks("nobody")
    with pytest.raises(DatasetNotFound):
        store.list_dataset_checks("people", 9)
    assert store.list_dataset_checks("people") == []


MALFORMED = [
    ("not a report", "is an object"),
    ({**_report(), "passed": "no"}, "passed must be true or false"),
    ({**_report(), "passed": True}, "passed is true but"),
    ({**_report(), "summary": {"checks": 1, "failed": 2, "error": 0}}, "of only 1 checks"),
    ({**_report(), "summary": None}, "summary must be an object"),
    ({**_report(), "num_rows": -1}, "num_rows"),
    ({**_report(), "failures": ["x"]}, "list of objects"),
    ({**_report(), "checks": "c" * 1001}, "report checks"),
    ({**_report(), "failures": [{"big": "x" * (1 << 20)}]}, "more than"),
]


def test_malformed_reports_are_refused(store: Store) -> None:
    v = _version(store, "people", b"one")
    for report, message in MALFORMED:
        with pytest.raises(InvalidArgument, match=message):
            store.log_dataset_check("people", v, report)
    assert store.list_dataset_checks("people") == []


def test_other_arguments_are_checked(store: Store) -> None:
    v = _version(store, "people", b"one")
    with pytest.raises(InvalidArgument, match="run id"):
        store.log_dataset_check("people", v, _report(), run_id="not-a-run")
    with pytest.raises(InvalidArgument, match="actor"):
        store.log_dataset_check("people", v, _report(), actor="x" * 300)
    with pytest.raises(InvalidArgument, match="max_results"):
        store.list_dataset_checks("people", max_results=0)
    with pytest.raises(InvalidArgument):
        store.list_dataset_checks("bad/name")
