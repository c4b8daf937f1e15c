"""The run search language: the parser, its errors, and the SQL it compiles to, run on a real
SQLite file and on the local PostgreSQL."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mloop.errors import InvalidArgument, InvalidFilter
from mloop.store._engine import create_engine
from mloop.store._schema import experiments, latest_metrics, metadata, params, runs, tags
from mloop.store._search import compile_search
from mloop.store._search_parse import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_KEYS,
    And,
    Compare,
    Key,
    Not,
    Or,
    OrderBy,
    parse_filter,
    parse_order_by,
)

POSTGRES_URL = os.environ.get("MLOOP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def metric(name: str, pos: int = 0) -> Key:
    return Key("metric", name, pos)


def param(name: str, pos: int = 0) -> Key:
    return Key("param", name, pos)


def attr(name: str, pos: int = 0) -> Key:
    return Key("attribute", name, pos)


def error_of(text: str) -> InvalidFilter:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    return info.value


# -- parser ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_filter_is_no_condition(text: str) -> None:
    assert parse_filter(text) is None


def test_precedence_not_over_and_over_or() -> None:
    a = Compare(attr("user", 0), "=", "a")
    b = Compare(attr("user", 15), "=", "b")
    c = Compare(attr("user", 34), "=", "c")
    assert parse_filter("user = 'a' or NOT user = 'b' and user = 'c'") == Or((a, And((Not(b), c))))


def test_parentheses_override_precedence() -> None:
    tree = parse_filter("(user = 'a' or user = 'b') and user = 'c'")
    assert isinstance(tree, And)
    assert isinstance(tree.operands[0], Or)
    assert tree.operands[1] == Compare(attr("user", 31), "=", "c")


def test_chains_are_flat() -> None:
    tree = parse_filter("user='a' and user='b' and user='c' or user='d' or user='e'")
    assert isinstance(tree, Or)
    assert len(tree.operands) == 3
    assert isinstance(tree.operands[0], And)
    assert len(tree.operands[0].operands) == 3


def test_not_nests() -> None:
    assert parse_filter("not not status = 'running'") == Not(
        Not(Compare(attr("status", 8), "=", "RUNNING"))
    )


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("metrics.m = 1", "=", 1.0),
        ("metrics.m != 1", "!=", 1.0),
        ("metrics.m <> 1", "!=", 1.0),
        ("metrics.m < 1", "<", 1.0),
        ("metrics.m <= 1", "<=", 1.0),
        ("metrics.m > 1", ">", 1.0),
        ("metrics.m >= 1", ">=", 1.0),
        ("metrics.m>=1", ">=", 1.0),
        ("metrics.m in (1, 2.5, 1)", "IN", (1.0, 2.5)),
        ("metrics.m NOT IN (3)", "NOT IN", (3.0,)),
        ("metrics.m is null", "IS NULL", None),
        ("metrics.m IS NOT NULL", "IS NOT NULL", None),
    ],
)
def test_numeric_operators(text: str, op: str, value: Any) -> None:
    assert parse_filter(text) == Compare(metric("m"), op, value)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("params.p LIKE 'a%'", "LIKE", "a%"),
        ("params.p like 'a%'", "LIKE", "a%"),
        ("params.p ILIKE 'A%'", "ILIKE", "A%"),
        ("params.p not like 'a%'", "NOT LIKE", "a%"),
        ("params.p NOT ILIKE 'a%'", "NOT ILIKE", "a%"),
        ("params.p in ('a', \"b\")", "IN", ("a", "b")),
        ("params.p != 'a'", "!=", "a"),
        ("params.p >= 'a'", ">=", "a"),
    ],
)
def test_string_operators(text: str, op: str, value: Any) -> None:
    assert parse_filter(text) == Compare(param("p"), op, value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0", 0.0),
        ("-3", -3.0),
        ("+3", 3.0),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("-.5", -0.5),
        ("5.", 5.0),
        ("1e-3", 1e-3),
        ("-2.5E+2", -250.0),
        ("1E3", 1000.0),
    ],
)
def test_number_literals(literal: str, value: float) -> None:
    tree = parse_filter(f"metrics.m > {literal}")
    assert isinstance(tree, Compare)
    assert tree.value == value
    assert isinstance(tree.value, float)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'a\\_b'", "a\\_b"),  # other backslashes are kept, for LIKE escapes
        ("''", ""),
        ("'and or not ( ) ,'", "and or not ( ) ,"),
        ("'ünïcödé'", "ünïcödé"),
    ],
)
def test_string_literals(literal: str, value: str) -> None:
    tree = parse_filter(f"tags.t = {literal}")
    assert tree == Compare(Key("tag", "t", 0), "=", value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.acc > 0", metric("acc")),
        ("METRICS.acc > 0", metric("acc")),
        ("metric.acc > 0", metric("acc")),
        ("metrics.val/loss > 0", metric("val/loss")),
        ("metrics.a-b_c.d > 0", metric("a-b_c.d")),
        ("metrics.`val loss` > 0", metric("val loss")),
        ('metrics."val loss" > 0', metric("val loss")),
        ("metrics.`tick``s` > 0", metric("tick`s")),
        ("metrics.Acc > 0", metric("Acc")),  # keys are case-sensitive
        ("params.model.depth = '3'", param("model.depth")),
        ("param.lr = '1'", param("lr")),
        ("Params.lr = '1'", param("lr")),
        ("parameters.lr = '1'", param("lr")),
        ("params.\"learning rate\" = '1'", param("learning rate")),
        ("tags.team = 'a'", Key("tag", "team", 0)),
        ("tag.team = 'a'", Key("tag", "team", 0)),
        ("attributes.run_name = 'a'", attr("run_name")),
        ("attribute.run_name = 'a'", attr("run_name")),
        ("attr.run_name = 'a'", attr("run_name")),
        ("run.run_name = 'a'", attr("run_name")),
        ("run_name = 'a'", attr("run_name")),
        ("RUN_NAME = 'a'", attr("run_name")),
        ("user = 'a'", attr("user")),
        ("run_id = 'a'", attr("run_id")),
        ("parent_run_id = 'a'", attr("parent_run_id")),
        ("end_time > 0", attr("end_time")),
    ],
)
def test_identifiers(text: str, key: Key) -> None:
    tree = parse_filter(text)
    assert isinstance(tree, Compare)
    assert tree.key == key


def test_key_positions() -> None:
    tree = parse_filter("metrics.a > 1 and  params.`b c` = 'x'")
    assert isinstance(tree, And)
    assert [c.key.pos for c in tree.operands if isinstance(c, Compare)] == [0, 19]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("status = 'running'", "RUNNING"),
        ("status = 'Finished'", "FINISHED"),
        ("status != 'FAILED'", "FAILED"),
        ("lifecycle_stage = 'DELETED'", "deleted"),
    ],
)
def test_enum_attributes_are_normalized(text: str, value: str) -> None:
    tree = parse_filter(text)
    assert isinstance(tree, Compare)
    assert tree.value == value


def test_status_in_list_is_normalized() -> None:
    tree = parse_filter("status in ('running', 'killed')")
    assert isinstance(tree, Compare)
    assert tree.value == ("RUNNING", "KILLED")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("start_time > 1700000000000", 1700000000000),
        ("start_time > 1.7e12", 1700000000000),
        ("experiment_id = 3", 3),
        ("experiment_id = '3'", 3),  # experiment ids are strings in the API
    ],
)
def test_integer_attributes(text: str, value: int) -> None:
    tree = parse_filter(text)
    assert isinstance(tree, Compare)
    assert tree.value == value
    assert type(tree.value) is int


def test_order_by_clauses() -> None:
    assert parse_order_by("metrics.acc") == OrderBy(metric("acc"), descending=False)
    assert parse_order_by("metrics.acc ASC") == OrderBy(metric("acc"), descending=False)
    assert parse_order_by("  metrics.`val loss`  desc ") == OrderBy(
        metric("val loss", 2), descending=True
    )
    assert parse_order_by("start_time DESC") == OrderBy(attr("start_time"), descending=True)
    assert parse_order_by("params.model.depth") == OrderBy(param("model.depth"), False)
    assert parse_order_by("tag.team Desc") == OrderBy(Key("tag", "team", 0), True)


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "phrase"),
    [
        (
            "metrics.m0 > 0.5 andd params.p0 = 'a'",
            17,
            "unexpected 'andd' at position 17: expected AND, OR or the end of the filter",
        ),
        (
            "(user = 'a' user = 'b')",
            12,
            "unexpected 'user' at position 12: expected AND, OR or ')'",
        ),
        ("(user = 'a'", 11, "unexpected end of the filter at position 11: expected AND, OR or ')'"),
        ("user = 'a')", 10, "unexpected ')' at position 10: expected AND, OR or the end"),
        ("user = 'a' and", 14, "unexpected end of the filter at position 14: expected a metrics."),
        ("and user = 'a'", 0, "unexpected 'and' at position 0: expected a metrics."),
        ("user 'a'", 5, "unexpected \"'a'\" at position 5: expected an operator (=, !="),
        ("user", 4, "unexpected end of the filter at position 4: expected an operator"),
        ("user == 'a'", 5, "unexpected '==' at position 5: use = to compare"),
        ("user = = 'a'", 7, "unexpected '=' at position 7: expected a quoted string"),
        ("metrics.m >", 11, "unexpected end of the filter at position 11: expected a number"),
        ("user ! 'a'", 5, "unexpected '!' at position 5"),
        ("user = 'a' ; drop table runs", 11, "unexpected character ';' at position 11"),
        ("user = 'abc", 7, "unterminated string at position 7: add the closing '"),
        ('user = "abc', 7, 'unterminated string at position 7: add the closing "'),
        ("metrics.`val loss > 1", 8, "unterminated key at position 8: add the closing `"),
        ("metrics.`` > 1", 8, "empty key at position 8"),
        ("metrics. > 1", 8, "expected a key after 'metrics.' at position 8"),
        ("`run_name` = 'a'", 0, "backticks quote a key after its prefix"),
        ("metricz.a > 1", 0, "unknown prefix 'metricz.' at position 0: expected metrics., params."),
        ("foo = 'a'", 0, "unknown attribute 'foo' at position 0: expected one of run_id"),
        ("attributes.foo = 'a'", 0, "unknown attribute 'foo' at position 0"),
        ("metrics.m = 1abc", 12, "malformed number '1abc' at position 12"),
        ("metrics.m = 1.2.3", 12, "malformed number '1.2.3' at position 12"),
        ("metrics.m = 1e999", 12, "number 1e999 at position 12 is out of range"),
        ("metrics.m = 1" + "0" * 400, 12, "out of range"),
        ("start_time > 1" + "0" * 30, 13, "is too large"),
        ("start_time > 1.5", 13, "start_time is an integer (milliseconds): got 1.5 at position 13"),
        ("user is 'a'", 8, "unexpected \"'a'\" at position 8: expected NULL or NOT NULL"),
        (
            "user is not 'a'",
            12,
            "expected NULL at position"[:0] + "unexpected \"'a'\" at position 12",
        ),
        ("user not = 'a'", 9, "unexpected '=' at position 9: expected IN, LIKE or ILIKE after NOT"),
        ("user in 'a'", 8, "unexpected \"'a'\" at position 8: expected '(' after IN"),
        ("user in ()", 9, "unexpected ')' at position 9: expected a quoted string"),
        ("user in ('a' 'b')", 13, "unexpected \"'b'\" at position 13: expected ',' or ')'"),
        ("user in ('a',)", 13, "unexpected ')' at position 13: expected a quoted string"),
        ("user like", 9, "unexpected end of the filter at position 9: expected a quoted string"),
        ("not", 3, "unexpected end of the filter at position 3"),
        ("()", 1, "unexpected ')' at position 1"),
    ],
)
def test_syntax_errors_name_the_position(text: str, position: int, phrase: str) -> None:
    err = error_of(text)
    assert phrase in err.message
    assert err.details == {"position": position, "filter": text}
    assert isinstance(err, InvalidArgument)


@pytest.mark.parametrize(
    ("text", "position", "phrase"),
    [
        (
            "params.lr = 0.1",
            12,
            "params are strings: quote the value, e.g. params.lr = '0.1'",
        ),
        (
            "params.lr in ('0.1', 2)",
            21,
            "params are strings: quote the value, e.g. params.lr = '2'",
        ),
        ("tags.n = 1", 9, "tags are strings: quote the value, e.g. tags.n = '1'"),
        ("run_name = 7", 11, "run_name is a string: quote the value, e.g. run_name = '7'"),
        (
            "metrics.`val loss` = 'x'",
            21,
            "metrics.`val loss` is numeric: compare it with a number,"
            " e.g. metrics.`val loss` > 0.5; got the string 'x' at position 21",
        ),
        ("metrics.acc in (1, 'a')", 19, "metrics.acc is numeric"),
        ("start_time > 'yesterday'", 13, "start_time is numeric"),
        ("experiment_id = 'abc'", 16, "experiment_id is numeric"),
        ("metrics.acc LIKE '1%'", 12, "LIKE at position 12 needs a string key, but metrics.acc is"),
        ("start_time ilike '1%'", 11, "ILIKE at position 11 needs a string key"),
        ("metrics.acc not like '1%'", 16, "LIKE at position 16 needs a string key"),
        (
            "status = 'done'",
            9,
            "status 'done' at position 9 is not one of RUNNING, FINISHED, FAILED, KILLED",
        ),
        ("status in ('running', 'paused')", 22, "status 'paused' at position 22 is not one of"),
        ("lifecycle_stage = 'gone'", 18, "is not one of active, deleted"),
    ],
)
def test_type_errors_name_the_key(text: str, position: int, phrase: str) -> None:
    err = error_of(text)
    assert phrase in err.message
    assert err.details == {"position": position, "filter": text}


def test_error_shows_a_caret_under_the_position() -> None:
    err = error_of("metrics.m0 > 0.5 andd params.p0 = 'a'")
    assert err.message.splitlines() == [
        "unexpected 'andd' at position 17: expected AND, OR or the end of the filter",
        "  metrics.m0 > 0.5 andd params.p0 = 'a'",
        "                   ^",
    ]


def test_caret_line_of_a_multiline_filter() -> None:
    err = error_of("user = 'a'\n\tand ?")
    lines = err.message.splitlines()
    assert lines[1:] == ["  user = 'a'  and ?", "                  ^"]


def test_caret_window_in_a_long_filter() -> None:
    text = " or ".join(f"user = 'u{i}'" for i in range(60)) + " oops"
    err = error_of(text)
    position = text.index("oops")
    assert err.details["position"] == position
    _, line, caret = err.message.splitlines()
    assert line.startswith("  ...")
    assert len(line) <= 110
    assert line[caret.index("^") :].startswith("oops")


def test_long_word_is_cut_in_the_message() -> None:
    err = error_of("user = 'a' " + "x" * 200)
    assert "unexpected 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' at position 11" in err.message


def test_filter_length_limit() -> None:
    ok = "user = '" + "a" * 9_990 + "'"
    assert len(ok) <= 10_000
    parse_filter(ok)
    err = error_of(ok + " " * (10_001 - len(ok)))
    assert "the filter is 10,001 characters; at most 10,000" in err.message
    assert err.details["position"] == 10_000


def test_nesting_limit() -> None:
    parse_filter("(" * MAX_DEPTH + "user = 'a'" + ")" * MAX_DEPTH)
    text = "(" * (MAX_DEPTH + 1) + "user = 'a'" + ")" * (MAX_DEPTH + 1)
    err = error_of(text)
    assert f"the filter nests deeper than {MAX_DEPTH} levels at position {MAX_DEPTH}" in err.message
    err = error_of("not " * 2_000 + "user = 'a'")
    assert "nests deeper" in err.message


def test_comparison_limit() -> None:
    text = " or ".join(["user = 'a'"] * (MAX_CONDITIONS + 1))
    err = error_of(text)
    assert f"more than {MAX_CONDITIONS} comparisons" in err.message
    assert err.details["position"] == text.rindex("user")


def test_distinct_key_limit_counts_filter_and_order_by() -> None:
    keys = [f"metrics.m{i} > 0" for i in range(MAX_KEYS)]
    compile_search(
        experiment_ids=[],
        stages=("active",),
        filter=" and ".join([*keys, "metrics.m0 < 9"]),  # a repeated key costs nothing
        order_by=["metrics.m1 desc", "start_time"],
    )
    text = " and ".join([*keys, "params.one_too_many = 'x'"])
    with pytest.raises(InvalidFilter) as info:
        compile_search(experiment_ids=[], stages=("active",), filter=text, order_by=[])
    assert "more than 50 distinct metric, param and tag keys" in info.value.message
    assert "params.one_too_many at position" in info.value.message
    assert info.value.details["position"] == text.index("params.one_too_many")
    with pytest.raises(InvalidFilter) as info:
        compile_search(
            experiment_ids=[],
            stages=("active",),
            filter=" and ".join(keys),
            order_by=["tags.extra"],
        )
    assert "invalid order_by clause 'tags.extra'" in info.value.message
    assert info.value.details == {"position": 0, "order_by": "tags.extra"}


@pytest.mark.parametrize(
    ("clause", "position", "phrase"),
    [
        ("metrics.acc sideways", 12, "unexpected 'sideways' at position 12: expected ASC, DESC"),
        ("metrics.acc desc asc", 17, "unexpected 'asc' at position 17"),
        ("", 0, "empty order_by clause"),
        ("   ", 0, "empty order_by clause"),
        ("desc", 0, "unexpected 'desc' at position 0: expected a metrics."),
        ("foo desc", 0, "unknown attribute 'foo'"),
        ("metrics.acc > 1", 12, "unexpected '>' at position 12"),
        ("metrics.`acc", 8, "unterminated key"),
    ],
)
def test_order_by_errors_name_the_clause(clause: str, position: int, phrase: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_order_by(clause)
    assert info.value.message.startswith(f"invalid order_by clause {clause!r}: ")
    assert phrase in info.value.message
    assert info.value.details == {"position": position, "order_by": clause}


def test_compile_reports_the_bad_order_by_clause() -> None:
    with pytest.raises(InvalidFilter, match=r"invalid order_by clause 'metrics\.a upward'"):
        compile_search(
            experiment_ids=[],
            stages=("active",),
            filter="",
            order_by=["start_time", "metrics.a upward"],
        )


# -- compilation -------------------------------------------------------------------------------


def test_one_join_per_distinct_key_shared_with_order_by() -> None:
    stmt = compile_search(
        experiment_ids=[1],
        stages=("active",),
        filter="metrics.acc > 0.5 and (metrics.acc < 0.9 or params.lr = '0.1') and tags.t is null",
        order_by=["metrics.acc desc", "params.lr", "metrics.loss"],
    )
    sql = str(stmt)
    assert sql.count("LEFT OUTER JOIN") == 4
    assert sql.count("JOIN latest_metrics") == 2
    assert sql.count("JOIN params") == 1
    assert sql.count("JOIN tags") == 1


def test_values_are_bound_parameters() -> None:
    stmt = compile_search(
        experiment_ids=[],
        stages=("active",),
        filter="params.`p'; --` = 'x'' OR 1=1 --' and metrics.m > 0.123456",
        order_by=[],
    )
    compiled = stmt.compile()
    assert "OR 1=1" not in str(compiled)
    assert "0.123456" not in str(compiled)
    assert "x' OR 1=1 --" in compiled.params.values()
    assert "p'; --" in compiled.params.values()


# -- real databases ----------------------------------------------------------------------------

# run_pk: (experiment, run_name, status, start_time, end_time, parent, stage, user)
RUNS = {
    1: (1, "baseline", "FINISHED", 1000, 2000, None, "active", "alice"),
    2: (1, "Baseline-v2", "FINISHED", 2000, 3000, None, "active", "bob"),
    3: (1, "tuned_lr", "RUNNING", 3000, None, None, "active", "alice"),
    4: (1, "child", "FAILED", 4000, 4500, "run3", "active", "alice"),
    5: (2, "other experiment", "KILLED", 5000, 5100, None, "active", "carol"),
    6: (1, "deleted one", "FINISHED", 6000, 7000, None, "deleted", "bob"),
    7: (1, "100%_sure", "FINISHED", 3000, 3500, None, "active", "Émile"),
}
PARAMS = {
    1: {"lr": "0.1", "model": "lgbm", "learning rate": "0.1", "model.depth": "3"},
    2: {"lr": "0.01", "model": "LGBM", "model.depth": "10"},
    3: {"lr": "0.001", "model": "xgb"},
    4: {"lr": "0.1", "model": "lgbm"},
    5: {"lr": "0.1", "model": "rf"},
    6: {"lr": "0.1"},
    7: {"lr": "1", "model": "a_b"},
}
NAN = float("nan")
METRICS = {
    1: {"acc": 0.8, "val/loss": 0.5},
    2: {"acc": 0.9, "val/loss": 0.4},
    3: {"acc": NAN, "val/loss": 0.3},
    4: {"val/loss": 0.9},
    5: {"acc": 0.95},
    6: {"acc": 0.99},
    7: {"acc": 0.9, "val loss": -1e-3},
}
TAGS = {
    1: {"team": "ranking", "note": "it's"},
    2: {"team": "search", "note": "a*b"},
    3: {"team": "Ranking", "note": "a[b]"},
    5: {"team": "ranking"},
    7: {"team": "", "note": "a%b"},
}


def populate(engine: sa.Engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(experiments),
            [
                {
                    "experiment_id": i,
                    "name": f"exp{i}",
                    "artifact_location": f"/tmp/{i}",
                    "creation_time": 0,
                    "last_update_time": 0,
                }
                for i in (1, 2)
            ],
        )
        conn.execute(
            sa.insert(runs),
            [
                {
                    "run_pk": pk,
                    "run_id": f"run{pk}",
                    "experiment_id": exp,
                    "run_name": name,
                    "status": status,
                    "start_time": start,
                    "end_time": end,
                    "parent_run_id": parent,
                    "artifact_uri": f"/tmp/{pk}",
                    "lifecycle_stage": stage,
                    "user": user,
                }
                for pk, (exp, name, status, start, end, parent, stage, user) in RUNS.items()
            ],
        )
        conn.execute(
            sa.insert(params),
            [
                {"run_pk": pk, "key": k, "value": v}
                for pk, d in PARAMS.items()
                for k, v in d.items()
            ],
        )
        conn.execute(
            sa.insert(tags),
            [{"run_pk": pk, "key": k, "value": v} for pk, d in TAGS.items() for k, v in d.items()],
        )
        conn.execute(
            sa.insert(latest_metrics),
            [
                # NaN is stored as NULL, as the store does.
                {
                    "run_pk": pk,
                    "key": k,
                    "step": 0,
                    "timestamp": 0,
                    "value": None if math.isnan(v) else v,
                }
                for pk, d in METRICS.items()
                for k, v in d.items()
            ],
        )


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('search') / 'mloop.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgresql_engine() -> Iterator[sa.Engine]:
    """A fresh schema in the local PostgreSQL, dropped afterwards."""
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message + " (set CI=true to make this a failure)")
    schema = f"test_search_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db(request: pytest.FixtureRequest) -> sa.Engine:
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    populate(engine)
    return engine


def search(
    engine: sa.Engine,
    filter: str = "",
    order_by: Sequence[str] = (),
    experiment_ids: Sequence[int] = (),
    stages: tuple[str, ...] = ("active",),
) -> list[int]:
    stmt = compile_search(
        experiment_ids=list(experiment_ids), stages=stages, filter=filter, order_by=list(order_by)
    )
    with engine.connect() as conn:
        return list(conn.scalars(stmt))


# Runs 1-5 and 7 are active; by default newest first: start_time desc, then run_pk desc.
DEFAULT = [5, 4, 7, 3, 2, 1]

FILTERS = [
    ("", DEFAULT),
    ("   ", DEFAULT),
    # metrics: missing keys and NaN (NULL) never compare true
    ("metrics.acc > 0.85", [5, 7, 2]),
    ("metrics.acc >= 0.9", [5, 7, 2]),
    ("metrics.acc < 0.9", [1]),
    ("metrics.acc <= 0.9", [7, 2, 1]),
    ("metrics.acc = 0.9", [7, 2]),
    ("metrics.acc != 0.9", [5, 1]),
    ("metrics.acc <> 0.9", [5, 1]),
    ("metrics.acc in (0.8, 0.95)", [5, 1]),
    ("metrics.acc not in (0.8, 0.95)", [7, 2]),
    ("not metrics.acc > 0.85", [1]),
    ("metrics.acc is null", [4]),  # 3 has the key (NaN)
    ("metrics.acc is not null", [5, 7, 3, 2, 1]),
    ("metrics.val/loss < 0.45", [3, 2]),
    ("metrics.`val loss` < -0.0001", [7]),
    ('metrics."val loss" >= -1e-3', [7]),
    ("metrics.ACC > 0", []),  # keys are case-sensitive
    ("metrics.nope > 0 or metrics.nope < 0", []),
    ("metrics.acc > 1", []),
    ("metrics.acc > -1", [5, 7, 2, 1]),
    # params and tags
    ("params.lr = '0.1'", [5, 4, 1]),
    ("params.lr != '0.1'", [7, 3, 2]),
    ("params.model = 'lgbm'", [4, 1]),
    ("params.model LIKE 'lg%'", [4, 1]),
    ("params.model like 'LG%'", [2]),  # LIKE is case-sensitive everywhere
    ("params.model ILIKE 'lg%'", [4, 2, 1]),
    ("params.model not like 'lg%'", [5, 7, 3, 2]),  # 6 is deleted, so not here
    ("params.model not ilike 'lg%'", [5, 7, 3]),
    ("params.model like '_gbm'", [4, 1]),
    ("params.model like 'a\\_b'", [7]),
    ("params.model like 'a\\%b'", []),
    ("params.model in ('xgb', 'rf')", [5, 3]),
    ("params.model not in ('xgb', 'rf')", [4, 7, 2, 1]),
    ("params.model is null", []),
    ("params.`learning rate` = '0.1'", [1]),
    ("params.model.depth is not null", [2, 1]),
    ("params.model.depth > '2'", [1]),  # strings compare by code point: '10' < '2' < '3'
    ("params.model.depth < '2'", [2]),
    ("tags.team = 'ranking'", [5, 1]),
    ("tags.team ilike 'RANKING'", [5, 3, 1]),
    ("tags.team = ''", [7]),
    ("tags.team is null", [4]),
    ("tags.note = 'it''s'", [1]),
    ('tags.note = "it\'s"', [1]),
    ("tags.note like 'a*b'", [2]),  # GLOB metacharacters are literal
    ("tags.note like 'a[b]'", [3]),
    ("tags.note like 'a?b'", []),
    ("tags.note like 'a_b'", [7, 2]),
    ("tags.note like 'a\\%b'", [7]),
    ("tags.note like '%'", [7, 3, 2, 1]),
    # attributes
    ("status = 'finished'", [7, 2, 1]),
    ("status != 'FINISHED'", [5, 4, 3]),
    ("status in ('running', 'failed')", [4, 3]),
    ("attributes.status not in ('running', 'failed')", [5, 7, 2, 1]),
    ("run_name = 'baseline'", [1]),
    ("run_name ilike '%baseline%'", [2, 1]),
    ("run_name like '%aseline%'", [2, 1]),
    ("run_name like 'B%'", [2]),
    ("run_name like '100\\%%'", [7]),
    ("run_name like '%\\_%'", [7, 3]),
    ("run_name >= 'b'", [5, 4, 3, 1]),  # code points: uppercase and digits sort before 'b'
    ("run_id = 'run3'", [3]),
    ("run_id in ('run1', 'run6', 'nope')", [1]),
    ("user = 'alice'", [4, 3, 1]),
    ("user = 'Émile'", [7]),
    ("user ilike 'ALICE'", [4, 3, 1]),
    ("start_time > 2000", [5, 4, 7, 3]),
    ("start_time >= 2000 and start_time <= 3000", [7, 3, 2]),
    ("start_time = 3000", [7, 3]),
    ("end_time is null", [3]),
    ("end_time < 3000", [1]),
    ("experiment_id = 2", [5]),
    ("experiment_id = '2'", [5]),
    ("experiment_id != 2", [4, 7, 3, 2, 1]),
    ("parent_run_id = 'run3'", [4]),
    ("parent_run_id is not null", [4]),
    ("lifecycle_stage = 'active'", DEFAULT),
    ("lifecycle_stage = 'deleted'", []),
    # boolean structure
    ("params.lr = '0.1' and metrics.acc > 0.85", [5]),
    ("params.lr = '0.1' or metrics.acc > 0.85", [5, 4, 7, 2, 1]),
    ("(params.model = 'xgb' or params.model = 'rf') and status = 'killed'", [5]),
    ("params.model = 'xgb' or params.model = 'rf' and status = 'killed'", [5, 3]),
    ("params.model = 'xgb' or (params.model = 'rf' and status = 'running')", [3]),
    ("not (params.model = 'xgb' or params.model = 'rf')", [4, 7, 2, 1]),
    ("not params.model = 'xgb' and not params.model = 'rf'", [4, 7, 2, 1]),
    ("not not user = 'bob'", [2]),
    ("((user = 'bob'))", [2]),
    ("metrics.acc is null or tags.team is null", [4]),
    ("tags.team = 'ranking' AND metrics.acc > 0.9 OR run_name = 'child'", [5, 4]),
    ("NOT metrics.acc IS NULL AND tags.team LIKE '%ank%'", [5, 3, 1]),
]


@pytest.mark.parametrize(("filter", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filters(db: sa.Engine, filter: str, expected: list[int]) -> None:
    assert search(db, filter) == expected


ORDERS = [
    (["metrics.acc"], [1, 7, 2, 5, 4, 3]),  # 4 lacks acc, 3 is NaN: both last, newest first
    (["metrics.acc desc"], [5, 7, 2, 1, 4, 3]),
    (["metrics.acc DESC", "run_name"], [5, 7, 2, 1, 4, 3]),  # '1' < 'B'
    (["metrics.acc desc", "run_name desc"], [5, 2, 7, 1, 3, 4]),  # ties among the missing too
    (["metrics.val/loss asc"], [3, 2, 1, 4, 5, 7]),
    (["metrics.`val loss` desc"], [7, 5, 4, 3, 2, 1]),
    (["params.lr"], [3, 2, 5, 4, 1, 7]),  # code points: '0.001' < '0.01' < '0.1' < '1'
    (["params.lr desc"], [7, 5, 4, 1, 2, 3]),
    (["params.model.depth"], [2, 1, 5, 4, 7, 3]),  # '10' < '3', the rest lack it
    (["params.model.depth desc"], [1, 2, 5, 4, 7, 3]),
    (["tags.team"], [7, 3, 5, 1, 2, 4]),  # '' < 'Ranking' < 'ranking' < 'search'; 4 lacks it
    (["tags.team desc"], [2, 5, 1, 3, 7, 4]),
    (["start_time"], [1, 2, 7, 3, 4, 5]),
    (["start_time asc", "run_id desc"], [1, 2, 7, 3, 4, 5]),
    (["start_time", "run_id"], [1, 2, 3, 7, 4, 5]),
    (["end_time desc"], [5, 4, 7, 2, 1, 3]),  # 3 has no end time
    (["end_time"], [1, 2, 7, 4, 5, 3]),
    (["user"], [4, 3, 1, 2, 5, 7]),  # 'É' sorts after ASCII letters
    (["status desc", "attributes.run_name"], [3, 5, 7, 2, 1, 4]),
    (["experiment_id desc"], [5, 4, 7, 3, 2, 1]),
    (["attr.experiment_id", "run_pk_is_not_an_attribute"][:1], [4, 7, 3, 2, 1, 5]),
    (["parent_run_id"], [4, 5, 7, 3, 2, 1]),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDERS, ids=[" | ".join(o) for o, _ in ORDERS])
def test_order_by(db: sa.Engine, order_by: list[str], expected: list[int]) -> None:
    assert search(db, order_by=order_by) == expected


def test_filter_and_order_by_share_a_key(db: sa.Engine) -> None:
    assert search(db, "metrics.acc >= 0.8", ["metrics.acc desc"]) == [5, 7, 2, 1]
    assert search(db, "params.lr = '0.1'", ["metrics.acc"]) == [1, 5, 4]


def test_experiments_and_stages(db: sa.Engine) -> None:
    assert search(db, experiment_ids=[2]) == [5]
    assert search(db, experiment_ids=[1]) == [4, 7, 3, 2, 1]
    assert search(db, experiment_ids=[1, 2]) == DEFAULT
    assert search(db, experiment_ids=[3]) == []
    assert search(db, stages=("deleted",)) == [6]
    assert search(db, stages=("active", "deleted")) == [6, *DEFAULT]
    assert search(db, "params.lr = '0.1'", stages=("active", "deleted")) == [6, 5, 4, 1]
    assert search(db, "metrics.acc > 0.9", ["metrics.acc"], [1], ("active", "deleted")) == [6]


def test_offset_pagination_is_stable(db: sa.Engine) -> None:
    stmt = compile_search(
        experiment_ids=[], stages=("active", "deleted"), filter="", order_by=["params.lr"]
    )
    with db.connect() as conn:
        everything = list(conn.scalars(stmt))
        pages = [list(conn.scalars(stmt.limit(2).offset(i))) for i in range(0, 8, 2)]
    assert [pk for page in pages for pk in page] == everything
    assert sorted(everything) == list(range(1, 8))


def test_injection_attempts_are_plain_values(db: sa.Engine) -> None:
    assert search(db, "run_name = 'x'' OR ''1''=''1'") == []
    assert search(db, "params.`lr'); DROP TABLE runs; --` = 'x'") == []
    assert search(db) == DEFAULT


def test_fifty_keys_in_one_query(db: sa.Engine) -> None:
    keys = [f"metrics.m{i} is null" for i in range(MAX_KEYS - 1)]
    assert search(db, " and ".join(keys), ["params.lr desc"]) == [7, 5, 4, 1, 2, 3]


def test_the_largest_filter_runs(db: sa.Engine) -> None:
    many = " or ".join(f"start_time = {i}" for i in range(MAX_CONDITIONS - 1))
    assert search(db, many + " or user = 'bob'") == [2]
    # The deepest nestings the parser allows still compile and run (SQLite's parser stack is
    # the tightest limit).
    nested = "user = 'bob'"
    for i in range(MAX_DEPTH):
        nested = f"(user = 'u{i}' {'or' if i % 2 else 'and'} {nested})"
    assert search(db, nested) == []
    nested = "user = 'bob'"
    for i in range(MAX_DEPTH // 2):
        nested = f"not (user = 'u{i}' or {nested})"
    assert search(db, nested) == [5, 4, 7, 3, 1]  # 15 NOTs: user != 'bob'
    nested = "user = 'bob'"
    for _ in range(MAX_DEPTH // 3):
        nested = f"(user = 'u' or not ({nested} and user = 'bob'))"
    assert search(db, nested) == DEFAULT  # X -> NOT (X AND bob): bob, not bob, true, ...
    assert search(db, f"user in ({', '.join(repr(str(i)) for i in range(1_000))}, 'bob')") == [2]


# -- speed -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_runs_are_searched_by_index(tmp_path: Path) -> None:
    n_runs, n_keys = 10_000, 10
    engine = create_engine(f"sqlite:///{tmp_path / 'big.db'}")
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(experiments),
                [
                    {
                        "experiment_id": 1,
                        "name": "e",
                        "artifact_location": "/a",
                        "creation_time": 0,
                        "last_update_time": 0,
                    }
                ],
            )
            conn.execute(
                sa.insert(runs),
                [
                    {
                        "run_pk": pk,
                        "run_id": f"{pk:032x}",
                        "experiment_id": 1,
                        "run_name": f"run {pk}",
                        "status": "FINISHED",
                        "start_time": pk * 1000,
                        "artifact_uri": "/a",
                    }
                    for pk in range(1, n_runs + 1)
                ],
            )
            conn.execute(
                sa.insert(params),
                [
                    {"run_pk": pk, "key": f"p{k}", "value": "abcd"[(pk * 7 + k) % 4]}
                    for pk in range(1, n_runs + 1)
                    for k in range(n_keys)
                ],
            )
            conn.execute(
                sa.insert(latest_metrics),
                [
                    {
                        "run_pk": pk,
                        "key": f"m{k}",
                        "step": 0,
                        "timestamp": 0,
                        "value": ((pk * 7919 + k * 104729) % 10_007) / 10_007,
                    }
                    for pk in range(1, n_runs + 1)
                    for k in range(n_keys)
                ],
            )
        stmt = compile_search(
            experiment_ids=[1],
            stages=("active",),
            filter="metrics.m0 > 0.5 and params.p0 = 'a'",
            order_by=["metrics.m0 desc"],
        ).limit(100)

        compiled = stmt.compile(engine, compile_kwargs={"render_postcompile": True})
        bound = tuple(compiled.params[name] for name in compiled.positiontup or ())
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", bound)
            plan = "\n".join(str(row[-1]) for row in rows)
            got = list(conn.scalars(stmt))
    finally:
        engine.dispose()

    # How long it takes is a benchmark: benchmarks/tracking.py, "search 10,000 runs".
    def m0(pk: int) -> float:
        return (pk * 7919 % 10_007) / 10_007

    matching = [pk for pk in range(1, n_runs + 1) if m0(pk) > 0.5 and pk * 7 % 4 == 0]
    assert got == sorted(matching, key=m0, reverse=True)[:100]
    # No table is scanned: SQLite walks the (key, value) index for the metric range, then finds
    # each run by its primary key and its param by the (run_pk, key) primary key.
    assert "SCAN" not in plan
    assert "SEARCH param_1 USING INDEX sqlite_autoindex_params_1 (run_pk=? AND key=?)" in plan
    assert "SEARCH metric_0 USING INDEX" in plan


ORDERED = [
    ("metrics.acc > 0.85", ["metrics.acc desc"]),
    ("metrics.acc >= 0.8 and params.lr = '0.1'", ["metrics.acc"]),
    ("params.lr != '0.1' and metrics.acc < 1", ["params.lr desc", "run_name"]),
    ("tags.team ilike 'RANKING' and metrics.acc > 0", ["tags.team"]),
    ("metrics.acc > 0.5 and (params.model = 'xgb' or params.model is null)", ["metrics.acc"]),
    ("not metrics.acc > 0.85 and metrics.acc > 0", ["metrics.acc desc", "start_time"]),
    ("params.model in ('xgb', 'rf', 'lgbm') and tags.team != 'x'", ["params.model"]),
]


@pytest.mark.parametrize(("filter", "order_by"), ORDERED, ids=[f for f, _ in ORDERED])
def test_a_scan_in_order_key_order_finds_the_same_runs(
    db: sa.Engine, filter: str, order_by: list[str]
) -> None:
    from mloop.store._search import ordered_scan

    assert ordered_scan(filter, order_by)
    plain = search(db, filter, order_by, stages=("active", "deleted"))
    stmt = compile_search(
        experiment_ids=[],
        stages=("active", "deleted"),
        filter=filter,
        order_by=order_by,
        ordered=True,
    )
    with db.connect() as conn:
        assert list(conn.scalars(stmt)) == plain
        assert plain  # each case matches some runs
        pages = [list(conn.scalars(stmt.limit(2).offset(i))) for i in range(0, len(plain), 2)]
    assert [pk for page in pages for pk in page] == plain


@pytest.mark.parametrize(
    ("filter", "order_by"),
    [
        ("metrics.acc is not null", ["metrics.acc"]),  # present, but maybe NaN
        ("metrics.acc > 0 or params.lr = '1'", ["metrics.acc"]),
        ("metrics.acc > 0", ["params.lr"]),
        ("metrics.acc > 0", ["start_time"]),
        ("", ["metrics.acc"]),
        ("metrics.acc > 0", []),
    ],
)
def test_no_scan_in_order_key_order_when_a_run_may_lack_the_key(
    filter: str, order_by: list[str]
) -> None:
    from mloop.store._search import ordered_scan

    assert not ordered_scan(filter, order_by)


def test_a_scan_in_order_key_order_leads_with_that_key_on_sqlite(tmp_path: Path) -> None:
    from sqlalchemy.dialects import sqlite

    stmt = compile_search(
        experiment_ids=[1],
        stages=("active",),
        filter="metrics.m0 > 0.5 and params.p0 = 'a'",
        order_by=["metrics.m0 desc"],
        ordered=True,
    )
    sql = str(stmt.compile(dialect=sqlite.dialect()))
    assert "FROM latest_metrics AS metric_0 CROSS JOIN runs ON" in sql
    assert "CROSS JOIN params AS param_1 ON" in sql
    assert "IS NULL" not in sql  # no run without m0 matches: nothing to sort last
