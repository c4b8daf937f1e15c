"""The screen views of ``SqlStore``: the runs table, run keys and chart series (see
:mod:`._views_base`).

The table runs the search once for the page's run keys, then reads each kind of column with one
query per 5,000 runs on the tables' primary keys ``(run_pk, key)``; a page of 10,000 runs with 20
columns is a handful of indexed queries, not 10,000 run loads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import sqlalchemy as sa

from mloop.store import _schema as t
from mloop.store._downsample import downsample_indices, exact_buckets
from mloop.store._entities import MetricHistory, ModelVersion, ViewType
from mloop.store._paging import decode_token, encode_token, fingerprint
from mloop.store._search import compile_search
from mloop.store._sqldb import Database, run_row
from mloop.store._views_base import (
    RUN_ATTRIBUTES,
    MetricSeries,
    RunKeys,
    RunTable,
    XAxis,
    encode_values,
    thin_series,
)

#: Runs per ``IN (...)`` list: under SQLite's limit of bound parameters with room to spare.
_CHUNK = 5_000


def _chunks(items: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class SqlViews:
    """The screen views, a part of ``SqlStore`` on its database handle.

    Args:
        db: the store's database handle.
        experiment_pk: an experiment id -> its integer key (ExperimentNotFound otherwise).
        metric_history: a run's whole history of one key (RunNotFound otherwise).
        load_versions: the registry's reader of model versions (conn, name, where).
    """

    def __init__(
        self,
        db: Database,
        *,
        experiment_pk: Callable[[str], int],
        metric_history: Callable[[str, str], MetricHistory],
        load_versions: Callable[[sa.Connection, str, Any], list[ModelVersion]],
    ) -> None:
        self.db = db
        self._experiment_pk = experiment_pk
        self._get_metric_history = metric_history
        self._load_versions = load_versions

    def search_run_table(
        self,
        experiment_ids: list[str],
        filter: str,
        order_by: list[str],
        metrics: list[str],
        params: list[str],
        tags: list[str],
        max_results: int,
        page_token: str | None,
        view: ViewType,
    ) -> RunTable:
        exp_pks = [self._experiment_pk(e) for e in experiment_ids]
        search_key = fingerprint(exp_pks, filter, order_by, view)
        offset = decode_token(page_token, search_key) if page_token else 0
        query = compile_search(
            experiment_ids=exp_pks, stages=view.stages(), filter=filter, order_by=order_by
        )
        r = t.runs.c
        attribute_columns = [r.run_pk, *(r[name] for name in RUN_ATTRIBUTES)]
        with self.db.read("reading a runs table") as conn:
            pks = list(conn.execute(query.limit(max_results + 1).offset(offset)).scalars())
            more = len(pks) > max_results
            pks = pks[:max_results]
            row_of = {pk: i for i, pk in enumerate(pks)}
            n = len(pks)
            attributes: dict[str, list[Any]] = {name: [None] * n for name in RUN_ATTRIBUTES}
            columns = [attributes[name] for name in RUN_ATTRIBUTES]
            for chunk in _chunks(pks):
                for row in conn.execute(sa.select(*attribute_columns).where(r.run_pk.in_(chunk))):
                    i = row_of[row[0]]
                    for col, value in zip(columns, row[1:], strict=True):
                        col[i] = value
            attributes["experiment_id"] = [str(e) for e in attributes["experiment_id"]]
            values = {
                kind: self._table_values(conn, table, keys, pks, row_of)
                for kind, table, keys in (
                    ("metrics", t.latest_metrics, metrics),
                    ("params", t.params, params),
                    ("tags", t.tags, tags),
                )
            }
        token = encode_token(offset + max_results, search_key) if more else None
        return RunTable.model_construct(
            attributes=attributes,
            metrics={k: encode_values(v) for k, v in values["metrics"].items()},
            params=values["params"],
            tags=values["tags"],
            next_page_token=token,
        )

    def _table_values(
        self,
        conn: sa.Connection,
        table: sa.Table,
        keys: list[str],
        pks: list[int],
        row_of: dict[int, int],
    ) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {key: [None] * len(pks) for key in keys}
        if not keys:
            return out
        c = table.c
        for chunk in _chunks(pks):
            stmt = sa.select(c.run_pk, c.key, c.value).where(c.run_pk.in_(chunk), c.key.in_(keys))
            for pk, key, value in conn.execute(stmt):
                # A NULL metric value is a NaN point (SQLite has no NaN).
                out[key][row_of[pk]] = float("nan") if value is None else value
        return out

    def list_run_keys(self, experiment_ids: list[str], view: ViewType) -> RunKeys:
        exp_pks = [self._experiment_pk(e) for e in experiment_ids]
        r = t.runs.c
        where = [r.lifecycle_stage.in_(view.stages())]
        if exp_pks:
            where.append(r.experiment_id.in_(exp_pks))
        found: dict[str, list[str]] = {}
        with self.db.read("listing run keys") as conn:
            for kind, table in (
                ("metrics", t.latest_metrics),
                ("params", t.params),
                ("tags", t.tags),
            ):
                stmt = (
                    sa.select(table.c.key)
                    .distinct()
                    .select_from(table.join(t.runs, table.c.run_pk == r.run_pk))
                    .where(*where)
                )
                found[kind] = sorted(conn.execute(stmt).scalars())
        return RunKeys(**found)

    def get_metric_histories(
        self,
        run_ids: list[str],
        keys: list[str],
        max_points: int | None,
        x_axis: XAxis,
        x_min: int | None,
        x_max: int | None,
    ) -> list[MetricSeries]:
        if max_points is None:
            out: list[MetricSeries] = []
            for run_id in run_ids:
                for key in keys:
                    history = self._get_metric_history(run_id, key)  # RunNotFound
                    if len(history):
                        out.append(thin_series(run_id, history, None, x_axis, x_min, x_max))
            return out
        with self.db.read("reading metric histories") as conn:
            pks = [(run_id, int(run_row(conn, run_id).run_pk)) for run_id in run_ids]
            return [
                series
                for run_id, run_pk in pks
                for key in keys
                if (
                    series := _thin_in_sql(
                        conn, run_id, run_pk, key, max_points, x_axis, x_min, x_max
                    )
                )
                is not None
            ]

    def get_run_outputs(self, run_id: str) -> list[ModelVersion]:
        v, m = t.model_versions.c, t.registered_models.c
        with self.db.read("reading a run's model versions") as conn:
            run_row(conn, run_id)  # RunNotFound
            models = conn.execute(
                sa.select(m.model_pk, m.name)
                .distinct()
                .select_from(t.model_versions.join(t.registered_models, v.model_pk == m.model_pk))
                .where(v.run_id == run_id)
                .order_by(m.name)
            ).all()
            return [
                version
                for model_pk, name in models
                for version in self._load_versions(
                    conn, name, sa.and_(v.model_pk == model_pk, v.run_id == run_id)
                )
            ]


def _thin_in_sql(
    conn: sa.Connection,
    run_id: str,
    run_pk: int,
    key: str,
    buckets: int,
    x_axis: XAxis,
    x_min: int | None,
    x_max: int | None,
) -> MetricSeries | None:
    """One series thinned by the database: it groups the points by x bucket and returns only
    the rows at a bucket's minimum or maximum (or NaN, or the first or last point), so a
    100,000-point series crosses into Python as about ``2 * buckets`` rows. The last pick per
    bucket is :func:`downsample_indices`, the same as for a series read whole. None when the
    run never logged ``key``."""
    if x_axis is XAxis.STEP and conn.dialect.name == "sqlite":
        found = _thin_by_step_sqlite(conn, run_id, run_pk, key, buckets, x_min, x_max)
        if found is not _GENERIC:
            return found  # type: ignore[return-value]
    x, other = ("step", '"timestamp"') if x_axis is XAxis.STEP else ('"timestamp"', "step")
    where = "run_pk = :r AND key = :k"
    params: dict[str, Any] = {"r": run_pk, "k": key}
    if x_min is not None:
        where += f" AND {x} >= :lo"
        params["lo"] = x_min
    if x_max is not None:
        where += f" AND {x} <= :hi"
        params["hi"] = x_max
    count, x0, x1 = conn.execute(
        sa.text(f"SELECT COUNT(*), MIN({x}), MAX({x}) FROM metrics WHERE {where}"), params
    ).one()
    if not count:
        exists = conn.execute(
            sa.text("SELECT 1 FROM metrics WHERE run_pk = :r AND key = :k LIMIT 1"),
            {"r": run_pk, "k": key},
        ).first()
        if exists is None:
            return None
        empty = np.zeros(0, dtype=np.int64)
        return MetricSeries(run_id, key, empty, empty, np.zeros(0), total=0, sampled=False)
    columns = 'm.step, m."timestamp", coalesce(m.value, 0.0), m.value IS NULL'
    small = count <= 2 * buckets or not exact_buckets(int(x0), int(x1), buckets)
    if small:
        # Few enough to send whole (or a span too wide for exact integer buckets: numpy's
        # float buckets then pick from every point).
        sql = f"SELECT {columns} FROM metrics m WHERE {where} ORDER BY m.{x}, m.{other}"
    else:
        # One pass with window aggregates: a join back to a grouped CTE was planned by
        # PostgreSQL as a nested loop re-aggregating per row (97 s for 20,000 points).
        bucket = f"(({x} - :x0) * :n) / :span"
        # PostgreSQL keeps NaN as a value above every other (and MAX would pick it); a NaN is
        # a gap, as NULL is (SQLite stores NaN as NULL).
        pg = conn.dialect.name == "postgresql"
        real = "NULLIF(value, 'NaN'::float8)" if pg else "value"
        real_m = "NULLIF(m.value, 'NaN'::float8)" if pg else "m.value"
        sql = (
            f'SELECT {columns} FROM (SELECT step, "timestamp", value,'
            f" MIN({real}) OVER w AS lo_v, MAX({real}) OVER w AS hi_v"
            f" FROM metrics WHERE {where} WINDOW w AS (PARTITION BY {bucket})) m"
            f" WHERE m.value = m.lo_v OR m.value = m.hi_v OR {real_m} IS NULL"
            f" OR m.{x} = :x0 OR m.{x} = :x1"
            f" ORDER BY m.{x}, m.{other}"
        )
        params.update(x0=int(x0), x1=int(x1), n=buckets, span=int(x1) - int(x0) + 1)
    rows = conn.execute(sa.text(sql), params).all()
    arr = np.array(rows, dtype=np.float64).reshape(len(rows), 4) if rows else np.zeros((0, 4))
    steps = np.array([r[0] for r in rows], dtype=np.int64)
    stamps = np.array([r[1] for r in rows], dtype=np.int64)
    values = arr[:, 2].copy()
    values[arr[:, 3].astype(bool)] = np.nan
    xs = steps if x_axis is XAxis.STEP else stamps
    if count > 2 * buckets:
        keep = downsample_indices(xs, values, buckets, always=not small)
        steps, stamps, values = steps[keep], stamps[keep], values[keep]
    return MetricSeries(
        run_id, key, steps, stamps, values, total=int(count), sampled=len(values) < count
    )


#: Returned by :func:`_thin_by_step_sqlite` when the generic query must do the work.
_GENERIC = object()

#: Per bucket (a step range): the point at the lowest value, the point at the highest, and how
#: many points the bucket holds. Each half is a seek into ``ix_metrics_run_key_step`` and a scan
#: of that range alone; SQLite's bare columns with a single MIN() or MAX() come from the row
#: where the extreme was found (the first, in index order, among equal values).
_BUCKET_SQL = (
    'SELECT step, "timestamp", MIN(value), COUNT(*), 0 FROM metrics'
    " WHERE run_pk = ?1 AND key = ?2 AND step >= ?3 AND step < ?4"
    ' UNION ALL SELECT step, "timestamp", MAX(value), 0, 1 FROM metrics'
    " WHERE run_pk = ?1 AND key = ?2 AND step >= ?3 AND step < ?4"
)
_FIRST_OF_RANGE_SQL = (
    'SELECT step, "timestamp", value FROM metrics WHERE run_pk = ?1 AND key = ?2'
    ' AND step >= ?3 AND step < ?4 ORDER BY step, "timestamp" LIMIT 1'
)
_EDGE_SQL = (
    'SELECT step, "timestamp", value FROM metrics WHERE run_pk = ?1 AND key = ?2 AND step = ?3'
)


def _thin_by_step_sqlite(
    conn: sa.Connection,
    run_id: str,
    run_pk: int,
    key: str,
    buckets: int,
    x_min: int | None,
    x_max: int | None,
) -> MetricSeries | object | None:
    """A series thinned on the step axis in SQLite without sorting or reading it whole.

    The generic query groups every point by its bucket, which SQLite does with a temporary
    B-tree over all of them (about 90 ms of CPU for 100,000 points). Here each bucket's step
    range is one indexed range: two lookups of the first and last step, then per bucket the
    points at its minimum and maximum, its count, and (only for a bucket of NULL values) its
    first point: about a third of the time, and no sort. The candidates then go through
    :func:`downsample_indices` as before, so the points kept are the same as for the series
    read whole. :data:`_GENERIC` when the generic query must answer (a small series, or a span
    too wide for exact integer buckets).
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    lo = -(2**63) if x_min is None else x_min
    hi = 2**63 - 1 if x_max is None else x_max
    range_sql = "FROM metrics WHERE run_pk = ?1 AND key = ?2 AND step >= ?3 AND step <= ?4"
    first = cur.execute(f"SELECT step {range_sql} ORDER BY step LIMIT 1", (run_pk, key, lo, hi))
    row = first.fetchone()
    if row is None:
        return _GENERIC  # nothing in range: the generic query tells "empty" from "never logged"
    x0 = int(row[0])
    x1 = int(
        cur.execute(
            f"SELECT step {range_sql} ORDER BY step DESC LIMIT 1", (run_pk, key, lo, hi)
        ).fetchone()[0]
    )
    span = x1 - x0 + 1
    if span <= 2 * buckets or not exact_buckets(x0, x1, buckets):
        # Few steps (few points, or many points per step: let the generic query decide), or
        # float buckets.
        return _GENERIC
    starts = [x0 + (b * span + buckets - 1) // buckets for b in range(buckets + 1)]
    candidates: set[tuple[int, int, float | None]] = set()
    total = 0
    for b in range(buckets):
        a, z = starts[b], starts[b + 1]
        if a == z:
            continue
        for step, stamp, value, count, is_max in cur.execute(_BUCKET_SQL, (run_pk, key, a, z)):
            if step is None:
                continue  # an empty bucket (a gap in the steps)
            total += count
            if value is None:
                if is_max:
                    continue
                # only NULL (NaN) points: keep the bucket's first, as the whole-series pick does
                step, stamp, value = cur.execute(
                    _FIRST_OF_RANGE_SQL, (run_pk, key, a, z)
                ).fetchone()
            candidates.add((step, stamp, value))
    if total <= 2 * buckets:
        return _GENERIC
    for edge in (x0, x1):
        candidates.update(cur.execute(_EDGE_SQL, (run_pk, key, edge)).fetchall())
    rows = sorted(candidates, key=lambda r: (r[0], r[1], -np.inf if r[2] is None else r[2]))
    steps = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    stamps = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    values = np.fromiter(
        (np.nan if r[2] is None else r[2] for r in rows), dtype=np.float64, count=len(rows)
    )
    keep = downsample_indices(steps, values, buckets, always=True)
    return MetricSeries(
        run_id,
        key,
        steps[keep],
        stamps[keep],
        values[keep],
        total=total,
        sampled=len(keep) < total,
    )
