"""Declarative checks: every kind passing and failing with counts and examples, the report, bad
input, malformed checks, and drafting checks with ``infer_checks``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from mloop.data import CheckReport, check, infer_checks, register
from mloop.data._checks_infer import infer_checks_yaml
from mloop.errors import InvalidArgument, InvalidChecks
from mloop.store import SqlStore, Store

CLEAN_CHECKS = """
columns:
  id: {type: int64, nullable: false, unique: true}
  age: {type: integer, min: 0, max: 120}
  score: {type: float64, finite: true, max_null_share: 0.5}
  country: {type: string, allowed: [DE, FR, US]}
  email: {regex: '^[^@]+@[^@]+$'}
  when: {type: timestamp, min: 2024-01-01}
table:
  row_count: {min: 1, max: 100}
  strict: true
"""


@pytest.fixture
def clean() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "age": [18, 40, 67, 0],
            "score": [0.5, None, 1.5, -2.0],
            "country": ["DE", "FR", "US", "DE"],
            "email": ["a@b.c", "d@e.f", None, "g@h.i"],
            "when": pd.to_datetime(["2024-01-02", "2024-03-01", "2024-05-01", "2024-07-01"]),
        }
    )


def _one(report: CheckReport, kind: str, column: str | None = None) -> Any:
    found = [r for r in report.results if r.check == kind and r.column == column]
    assert len(found) == 1, [r.to_dict() for r in report.results]
    return found[0]


def test_every_kind_passes_on_clean_data(clean: pd.DataFrame) -> None:
    report = check(clean, CLEAN_CHECKS)
    assert report.passed, report.to_text()
    kinds = sorted({r.check for r in report.results})
    assert kinds == sorted(
        [
            "type",
            "nullable",
            "unique",
            "min",
            "max",
            "finite",
            "max_null_share",
            "allowed",
            "regex",
            "row_count",
            "strict",
        ]
    )
    assert report.summary == {"checks": 16, "passed": 16, "failed": 0, "error": 0}
    assert report.failures == []
    assert str(report).startswith("PASSED: checks on DataFrame (4 rows, 6 columns): 16 checks")
    body = report.to_dict()
    assert body["passed"] is True
    assert body["failures"] == []
    assert len(body["results"]) == 16


@pytest.mark.parametrize(
    ("values", "spec", "kind", "failed", "rows", "shown", "words"),
    [
        (
            ["1", "2"],
            {"type": "int64"},
            "type",
            2,
            [0, 1],
            ["1", "2"],
            "expected int64, got string",
        ),
        (
            [1, "a", 3, "b"],
            {"type": "int64"},
            "type",
            2,
            [1, 3],
            ["a", "b"],
            "expected int64, got str in 2 of 4 rows (first at row 1)",
        ),
        ([1.0, 2.5, None], {"type": "int64"}, "type", 1, [1], [2.5], "got float64 in 1 of 3"),
        ([1, None, 3, None], {"nullable": False}, "nullable", 2, [1, 3], [None, None], "are null"),
        (
            [1, None, None, 4],
            {"max_null_share": 0.2},
            "max_null_share",
            2,
            [1, 2],
            [None, None],
            "is 50% null (2 of 4 rows), above the maximum share 20%",
        ),
        (
            [5, -1, 3, -7],
            {"min": 0},
            "min",
            2,
            [1, 3],
            [-1, -7],
            "2 of 4 rows are below the minimum 0",
        ),
        ([5, 200, 3], {"max": 120}, "max", 1, [1], [200], "1 of 3 rows are above the maximum 120"),
        (
            [1.0, np.inf, -np.inf, 2.0],
            {"finite": True},
            "finite",
            2,
            [1, 2],
            ["Infinity", "-Infinity"],
            "2 of 4 rows are infinite",
        ),
        (
            ["DE", "XX", "FR", "YY"],
            {"allowed": ["DE", "FR"]},
            "allowed",
            2,
            [1, 3],
            ["XX", "YY"],
            "are not one of DE, FR (first at row 1: 'XX')",
        ),
        (
            ["a@b", "nope", "c@d"],
            {"regex": "^[^@]+@[^@]+$"},
            "regex",
            1,
            [1],
            ["nope"],
            "do not match '^[^@]+@[^@]+$'",
        ),
        (
            [1, 2, 2, 3, 3, 3],
            {"unique": True},
            "unique",
            5,
            [1, 2, 3, 4, 5],
            [2, 2, 3, 3, 3],
            "5 of 6 rows share 2 duplicated values",
        ),
    ],
)
def test_each_kind_fails_with_counts_and_examples(
    values: list[Any],
    spec: dict[str, Any],
    kind: str,
    failed: int,
    rows: list[int],
    shown: list[Any],
    words: str,
) -> None:
    df = pd.DataFrame({"x": pd.Series(values, dtype=object if kind == "type" else None)})
    if kind == "type" and all(isinstance(v, str) for v in values):
        df = pd.DataFrame({"x": values})
    if kind == "type" and any(isinstance(v, float) for v in values):
        df = pd.DataFrame({"x": values})
    report = check(df, {"columns": {"x": spec}})
    assert not report.passed
    result = _one(report, kind, "x")
    assert result.status == "failed"
    assert result.failed_rows == failed
    assert result.total_rows == len(values)
    assert [e["row"] for e in result.examples] == rows
    assert [e["value"] for e in result.examples] == shown
    assert words in result.message, result.message
    assert result.message.startswith("column 'x'")
    assert report.failures == [result]


def test_examples_stop_at_five_and_use_the_callers_index() -> None:
    df = pd.DataFrame({"x": np.arange(-10, 10)}, index=[f"r{i}" for i in range(20)])
    result = _one(check(df, {"columns": {"x": {"min": 0}}}), "min", "x")
    assert result.failed_rows == 10
    assert len(result.examples) == 5
    assert result.examples[0] == {"row": 0, "value": -10, "index": "r0"}


def test_a_missing_column_is_a_failure_unless_optional() -> None:
    df = pd.DataFrame({"a": [1, 2]})
    report = check(
        df, {"columns": {"zz": {"type": "string", "min": 1}, "opt": {"required": False}}}
    )
    assert [(r.check, r.column, r.status) for r in report.results] == [("present", "zz", "failed")]
    assert (
        "column 'zz' is named in the checks but missing from the data" in report.results[0].message
    )
    assert "'a'" in report.results[0].message


def test_row_count_and_strict() -> None:
    df = pd.DataFrame({"a": range(5), "b": range(5)})
    low = check(df, {"table": {"row_count": {"min": 10}}})
    assert _one(low, "row_count").message == "the table has 5 rows; expected at least 10"
    assert _one(low, "row_count").expected == ">= 10 rows"
    high = check(df, {"table": {"row_count": {"min": 1, "max": 3}}})
    assert _one(high, "row_count").message == "the table has 5 rows; expected at most 3"
    assert check(df, {"table": {"row_count": {"max": 5}}}).passed
    strict = check(df, {"columns": {"a": {}}, "table": {"strict": True}})
    assert not strict.passed
    assert _one(strict, "strict").message == "the data has columns the checks do not name: 'b'"


def _positive(df: pd.DataFrame) -> pd.Series:
    return df["spend"] >= 0


def test_custom_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mychecks.py").write_text(
        textwrap.dedent(
            """
            def consistent(df):
                return df["spend"] <= df["budget"]

            def has_rows(df):
                return len(df) > 100

            def broken(df):
                raise ValueError("no budget today")

            def wrong(df):
                return df["spend"].head(1) > 0
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    df = pd.DataFrame({"spend": [1, 5, -2, 9], "budget": [2, 4, 3, 1], "other": list("abcd")})
    report = check(
        df,
        """
custom:
  - name: spend_is_consistent
    python: mychecks:consistent
    columns: [spend, budget]
  - {name: enough, python: mychecks:has_rows}
  - {name: broken, python: mychecks:broken}
  - {name: wrong, python: mychecks:wrong}
""",
    )
    consistent, enough, broken, wrong = report.results
    assert consistent.status == "failed"
    assert consistent.name == "spend_is_consistent"
    assert consistent.failed_rows == 2
    assert consistent.examples == (
        {"row": 1, "value": {"spend": 5, "budget": 4}},
        {"row": 3, "value": {"spend": 9, "budget": 1}},
    )
    assert "2 of 4 rows fail (first at row 1)" in consistent.message
    assert consistent.expected == "mychecks:consistent"
    assert (enough.status, enough.message) == (
        "failed",
        "custom check 'enough' (mychecks:has_rows) returned False",
    )
    assert broken.status == "error"
    assert "raised ValueError: no budget today" in broken.message
    assert wrong.status == "error"
    assert "a Series of 1 values for 4 rows" in wrong.message
    # a callable given directly, from Python
    ok = check(df.assign(spend=[1, 1, 1, 1]), {"custom": [{"name": "p", "python": _positive}]})
    assert ok.passed
    assert _one(ok, "custom").name == "p"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "columns:\n  age:\n    mni: 0\n",
            "line 3: column 'age', key 'mni': unknown key; did you mean 'min'?",
        ),
        (
            "columns:\n  email: {regex: '[a-'}\n",
            "line 2: column 'email', key 'regex': is not a valid regular expression",
        ),
        (
            "columns:\n  age: {min: zero}\n",
            "line 2: column 'age', key 'min': must be a number or a date",
        ),
        ("columns:\n  age: {min: 5, max: 1}\n", "key 'max': max 1 is below min 5"),
        ("columns:\n  age: {type: integr}\n", "unknown type 'integr'; did you mean 'integer'?"),
        ("columns:\n  age: {nullable: maybe}\n", "key 'nullable': must be true or false"),
        ("columns:\n  age: {max_null_share: 5}\n", "must be a share between 0 and 1"),
        ("columns:\n  age: {allowed: []}\n", "key 'allowed': must be a non-empty list"),
        ("columns:\n  age: [1, 2]\n", "column 'age': the checks of a column are a mapping"),
        ("colums: {}\n", "line 1: key 'colums': unknown key; did you mean 'columns'?"),
        (
            "table:\n  row_count: {min: -1}\n",
            "line 2: key 'min': row_count min must be a whole number",
        ),
        ("table:\n  rows: 5\n", "key 'rows': unknown key"),
        (
            "custom:\n  - {name: c, python: nowhere_at_all:fn}\n",
            "line 2: key 'python': custom check 'c': cannot import 'nowhere_at_all'",
        ),
        ("custom:\n  - {name: c, python: json:nope}\n", "'json' has no 'nope'"),
        ("custom:\n  - {name: c, python: 'not a target'}\n", "python must be 'module:function'"),
        ("custom:\n  - {python: json:dumps}\n", "a custom check needs a name"),
        (
            "columns:\n  a: {min: 1}\n  a: {max: 2}\n",
            "line 3: key 'a' is given twice (first on line 2)",
        ),
        ("columns: [\n", "not valid YAML"),
        ("- just a list\n", "checks are a mapping"),
    ],
)
def test_malformed_checks_name_the_column_key_and_line(text: str, words: str) -> None:
    with pytest.raises(InvalidChecks) as err:
        check(pd.DataFrame({"age": [1]}), text)
    assert words in str(err.value), str(err.value)
    assert isinstance(err.value, InvalidArgument)


