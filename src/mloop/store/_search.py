"""The run search language, parsed by hand and compiled to one SQL query.

A filter is a boolean expression over a run's metrics, params, tags and attributes::

    metrics.auc > 0.9 and params.model = 'lgbm'
    (tags.team = 'ranking' or tags.team IS NULL) and NOT status IN ('FAILED', 'KILLED')
    metrics.`val loss` <= 1e-3 and run_name ILIKE '%baseline%'

Precedence is ``NOT`` > ``AND`` > ``OR``; keywords and prefixes are case-insensitive, keys are not.
Comparisons follow SQL: a comparison with a key the run lacks (or a NaN metric, stored as NULL) is
false, and so is its negation; ``IS NULL`` / ``IS NOT NULL`` test whether the run has the key.

In string literals a backslash escapes a quote or a backslash (``'it\\'s'``), and a doubled quote
stands for itself (``'it''s'``); any other backslash is kept, so ``LIKE 'a\\_b'`` matches a literal
underscore. ``LIKE`` is case-sensitive on every database (SQLite runs it as ``GLOB``), ``ILIKE`` is
not. String comparisons and ordering compare code points on every database (``COLLATE "C"`` on
PostgreSQL), so SQLite and PostgreSQL return the same runs in the same order.

Every metric, param or tag key becomes one ``LEFT OUTER JOIN`` on the table's primary key
``(run_pk, key)``, shared by the filter and the order-by clauses; values are bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Join

from mloop.errors import InvalidFilter
from mloop.store._schema import latest_metrics, params, runs, tags
from mloop.store._search_parse import (
    MAX_KEYS,
    MAX_ORDER_BY,
    And,
    Compare,
    Key,
    Node,
    Not,
    Or,
    _Source,
    parse_filter,
    parse_order_by,
)

__all__ = ["compile_search", "ordered_scan", "parse_filter", "parse_order_by"]


# -- SQL ---------------------------------------------------------------------------------------


class _binary(FunctionElement[str]):
    """A string column compared by code point on every database (SQLite's default BINARY)."""

    type = sa.Text()
    inherit_cache = True
    name = "mloop_binary"


@compiles(_binary)
def _binary_default(element: _binary, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_binary, "postgresql")
def _binary_postgresql(element: _binary, compiler: SQLCompiler, **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "C"'


class _like(FunctionElement[bool]):
    """Case-sensitive LIKE with backslash escapes; SQLite's LIKE ignores case, so GLOB there.

    Arguments: the column, the LIKE pattern, the equivalent GLOB pattern.
    """

    type = sa.Boolean()
    inherit_cache = True
    name = "mloop_like"


@compiles(_like)
def _like_default(element: _like, compiler: SQLCompiler, **kw: Any) -> str:
    col, like, _glob = element.clauses
    return f"({compiler.process(col, **kw)} LIKE {compiler.process(like, **kw)} ESCAPE '\\')"


@compiles(_like, "sqlite")
def _like_sqlite(element: _like, compiler: SQLCompiler, **kw: Any) -> str:
    col, _like_pattern, glob = element.clauses
    return f"({compiler.process(col, **kw)} GLOB {compiler.process(glob, **kw)})"


def _like_patterns(pattern: str) -> tuple[str, str]:
    """The LIKE pattern (escape character backslash) and the GLOB pattern that match the same.

    In the filter, ``%`` and ``_`` are wildcards and a backslash makes the next character
    literal; a trailing backslash is literal.
    """
    like: list[str] = []
    glob: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            c = pattern[i]
        elif c == "%":
            like.append("%")
            glob.append("*")
            i += 1
            continue
        elif c == "_":
            like.append("_")
            glob.append("?")
            i += 1
            continue
        like.append("\\" + c if c in "%_\\" else c)
        glob.append(f"[{c}]" if c in "*?[" else c)
        i += 1
    return "".join(like), "".join(glob)


class _FixedJoin(Join):
    """An inner join that SQLite may not reorder (``CROSS JOIN ... ON``): its left side is the
    outer loop. Elsewhere a plain ``JOIN``."""

    inherit_cache = True


@compiles(_FixedJoin)
def _fixed_join_default(element: _FixedJoin, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.visit_join(element, **kw))  # type: ignore[no-untyped-call]


@compiles(_FixedJoin, "sqlite")
def _fixed_join_sqlite(element: _FixedJoin, compiler: SQLCompiler, **kw: Any) -> str:
    kw["asfrom"] = True
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    assert element.onclause is not None
    on = compiler.process(element.onclause, **kw)
    return f"{left} CROSS JOIN {right} ON {on}"


class _Joins:
    """One aliased LEFT OUTER JOIN per distinct (kind, key), in order of first reference."""

    _tables = {"metric": latest_metrics, "param": params, "tag": tags}

    def __init__(self) -> None:
        self.aliases: dict[tuple[str, str], sa.FromClause] = {}

    def get(self, key: Key) -> sa.FromClause:
        found = self.aliases.get((key.kind, key.name))
        if found is None:
            name = f"{key.kind}_{len(self.aliases)}"
            found = self.aliases[(key.kind, key.name)] = self._tables[key.kind].alias(name)
        return found

    def apply(
        self, first: tuple[str, str] | None = None, required: Set[tuple[str, str]] = frozenset()
    ) -> sa.FromClause:
        """The runs joined with every key's table; with ``first``, that key's table is the
        outer loop (an inner join: the filter requires the key), then the runs, then the other
        ``required`` keys' tables, in that order."""
        joined: sa.FromClause = runs
        if first is not None:
            lead = self.aliases[first]
            on = sa.and_(lead.c.key == first[1], lead.c.run_pk == runs.c.run_pk)
            joined = _FixedJoin(lead, runs, on)
        for (kind, name), alias in self.aliases.items():
            on = sa.and_(alias.c.run_pk == runs.c.run_pk, alias.c.key == name)
            if (kind, name) == first:
                continue
            if first is not None and (kind, name) in required:
                # Inner, and in place: SQLite would otherwise start from this key again.
                joined = _FixedJoin(joined, alias, on)
            else:
                joined = joined.outerjoin(alias, on)
        return joined


def _column(key: Key, joins: _Joins) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[bool]]:
    """The value to compare, and the test that the run has the key."""
    if key.kind == "attribute":
        col: sa.ColumnElement[Any] = runs.c[key.name]
        return col, col.is_not(None)
    alias = joins.get(key)
    return alias.c.value, alias.c.run_pk.is_not(None)


def _condition(node: Node, joins: _Joins) -> sa.ColumnElement[bool]:
    if isinstance(node, And):
        return sa.and_(*(_condition(n, joins) for n in node.operands))
    if isinstance(node, Or):
        return sa.or_(*(_condition(n, joins) for n in node.operands))
    if isinstance(node, Not):
        return sa.not_(_condition(node.operand, joins))
    col, present = _column(node.key, joins)
    op, value = node.op, node.value
    if op == "IS NULL":
        return sa.not_(present)
    if op == "IS NOT NULL":
        return present
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        return col.in_(value) if op == "IN" else col.not_in(value)
    assert value is not None
    assert not isinstance(value, tuple)
    if op in ("LIKE", "NOT LIKE"):
        like, glob = _like_patterns(str(value))
        cond: sa.ColumnElement[bool] = _like(col, sa.literal(like), sa.literal(glob))
        return cond if op == "LIKE" else sa.not_(cond)
    if op in ("ILIKE", "NOT ILIKE"):
        like, _glob = _like_patterns(str(value))
        cond = sa.func.lower(col).like(sa.func.lower(sa.literal(like)), escape="\\")
        return cond if op == "ILIKE" else sa.not_(cond)
    if op in ("<", "<=", ">", ">=") and node.key.type == "string":
        col = _binary(col)
    return {
        "=": col.__eq__,
        "!=": col.__ne__,
        "<": col.__lt__,
        "<=": col.__le__,
        ">": col.__gt__,
        ">=": col.__ge__,
    }[op](value)


def _keys(node: Node | None) -> list[Key]:
    """The metric, param and tag keys a filter refers to, in order of appearance."""
    if node is None:
        return []
    if isinstance(node, Compare):
        return [node.key] if node.key.kind != "attribute" else []
    if isinstance(node, Not):
        return _keys(node.operand)
    return [k for n in node.operands for k in _keys(n)]


def _required(node: Node | None) -> set[tuple[str, str]]:
    """The (kind, name) of the keys whose value every matching run has, not null: those
    compared (any operator but ``IS [NOT] NULL``) in a top-level ``AND`` of the filter. A
    comparison with a missing key or a NULL (NaN) value is false, negated or not."""
    if isinstance(node, And):
        return {k for n in node.operands for k in _required(n)}
    if (
        isinstance(node, Compare)
        and node.key.kind != "attribute"
        and node.op not in ("IS NULL", "IS NOT NULL")
    ):
        return {(node.key.kind, node.key.name)}
    return set()


def ordered_scan(filter: str, order_by: Sequence[str]) -> bool:
    """Whether :func:`compile_search` can start from the first order-by key's index
    (``ordered=True``): that key is a metric, param or tag the filter requires."""
    if not order_by:
        return False
    first = parse_order_by(order_by[0]).key
    return first.kind != "attribute" and (first.kind, first.name) in _required(parse_filter(filter))


def compile_search(
    *,
    experiment_ids: Sequence[int],
    stages: Sequence[str],
    filter: str,
    order_by: Sequence[str],
    ordered: bool = False,
) -> sa.Select[tuple[int]]:
    """A SELECT of ``runs.run_pk`` for the runs in ``experiment_ids`` (all when empty) whose
    lifecycle stage is in ``stages`` and that match ``filter``, ordered by ``order_by`` then
    ``start_time DESC, run_pk DESC`` — a total order, so offset pagination is stable. Runs that
    lack an order-by key (or hold NaN) come last in either direction. The caller adds
    ``.limit()`` / ``.offset()``.

    Example::

        stmt = compile_search(experiment_ids=[1], stages=("active",),
                              filter="metrics.auc > 0.9", order_by=["metrics.auc DESC"])
        run_pks = conn.scalars(stmt.limit(10)).all()

    With ``ordered`` (see :func:`ordered_scan`), the first order-by key's table leads the
    join (on SQLite, a ``CROSS JOIN``, which its planner keeps in place): the runs are visited
    in that key's index order, so a page stops after its last row instead of sorting every
    match. That wins when many runs match and loses when another condition matches few, so
    the store bounds its cost (``SqlStore``). The rows and their order are the same.

    Raises:
        InvalidFilter: the filter or an order-by clause does not parse, or together they refer
            to more than 50 distinct metric, param and tag keys.
    """
    tree = parse_filter(filter)
    required = _required(tree)
    if len(order_by) > MAX_ORDER_BY:
        raise InvalidFilter(
            f"order_by has {len(order_by)} clauses; at most {MAX_ORDER_BY}",
            details={"position": 0, "order_by": list(order_by[:MAX_ORDER_BY])},
        )
    orders = [parse_order_by(clause) for clause in order_by]

    distinct: set[tuple[str, str]] = set()
    for key in _keys(tree):
        distinct.add((key.kind, key.name))
        if len(distinct) > MAX_KEYS:
            raise _Source(filter, "filter", "filter").error(
                key.pos,
                f"the filter refers to more than {MAX_KEYS} distinct metric, param and tag keys"
                f" ({key} at position {key.pos} is one too many)",
            )
    for clause, order in zip(order_by, orders, strict=True):
        if order.key.kind != "attribute":
            distinct.add((order.key.kind, order.key.name))
        if len(distinct) > MAX_KEYS:
            raise _Source(clause, "order_by clause", "order_by").error(
                order.key.pos,
                f"the filter and order_by refer to more than {MAX_KEYS} distinct metric, param"
                " and tag keys",
            )

    joins = _Joins()
    conditions: list[sa.ColumnElement[bool]] = [runs.c.lifecycle_stage.in_(list(stages))]
    if experiment_ids:
        conditions.append(runs.c.experiment_id.in_(list(experiment_ids)))
    if tree is not None:
        conditions.append(_condition(tree, joins))

    ordering: list[sa.ColumnElement[Any]] = []
    for order in orders:
        col, _present = _column(order.key, joins)
        if (order.key.kind, order.key.name) in required:
            pass  # no run without a value matches: nothing to put last
        elif order.key.kind != "attribute" or runs.c[order.key.name].nullable:
            # NULLS LAST in both directions, portably: false (0) sorts before true (1).
            ordering.append(col.is_(None))
        if order.key.type == "string":
            col = _binary(col)
        ordering.append(col.desc() if order.descending else col.asc())
    ordering += [runs.c.start_time.desc(), runs.c.run_pk.desc()]

    first: tuple[str, str] | None = None
    if ordered and orders:
        key = orders[0].key
        if key.kind != "attribute" and (key.kind, key.name) in required:
            first = (key.kind, key.name)
    return (
        sa.select(runs.c.run_pk)
        .select_from(joins.apply(first, required))
        .where(*conditions)
        .order_by(*ordering)
    )