def test_checks_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text("columns:\n  age:\n    type: int64\n    bogus: 1\n")
    with pytest.raises(InvalidChecks, match=r"^checks.yaml line 4: column 'age', key 'bogus'"):
        check(pd.DataFrame({"age": [1]}), path)
    with pytest.raises(InvalidChecks, match="no checks file"):
        check(pd.DataFrame({"age": [1]}), str(tmp_path / "missing.yaml"))
    path.write_text("columns:\n  age: {type: int64}\n")
    report = check(pd.DataFrame({"age": [1]}), str(path))
    assert report.passed
    assert report.checks == "checks.yaml"


def test_bad_input_gives_clear_notes_never_a_crash() -> None:
    empty = check(
        pd.DataFrame({"a": pd.Series([], dtype="float64")}),
        {"columns": {"a": {"min": 0, "nullable": False}}, "table": {"row_count": {"min": 1}}},
    )
    assert [r.status for r in empty.results] == ["passed", "passed", "failed"]
    assert "the table has no rows" in empty.notes[0]
    df = pd.DataFrame(
        {
            "nulls": [None, None, None],
            "mixed": [1, "two", 3.5],
            "inf": [1.0, np.inf, 2.0],
        }
    )
    report = check(
        df,
        {
            "columns": {
                "nulls": {"min": 0, "nullable": False},
                "mixed": {"min": 0, "regex": "x"},
                "inf": {"max": 10},
                "gone": {"type": "int64"},
            }
        },
    )
    statuses = {(r.column, r.check): r.status for r in report.results}
    assert statuses[("gone", "present")] == "failed"
    assert statuses[("nulls", "nullable")] == "failed"
    assert statuses[("nulls", "min")] == "passed"  # nothing to compare
    assert statuses[("mixed", "min")] == "error"
    assert statuses[("inf", "max")] == "failed"
    mixed_min = _one(report, "min", "mixed")
    assert "could not run (the column mixes types)" in mixed_min.message
    assert "column 'nulls' is entirely null (3 rows)" in report.notes
    assert "column 'mixed' mixes types: int (1 rows), str (1 rows), float (1 rows)" in report.notes
    assert any("column 'inf' holds 1 infinite value (first at row 1)" in n for n in report.notes)
    json.loads(report.to_json())  # infinities are written as strings
    assert "ERROR mixed" in report.to_text()


def test_unfit_checks_are_errors_that_say_why() -> None:
    df = pd.DataFrame({"n": [1, 2], "s": ["a", "b"]})
    report = check(df, {"columns": {"n": {"regex": "x", "finite": True}, "s": {"min": 0}}})
    assert (
        _one(report, "regex", "n").message == "column 'n': regex needs text; the column holds int64"
    )
    assert _one(report, "min", "s").message == (
        "column 's': min needs numbers or times; the column holds string"
    )
    assert _one(report, "finite", "n").status == "passed"  # integers cannot be infinite
    assert report.summary["error"] == 2


def test_types_follow_arrow_and_accept_what_pandas_does_to_integers() -> None:
    df = pd.DataFrame({"i": [1.0, None, 3.0], "f": [1, 2, 3], "s": ["a", "b", "c"]})
    report = check(
        df, {"columns": {"i": {"type": "int64"}, "f": {"type": "float"}, "s": {"type": "str"}}}
    )
    assert report.passed, report.to_text()
    assert any("holding whole numbers only" in n for n in report.notes)
    table = pa.table({"i": pa.array([1, None, 3], pa.int32()), "t": pa.array([1.0, 2.0, 3.0])})
    arrow = check(table, {"columns": {"i": {"type": "int64"}, "t": {"type": "double"}}})
    i = _one(arrow, "type", "i")
    assert (i.status, i.message) == (
        "failed",
        "column 'i' expected int64, got int32",
    )
    assert _one(arrow, "type", "t").passed


def test_dates_and_times_compare_with_yaml_dates() -> None:
    df = pd.DataFrame({"when": pd.to_datetime(["2023-12-31", "2024-06-01"], utc=True)})
    report = check(df, "columns:\n  when: {min: 2024-01-01, max: 2024-12-31}\n")
    result = _one(report, "min", "when")
    assert (result.failed_rows, result.examples[0]["value"]) == (1, "2023-12-31T00:00:00+00:00")


def test_every_kind_of_data(tmp_path: Path, clean: pd.DataFrame) -> None:
    store: Store = SqlStore(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "art"))
    parquet = tmp_path / "clean.parquet"
    clean.to_parquet(parquet)
    csv = tmp_path / "clean.csv"
    clean.drop(columns="when").to_csv(csv, index=False)
    ds = register(clean, "clean", store=store)
    for data in (pa.Table.from_pandas(clean), parquet, str(parquet), ds, "datasets:/clean@latest"):
        report = check(data, CLEAN_CHECKS, store=store)
        assert report.passed, (data, report.to_text())
    assert check("datasets:/clean/1", {}, store=store).data == "datasets:/clean/1"
    assert check(ds, {}, store=store).data == "datasets:/clean/1"
    assert check(csv, {"columns": {"country": {"allowed": ["DE", "FR", "US"]}}}).passed
    with pytest.raises(InvalidArgument):
        check([1, 2], {})
    store.close()


def test_report_text_and_json(clean: pd.DataFrame) -> None:
    bad = clean.assign(age=[18, -4, 200, -1])
    report = check(bad, CLEAN_CHECKS)
    text = report.to_text()
    assert text.splitlines()[0] == (
        "FAILED: checks on DataFrame (4 rows, 6 columns): 16 checks, 2 failed, 14 passed"
    )
    assert "FAIL  age" in text
    assert "e.g. row 1: -4, row 3: -1" in text
    verbose = report.to_text(verbose=True)
    assert "ok    id" in verbose
    body = json.loads(report.to_json())
    assert body["summary"] == {"checks": 16, "passed": 14, "failed": 2, "error": 0}
    assert [(f["column"], f["check"], f["failed_rows"]) for f in body["failures"]] == [
        ("age", "min", 2),
        ("age", "max", 1),
    ]


# -- infer_checks ------------------------------------------------------------------------------


@pytest.fixture
def sample() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 500
    score = rng.normal(50, 10, n)
    score[::50] = np.nan
    return pd.DataFrame(
        {
            "user_id": np.arange(n) + 1000,
            "age": rng.integers(18, 80, n),
            "score": score,
            "country": rng.choice(["DE", "FR", "US"], n),
            "email": [f"user{i}@example.com" for i in range(n)],
            "active": rng.random(n) > 0.5,
            "empty": [None] * n,
        }
    )


def test_infer_drafts_checks_that_pass_on_their_sample(sample: pd.DataFrame) -> None:
    checks = infer_checks(sample)
    cols = checks["columns"]
    # an identifier: no range (new rows bring new ids), see tests/data/test_idlike.py
    assert cols["user_id"] == {"type": "int64", "nullable": False, "unique": True}
    assert cols["age"]["type"] == "int64"
    assert cols["age"]["min"] <= sample["age"].min() and cols["age"]["min"] >= 0
    assert cols["age"]["max"] >= sample["age"].max()
    assert "unique" not in cols["age"]
    assert cols["score"]["type"] == "float64"
    assert cols["score"]["finite"] is True
    assert cols["score"]["max_null_share"] == 0.04  # 2% observed, doubled
    assert cols["country"]["allowed"] == ["DE", "FR", "US"]
    assert cols["email"]["unique"] is True  # distinct text: id-like
    assert "allowed" not in cols["email"]
    assert cols["active"] == {"type": "bool", "nullable": False}
    assert cols["empty"] == {}  # nothing observed, nothing to check
    assert checks["table"] == {"row_count": {"min": 1}}
    assert check(sample, checks).passed


def test_inferred_yaml_has_comments_and_parses_back(sample: pd.DataFrame) -> None:
    text = infer_checks_yaml(sample)
    assert text.startswith("# Checks drafted by `mloop data infer` from 500 rows of DataFrame.")
    assert "# no nulls in 500 rows" in text
    assert "# observed 10 nulls in 500 rows (2.00%)" in text
    assert "# 3 distinct values in the sample" in text
    assert "# all 500 values distinct; looks like an id" in text
    assert yaml.safe_load(text) == infer_checks(sample)
    assert check(sample, text).passed


def test_infer_samples_large_tables_and_odd_names() -> None:
    df = pd.DataFrame({"odd: name #1": np.arange(2000), "x": np.linspace(-1, 1, 2000)})
    checks = infer_checks(df, sample_rows=100)
    assert "odd: name #1" in checks["columns"]
    text = infer_checks_yaml(df, sample_rows=100)
    assert "a sample of 100 of 2000 rows" in text
    assert yaml.safe_load(text) == checks
    assert checks["columns"]["x"]["min"] <= -0.9 and checks["columns"]["x"]["max"] >= 0.9
    assert infer_checks(pd.DataFrame({"a": pd.Series([], dtype="int64")}))["table"] == {
        "row_count": {"min": 0}
    }


def test_checking_a_registered_version_stores_the_result(
    mloop_home: Path, tmp_path: Path, clean: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    import mloop

    store: Store = SqlStore(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "art"))
    monkeypatch.setattr(getpass, "getuser", lambda: "carol")
    register(clean, "people", store=store)
    v2 = register(clean.assign(age=[18, -4, 200, -1]), "people", store=store)
    parquet = tmp_path / "clean.parquet"
    clean.to_parquet(parquet)

    check(parquet, CLEAN_CHECKS, store=store)  # a file: nothing to store it with
    check("datasets:/people/1", CLEAN_CHECKS, store=store, record=False)
    assert store.list_dataset_checks("people") == []

    passed = check("datasets:/people/1", CLEAN_CHECKS, store=store)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    with mloop.store.use(uri, artifacts=str(tmp_path / "art")), mloop.start_run() as run:
        failed = check("datasets:/people@latest", CLEAN_CHECKS, store=store)
    latest, first = store.list_dataset_checks("people")
    assert (first.version, first.passed, first.num_failed, first.run_id) == (1, True, 0, None)
    assert first.num_checks == passed.summary["checks"]
    assert (latest.version, latest.passed, latest.run_id) == (v2.version, False, run.info.run_id)
    assert failed.data == "datasets:/people/2"  # the version resolved once, checked and stored
    assert latest.num_failed == failed.summary["failed"] > 0
    assert latest.failures == failed.to_dict()["failures"]
    assert latest.actor == first.actor == "carol"
    assert latest.checks == failed.checks
    explicit = "b" * 32
    check(v2, CLEAN_CHECKS, store=store, run_id=explicit)
    assert store.list_dataset_checks("people", 2)[0].run_id == explicit
    store.close()
