"""``SqlStore``: metadata in SQLite or PostgreSQL (SQLAlchemy 2 Core), artifacts through fsspec.

The runs and experiments are here; the registry, datasets and tune journals are parts
(:class:`SqlRegistry`, :class:`SqlDatasets`, :class:`SqlTune`) this store delegates to, each
handed the one :class:`~mloop.store._sqldb.Database` handle (engine, transactions, locks), which
also translates SQLAlchemy's exceptions to mloop's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import IO, Any

import numpy as np
import sqlalchemy as sa

from mloop._core import new_run_id, now_ms
from mloop.errors import (
    ArtifactNotFound,
    Conflict,
    ExperimentAlreadyExists,
    ExperimentNotFound,
    InvalidArgument,
    NotFound,
    ParamConflict,
)
from mloop.store import _schema as t
from mloop.store._artifacts import ArtifactStore, safe_relpath
from mloop.store._base import Store
from mloop.store._datasets_base import CheckRecord
from mloop.store._entities import (
    ArtifactInfo,
    AuditEntry,
    DatasetCheck,
    DatasetColumn,
    DatasetVersion,
    Experiment,
    LifecycleStage,
    Metric,
    MetricHistory,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInput,
    RunsPage,
    RunStatus,
    ViewType,
)
from mloop.store._localfs import upload_plan
from mloop.store._migrate import ensure_schema
from mloop.store._names import friendly_name
from mloop.store._objectstore import open_artifact_store
from mloop.store._paging import decode_token, encode_token, fingerprint
from mloop.store._search import compile_search, ordered_scan
from mloop.store._sqldatasets import SqlDatasets
from mloop.store._sqldb import Database, active_run_pk, run_not_found, run_row, translate
from mloop.store._sqlliveness import SqlLiveness
from mloop.store._sqlloop import SqlLoopHooks, SqlLoops
from mloop.store._sqlregistry import SqlRegistry
from mloop.store._sqltokens import SqlTokens
from mloop.store._sqltraces import SqlTraces
from mloop.store._sqltune import SqlTune
from mloop.store._sqlviews import SqlViews
from mloop.store._tokens import ApiToken, NewToken, Role, TokenScopes
from mloop.store._traces_base import Trace
from mloop.store._views_base import MetricSeries, RunKeys, RunTable, XAxis

_STATS_CHECK_EVERY_S = 60.0
# A search that walks its order key's index (see _ordered_page) gets this many SQLite VM
# instructions per row it may return before the planner's own plan is run instead: enough to
# visit about ten candidate runs per row, a fraction of what sorting every match costs when
# many runs match.
_ORDERED_SCAN_STEPS = 1000
# Metric points per multi-row INSERT on SQLite (401 parameters; SQLite allows 32,766).
_SQLITE_ROWS = 100

_HISTORY_DTYPE = np.dtype([("step", np.int64), ("timestamp", np.int64), ("value", np.float64)])


class SqlStore(SqlLoopHooks, Store):
    """Experiments and runs in a SQL database, artifacts in a folder or object store.

    Args:
        db_uri: ``sqlite:///path/to/mloop.db`` or ``postgresql://user@host:5432/db``.
        artifacts_uri: a folder or an fsspec URL; each experiment gets ``<artifacts_uri>/<id>``.

    The schema is migrated on first use. Safe for many threads and processes at once.

    Example::

        store = SqlStore("sqlite:///mloop.db", "./artifacts")
        exp = store.create_experiment("churn")
        run = store.create_run(exp.experiment_id, run_name="baseline")
    """

    def __init__(
        self,
        db_uri: str,
        artifacts_uri: str,
        *,
        storage_options: Mapping[str, Mapping[str, Any]] | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.uri = db_uri
        self.artifacts_uri = artifacts_uri.rstrip("/")
        # fsspec options per protocol (credentials): every artifact root is opened with them
        self.storage_options = storage_options
        self.db = Database(db_uri, **engine_kwargs)
        self.engine = self.db.engine
        self._stats_due = 0.0  # when a search next checks the planner's statistics
        with translate("opening the store"):
            ensure_schema(self.engine)
        self._registry = SqlRegistry(self.db)
        self._datasets = SqlDatasets(self.db, self.artifacts_uri, storage_options)
        self._tune = SqlTune(self.db)
        self._traces = SqlTraces(self.db)
        self._tokens = SqlTokens(self.db)
        self._liveness = SqlLiveness(self.db)
        self._loops = SqlLoops(self.db)
        self._views = SqlViews(
            self.db,
            experiment_pk=self._experiment_pk,
            metric_history=self._get_metric_history,
            load_versions=self._registry._load_versions,
        )
        ph = self.db.placeholder
        # SQLite: a batch's points go in statements of _SQLITE_ROWS rows each, the run's key
        # bound once as ?1 and the points' fields after it in Metric order, so the parameters
        # are the points' tuples chained (no tuple built per row) and the statement is the
        # same for every run (compiled once). Half the time of one row per step on a
        # 1,000-point batch; the rows beyond the last full statement go one per step.
        self._sql_insert_metric_rows = (
            'INSERT INTO metrics (run_pk, key, value, step, "timestamp") VALUES '
            + ", ".join(
                f"(?1, ?{2 + 4 * i}, ?{3 + 4 * i}, ?{4 + 4 * i}, ?{5 + 4 * i})"
                for i in range(_SQLITE_ROWS)
            )
        )
        # Parameters in the order of a Metric tuple (key, value, step, timestamp), so
        # executemany binds the points as they are, with no per-row tuple built in Python; the
        # run's integer primary key is formatted in (it comes from the database, never a user).
        self._sql_insert_metrics = (
            'INSERT INTO metrics (key, value, step, "timestamp", run_pk) '
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {{run_pk:d}})"
        )
        self._sql_upsert_latest = (
            'INSERT INTO latest_metrics (run_pk, key, step, "timestamp", value) '
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}) "
            'ON CONFLICT (run_pk, key) DO UPDATE SET step = excluded.step, "timestamp" = '
            'excluded."timestamp", value = excluded.value WHERE excluded.step > '
            "latest_metrics.step OR (excluded.step = latest_metrics.step AND "
            'excluded."timestamp" >= latest_metrics."timestamp")'
        )
        # Ordered by the covering index alone, and read by numpy straight from the cursor. The
        # cost is the driver's Python objects per row, so three columns, not four: a NULL
        # (NaN on SQLite) comes back as the text 'nan', which numpy parses (a NaN on
        # PostgreSQL); about 15% less than a separate null flag.
        self._sql_history = (
            "SELECT step, \"timestamp\", coalesce(value, 'nan') FROM metrics "
            f'WHERE run_pk = {ph} AND key = {ph} ORDER BY step, "timestamp"'
        )

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.db.close()

    def _ping(self) -> None:
        with self.db.read("checking the database") as conn:
            conn.exec_driver_sql("SELECT 1")

    # -- experiments ---------------------------------------------------------------------------

    def _create_experiment(
        self, name: str, tags: dict[str, str], artifact_location: str | None
    ) -> Experiment:
        def fn(conn: sa.Connection) -> str:
            now = now_ms()
            if conn.execute(
                sa.select(t.experiments.c.experiment_id).where(t.experiments.c.name == name)
            ).first():
                raise ExperimentAlreadyExists(
                    f"an experiment named {name!r} exists already (it may be deleted: "
                    "restore it or choose another name)",
                    details={"name": name},
                )
            exp_id = conn.execute(
                sa.insert(t.experiments)
                .values(
                    name=name,
                    artifact_location=artifact_location or "",
                    lifecycle_stage="active",
                    creation_time=now,
                    last_update_time=now,
                )
                .returning(t.experiments.c.experiment_id)
            ).scalar_one()
            if not artifact_location:
                conn.execute(
                    sa.update(t.experiments)
                    .where(t.experiments.c.experiment_id == exp_id)
                    .values(artifact_location=f"{self.artifacts_uri}/{exp_id}")
                )
            if tags:
                conn.execute(
                    sa.insert(t.experiment_tags),
                    [{"experiment_id": exp_id, "key": k, "value": v} for k, v in tags.items()],
                )
            return str(exp_id)

        try:
            exp_id = self.db.write("creating an experiment", fn)
        except Conflict as exc:
            if isinstance(exc, ExperimentAlreadyExists):
                raise
            # Two processes raced on the unique name.
            raise ExperimentAlreadyExists(
                f"an experiment named {name!r} exists already", details={"name": name}
            ) from exc
        return self._get_experiment(exp_id)

    def _experiment_pk(self, experiment_id: str) -> int:
        try:
            return int(experiment_id)
        except ValueError:
            raise ExperimentNotFound(
                f"no experiment with id {experiment_id!r} (experiment ids are integers)",
                details={"experiment_id": experiment_id},
            ) from None

    def _load_experiments(self, conn: sa.Connection, where: Any) -> list[Experiment]:
        rows = conn.execute(
            sa.select(t.experiments).where(where).order_by(t.experiments.c.name)
        ).all()
        if not rows:
            return []
        ids = [r.experiment_id for r in rows]
        tag_map: dict[int, dict[str, str]] = {i: {} for i in ids}
        for tr in conn.execute(
            sa.select(t.experiment_tags).where(t.experiment_tags.c.experiment_id.in_(ids))
        ):
            tag_map[tr.experiment_id][tr.key] = tr.value
        return [
            Experiment(
                experiment_id=str(r.experiment_id),
                name=r.name,
                artifact_location=r.artifact_location,
                lifecycle_stage=LifecycleStage(r.lifecycle_stage),
                creation_time=r.creation_time,
                last_update_time=r.last_update_time,
                tags=tag_map[r.experiment_id],
            )
            for r in rows
        ]

    def _get_experiment(self, experiment_id: str) -> Experiment:
        pk = self._experiment_pk(experiment_id)
        with self.db.read("reading an experiment") as conn:
            found = self._load_experiments(conn, t.experiments.c.experiment_id == pk)
        if not found:
            raise _experiment_not_found(experiment_id)
        return found[0]

    def _get_experiment_by_name(self, name: str) -> Experiment:
        with self.db.read("reading an experiment") as conn:
            found = self._load_experiments(conn, t.experiments.c.name == name)
        if not found:
            raise ExperimentNotFound(f"no experiment named {name!r}", details={"name": name})
        return found[0]

    def _list_experiments(self, view: ViewType) -> list[Experiment]:
        with self.db.read("listing experiments") as conn:
            return self._load_experiments(conn, t.experiments.c.lifecycle_stage.in_(view.stages()))

    def _rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        pk = self._experiment_pk(experiment_id)

        def fn(conn: sa.Connection) -> None:
            other = conn.execute(
                sa.select(t.experiments.c.experiment_id).where(t.experiments.c.name == new_name)
            ).scalar()
            if other is not None and other != pk:
                raise ExperimentAlreadyExists(
                    f"an experiment named {new_name!r} exists already",
                    details={"name": new_name},
                )
            res = conn.execute(
                sa.update(t.experiments)
                .where(t.experiments.c.experiment_id == pk)
                .values(name=new_name, last_update_time=now_ms())
            )
            if res.rowcount == 0:
                raise _experiment_not_found(experiment_id)

        self.db.write("renaming an experiment", fn)
        return self._get_experiment(experiment_id)

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        pk = self._experiment_pk(experiment_id)

        def fn(conn: sa.Connection) -> None:
            res = conn.execute(
                sa.update(t.experiments)
                .where(t.experiments.c.experiment_id == pk)
                .values(lifecycle_stage=stage, last_update_time=now_ms())
            )
            if res.rowcount == 0:
                raise _experiment_not_found(experiment_id)

        self.db.write(f"setting experiment {experiment_id} {stage}", fn)

    def _set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        pk = self._experiment_pk(experiment_id)

        def fn(conn: sa.Connection) -> None:
            if (
                conn.execute(
                    sa.select(t.experiments.c.experiment_id).where(
                        t.experiments.c.experiment_id == pk
                    )
                ).first()
                is None
            ):
                raise _experiment_not_found(experiment_id)
            self.db.upsert(
                conn,
                t.experiment_tags,
                [{"experiment_id": pk, "key": key, "value": value}],
                ["experiment_id", "key"],
            )

        self.db.write("setting an experiment tag", fn)

    # -- runs ----------------------------------------------------------------------------------

    def _create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None,
        parent_run_id: str | None,
        start_time: int | None,
        tags: dict[str, str],
        user: str,
        run_id: str | None = None,
    ) -> Run:
        exp_pk = self._experiment_pk(experiment_id)
        if run_id is not None:
            existing = self._existing_run(run_id, exp_pk)
            if existing is not None:
                return existing  # a replayed create: the run is there already
        else:
            run_id = new_run_id()
        name = run_name or friendly_name()

        def fn(conn: sa.Connection) -> RunInfo:
            exp = conn.execute(
                sa.select(t.experiments.c.artifact_location, t.experiments.c.lifecycle_stage).where(
                    t.experiments.c.experiment_id == exp_pk
                )
            ).first()
            if exp is None:
                raise _experiment_not_found(experiment_id)
            if exp.lifecycle_stage != "active":
                raise InvalidArgument(
                    f"experiment {experiment_id} is deleted; restore it before starting runs"
                )
            if parent_run_id is not None:
                run_row(conn, parent_run_id)
            info = RunInfo(
                run_id=run_id,
                experiment_id=str(exp_pk),
                run_name=name,
                status=RunStatus.RUNNING,
                start_time=start_time if start_time is not None else now_ms(),
                end_time=None,
                parent_run_id=parent_run_id,
                artifact_uri=f"{exp.artifact_location.rstrip('/')}/{run_id}/artifacts",
                lifecycle_stage=LifecycleStage.ACTIVE,
                user=user,
            )
            run_pk = conn.execute(
                sa.insert(t.runs)
                .values(
                    run_id=run_id,
                    experiment_id=exp_pk,
                    run_name=name,
                    status=info.status.value,
                    start_time=info.start_time,
                    parent_run_id=parent_run_id,
                    artifact_uri=info.artifact_uri,
                    lifecycle_stage="active",
                    user=user,
                )
                .returning(t.runs.c.run_pk)
            ).scalar_one()
            if tags:
                conn.execute(
                    sa.insert(t.tags),
                    [{"run_pk": run_pk, "key": k, "value": v} for k, v in tags.items()],
                )
            return info

        info = self.db.write("creating a run", fn)
        return Run(info=info, data=RunData(tags=dict(tags)))

    def _existing_run(self, run_id: str, exp_pk: int) -> Run | None:
        """The run with a client-chosen id, if it exists in this experiment."""
        with self.db.read("reading a run") as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.run_id == run_id)).first()
            if row is None:
                return None
            if row.experiment_id != exp_pk:
                raise InvalidArgument(
                    f"run id {run_id} is taken by a run of another experiment; "
                    "a client-chosen run id must be new"
                )
            return self._load_runs(conn, [row])[0]

    def _get_run(self, run_id: str) -> Run:
        with self.db.read("reading a run") as conn:
            row = run_row(conn, run_id)
            return self._load_runs(conn, [row])[0]

    def _load_runs(self, conn: sa.Connection, rows: Sequence[Any]) -> list[Run]:
        """The runs of ``runs`` rows, in their order, with their params, tags and latest
        metrics: one query for the params and tags, one for the metrics (plain DBAPI rows, no
        SQLAlchemy row objects), and one pydantic validation per run from plain values, which
        builds its nested records in compiled code."""
        if not rows:
            return []
        # The runs' integer primary keys come from the database, never from a user: formatted
        # in, one statement whatever the page size (no bound-parameter limit).
        pks = ", ".join(str(int(r.run_pk)) for r in rows)
        found: dict[int, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
            int(r.run_pk): ({}, {}, {}) for r in rows
        }
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(
                f"SELECT run_pk, key, value, 0 FROM params WHERE run_pk IN ({pks}) "
                f"UNION ALL SELECT run_pk, key, value, 1 FROM tags WHERE run_pk IN ({pks})"
            )
            for pk, key, value, kind in cur.fetchall():
                found[pk][kind][key] = value
            cur.execute(
                'SELECT run_pk, key, value, step, "timestamp" FROM latest_metrics '
                f"WHERE run_pk IN ({pks})"
            )
            nan = float("nan")
            for pk, key, value, step, ts in cur.fetchall():
                found[pk][2][key] = {
                    "value": nan if value is None else value,
                    "step": step,
                    "timestamp": ts,
                }
        finally:
            cur.close()
        validate = Run.model_validate
        runs = []
        for r in rows:
            params, tags, metrics = found[int(r.run_pk)]
            runs.append(
                validate(
                    {
                        "info": {
                            "run_id": r.run_id,
                            "experiment_id": str(r.experiment_id),
                            "run_name": r.run_name,
                            "status": r.status,
                            "start_time": r.start_time,
                            "end_time": r.end_time,
                            "parent_run_id": r.parent_run_id,
                            "artifact_uri": r.artifact_uri,
                            "lifecycle_stage": r.lifecycle_stage,
                            "user": r.user,
                        },
                        "data": {"params": params, "metrics": metrics, "tags": tags},
                    }
                )
            )
        return runs

    def _update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status.value
            if status.is_terminal and end_time is None:
                values["end_time"] = now_ms()
            elif not status.is_terminal:
                values["end_time"] = None
        if end_time is not None:
            values["end_time"] = end_time
        if run_name is not None:
            values["run_name"] = run_name

        def fn(conn: sa.Connection) -> RunInfo:
            if values:
                res = conn.execute(
                    sa.update(t.runs).where(t.runs.c.run_id == run_id).values(**values)
                )
                if res.rowcount == 0:
                    raise run_not_found(run_id)
            return _run_info(run_row(conn, run_id))

        return self.db.write("updating a run", fn)  # type: ignore[no-any-return]

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        def fn(conn: sa.Connection) -> None:
            res = conn.execute(
                sa.update(t.runs).where(t.runs.c.run_id == run_id).values(lifecycle_stage=stage)
            )
            if res.rowcount == 0:
                raise run_not_found(run_id)

        self.db.write(f"setting run {run_id} {stage}", fn)

    def _log_batch(
        self,
        run_id: str,
        metrics: list[Metric],
        params: dict[str, str],
        tags: dict[str, str],
        batch_id: str | None = None,
    ) -> None:
        if not (metrics or params or tags):
            with self.db.read("reading a run") as conn:
                active_run_pk(conn, run_id)
            return
        # The latest point per key: highest step, then latest timestamp. Positional access:
        # callers may pass plain (key, value, step, timestamp) tuples.
        latest: dict[str, Sequence[Any]] = {}
        get = latest.get
        for m in metrics:
            cur = get(m[0])
            if cur is None or m[2] > cur[2] or (m[2] == cur[2] and m[3] >= cur[3]):
                latest[m[0]] = m

        def fn(conn: sa.Connection) -> None:
            run_pk = active_run_pk(conn, run_id)
            if batch_id is not None and not self._claim_batch(conn, batch_id, run_pk):
                return  # written before: acknowledge, write nothing
            if params:
                self._insert_params(conn, run_id, run_pk, params)
            if tags:
                self.db.upsert(
                    conn,
                    t.tags,
                    [{"run_pk": run_pk, "key": k, "value": v} for k, v in tags.items()],
                    ["run_pk", "key"],
                )
            if metrics:
                cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    self._insert_metrics(cur, run_pk, metrics)
                    cur.executemany(
                        self._sql_upsert_latest,
                        [(run_pk, m[0], m[2], m[3], m[1]) for m in latest.values()],
                    )
                finally:
                    cur.close()

        self.db.write(f"logging to run {run_id}", fn)

    def _insert_metrics(self, cur: Any, run_pk: int, metrics: list[Metric]) -> None:
        """Insert a batch's points with the DBAPI cursor of the batch's transaction."""
        done = 0  # points written by full multi-row statements (SQLite)
        if self.db.sqlite:
            rows = _SQLITE_ROWS
            done = len(metrics) - len(metrics) % rows
            sql = self._sql_insert_metric_rows
            for start in range(0, done, rows):
                cur.execute(sql, [run_pk, *chain.from_iterable(metrics[start : start + rows])])
        if done < len(metrics):
            # plain tuples: the sqlite3 module binds a tuple subclass (Metric) through the
            # generic sequence protocol, a quarter slower
            cur.executemany(
                self._sql_insert_metrics.format(run_pk=run_pk),
                list(map(tuple, metrics[done:])),
            )

    def _claim_batch(self, conn: sa.Connection, batch_id: str, run_pk: int) -> bool:
        """Record a batch id in the batch's own transaction; False when it was recorded before."""
        inserted = conn.execute(
            self.db.insert(t.batch_receipts)
            .values(batch_id=batch_id, run_pk=run_pk, created_time=now_ms())
            .on_conflict_do_nothing(index_elements=["batch_id"])
            .returning(t.batch_receipts.c.batch_id)
        ).first()
        return inserted is not None

    def _insert_params(
        self, conn: sa.Connection, run_id: str, run_pk: int, params: dict[str, str]
    ) -> None:
        existing: dict[str, str] = dict(
            conn.execute(  # type: ignore[arg-type]
                sa.select(t.params.c.key, t.params.c.value).where(
                    t.params.c.run_pk == run_pk, t.params.c.key.in_(list(params))
                )
            ).all()
        )
        conflicts = {
            k: (existing[k], v) for k, v in params.items() if k in existing and existing[k] != v
        }
        if conflicts:
            k, (old, new) = next(iter(conflicts.items()))
            raise ParamConflict(
                f"param {k!r} of run {run_id} is {old!r}; it cannot change to {new!r} "
                "(params are immutable: log a new run, or use a tag or a metric)",
                details={
                    "run_id": run_id,
                    "conflicts": {k: {"stored": o, "new": n} for k, (o, n) in conflicts.items()},
                },
            )
        rows = [
            {"run_pk": run_pk, "key": k, "value": v} for k, v in params.items() if k not in existing
        ]
        if rows:
            conn.execute(sa.insert(t.params), rows)

    def _delete_tag(self, run_id: str, key: str) -> None:
        def fn(conn: sa.Connection) -> None:
            run_pk = active_run_pk(conn, run_id)
            res = conn.execute(
                sa.delete(t.tags).where(t.tags.c.run_pk == run_pk, t.tags.c.key == key)
            )
            if res.rowcount == 0:
                raise NotFound(
                    f"run {run_id} has no tag {key!r}", details={"run_id": run_id, "key": key}
                )

        self.db.write("deleting a tag", fn)

    def _get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        with self.db.read("reading a metric history") as conn:
            run_pk = run_row(conn, run_id).run_pk
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(self._sql_history, (run_pk, key))
                arr = np.fromiter(cur, dtype=_HISTORY_DTYPE)  # type: ignore[arg-type]
            finally:
                cur.close()
        return MetricHistory(key, arr["step"], arr["timestamp"], arr["value"])

    def _search_runs(
        self,
        experiment_ids: list[str],
        filter: str,
        order_by: list[str],
        max_results: int,
        page_token: str | None,
        view: ViewType,
    ) -> RunsPage:
        now = time.monotonic()
        if now >= self._stats_due:  # cheap, but not on every search of a busy server
            self._stats_due = now + _STATS_CHECK_EVERY_S
            self.db.refresh_stats()
        exp_pks = [self._experiment_pk(e) for e in experiment_ids]
        search_key = fingerprint(exp_pks, filter, order_by, view)
        offset = decode_token(page_token, search_key) if page_token else 0
        ordered = ordered_scan(filter, order_by)

        def page(ordered: bool) -> sa.Select[Any]:
            # The page's whole runs rows come back with the search: no second query for them.
            return (
                compile_search(
                    experiment_ids=exp_pks,
                    stages=view.stages(),
                    filter=filter,
                    order_by=order_by,
                    ordered=ordered,
                )
                .with_only_columns(*t.runs.c)
                .limit(max_results + 1)
                .offset(offset)
            )

        with self.db.read("searching runs") as conn:
            found = None
            if ordered and self.db.sqlite:
                found = self._ordered_page(
                    conn, page(True), steps=(offset + max_results + 1) * _ORDERED_SCAN_STEPS
                )
            if found is None:
                # PostgreSQL's planner weighs the limit itself; SQLite's runs when the walk
                # along the order key's index ran out of its budget.
                found = conn.execute(page(ordered and not self.db.sqlite)).all()
            more = len(found) > max_results
            if not found:
                return RunsPage(runs=[], next_page_token=None)
            runs = self._load_runs(conn, found[:max_results])
        token = encode_token(offset + max_results, search_key) if more else None
        return RunsPage.model_construct(runs=runs, next_page_token=token)

    @staticmethod
    def _ordered_page(conn: sa.Connection, query: sa.Select[Any], steps: int) -> Any:
        """The runs rows of ``query`` (SQLite, walking the order key's index), or None when it
        took more than ``steps`` VM instructions: few runs match, and the planner's plan,
        which starts from the rarest condition, is the faster one."""
        raw: Any = conn.connection.dbapi_connection
        spent = 0

        def budget() -> int:
            nonlocal spent
            spent += 1000
            return 1 if spent > steps else 0  # non-zero interrupts the statement

        raw.set_progress_handler(budget, 1000)
        try:
            return conn.execute(query).all()
        except sa.exc.OperationalError as exc:
            if "interrupt" not in str(exc.orig):
                raise
            return None
        finally:
            raw.set_progress_handler(None, 0)

    # -- artifacts -----------------------------------------------------------------------------

    def _artifact_root(self, run_id: str) -> tuple[int, ArtifactStore]:
        with self.db.read("reading a run") as conn:
            row = run_row(conn, run_id)
        return int(row.run_pk), open_artifact_store(row.artifact_uri, self.storage_options)

    def _record_artifacts(self, run_pk: int, infos: list[ArtifactInfo]) -> None:
        files = [i for i in infos if not i.is_dir and i.sha256 is not None]
        if not files:
            return
        now = now_ms()

        def fn(conn: sa.Connection) -> None:
            stmt = self.db.insert(t.artifacts)
            stmt = stmt.on_conflict_do_update(
                index_elements=["run_pk", "path"],
                set_={
                    "size": stmt.excluded.size,
                    "sha256": stmt.excluded.sha256,
                    "created_time": stmt.excluded.created_time,
                },
            )
            conn.execute(
                stmt,
                [
                    {
                        "run_pk": run_pk,
                        "path": i.path,
                        "size": i.size or 0,
                        "sha256": i.sha256,
                        "created_time": now,
                    }
                    for i in files
                ],
            )

        self.db.write("recording artifacts", fn)

    def _log_artifact(self, run_id: str, local: Path, artifact_path: str) -> list[ArtifactInfo]:
        plan = upload_plan(local, artifact_path)  # every path checked before a byte is written
        run_pk, store = self._artifact_root(run_id)
        infos = store.put_files(plan)
        self._record_artifacts(run_pk, infos)
        return infos

    def _put_artifact(self, run_id: str, path: str, stream: IO[bytes]) -> ArtifactInfo:
        rel = safe_relpath(path)
        if not rel:
            raise InvalidArgument("an artifact path must name a file, not the root")
        run_pk, store = self._artifact_root(run_id)
        info = store.put_stream(stream, rel)
        self._record_artifacts(run_pk, [info])
        return info

    def _list_artifacts(self, run_id: str, path: str) -> list[ArtifactInfo]:
        rel = safe_relpath(path)
        run_pk, store = self._artifact_root(run_id)
        if rel and not store.exists(rel):
            raise ArtifactNotFound(
                f"run {run_id} has no artifact {rel!r}", details={"run_id": run_id, "path": rel}
            )
        listed = store.list(rel)
        with self.db.read("reading artifacts") as conn:
            hashes: dict[str, str] = dict(
                conn.execute(  # type: ignore[arg-type]
                    sa.select(t.artifacts.c.path, t.artifacts.c.sha256).where(
                        t.artifacts.c.run_pk == run_pk,
                        t.artifacts.c.path.in_([i.path for i in listed if not i.is_dir]),
                    )
                ).all()
            )
        return [
            i if i.is_dir or i.sha256 else i.model_copy(update={"sha256": hashes.get(i.path)})
            for i in listed
        ]

    def _download_artifacts(self, run_id: str, path: str, dst: Path) -> Path:
        rel = safe_relpath(path)
        _, store = self._artifact_root(run_id)
        if rel and not store.exists(rel):
            raise ArtifactNotFound(
                f"run {run_id} has no artifact {rel!r}", details={"run_id": run_id, "path": rel}
            )
        return store.download(rel, dst)

    def _open_artifact(self, run_id: str, path: str) -> IO[bytes]:
        rel = safe_relpath(path)
        if not rel:
            raise InvalidArgument("an artifact path must name a file, not the root")
        _, store = self._artifact_root(run_id)
        return store.open(rel)

    # -- the registry, datasets and tune journals: delegated to the parts ----------------------

    def _create_registered_model(
        self, name: str, description: str, tags: dict[str, str], actor: str, reason: str
    ) -> RegisteredModel:
        return self._registry.create_registered_model(name, description, tags, actor, reason)

    def _get_registered_model(self, name: str) -> RegisteredModel:
        return self._registry.get_registered_model(name)

    def _list_registered_models(self) -> list[RegisteredModel]:
        return self._registry.list_registered_models()

    def _update_registered_model(
        self, name: str, description: str, actor: str, reason: str
    ) -> RegisteredModel:
        return self._registry.update_registered_model(name, description, actor, reason)

    def _set_registered_model_tag(self, name: str, key: str, value: str, actor: str) -> None:
        self._registry.set_registered_model_tag(name, key, value, actor)

    def _create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        description: str,
        tags: dict[str, str],
        actor: str,
        reason: str,
    ) -> ModelVersion:
        return self._registry.create_model_version(
            name, source, run_id, description, tags, actor, reason
        )

    def _get_model_version(self, name: str, version: int) -> ModelVersion:
        return self._registry.get_model_version(name, version)

    def _list_model_versions(self, name: str) -> list[ModelVersion]:
        return self._registry.list_model_versions(name)

    def _set_model_version_tag(
        self, name: str, version: int, key: str, value: str, actor: str
    ) -> None:
        self._registry.set_model_version_tag(name, version, key, value, actor)

    def _archive_model_version(
        self, name: str, version: int, actor: str, reason: str
    ) -> ModelVersion:
        return self._registry.archive_model_version(name, version, actor, reason)

    def _set_alias(
        self, name: str, alias: str, version: int, actor: str, reason: str
    ) -> ModelVersion:
        return self._registry.set_alias(name, alias, version, actor, reason)

    def _delete_alias(self, name: str, alias: str, actor: str, reason: str) -> None:
        self._registry.delete_alias(name, alias, actor, reason)

    def _get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._registry.get_model_version_by_alias(name, alias)

    def _get_latest_version(self, name: str) -> ModelVersion:
        return self._registry.get_latest_version(name)

    def _get_audit_log(self, name: str) -> list[AuditEntry]:
        return self._registry.get_audit_log(name)

    def _create_dataset_version(
        self,
        name: str,
        digest: str,
        format: str,
        num_rows: int,
        num_columns: int,
        columns: list[DatasetColumn],
        size_bytes: int,
        description: str,
        tags: dict[str, str],
    ) -> DatasetVersion:
        return self._datasets.create_dataset_version(
            name, digest, format, num_rows, num_columns, columns, size_bytes, description, tags
        )

    def _get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        return self._datasets.get_dataset_version(name, version)

    def _get_latest_dataset_version(self, name: str) -> DatasetVersion:
        return self._datasets.get_latest_dataset_version(name)

    def _find_dataset_versions(self, name: str, digest_prefix: str) -> list[DatasetVersion]:
        return self._datasets.find_dataset_versions(name, digest_prefix)

    def _list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        return self._datasets.list_dataset_versions(name)

    def _list_datasets(self) -> list[DatasetVersion]:
        return self._datasets.list_datasets()

    def _put_dataset_file(self, name: str, filename: str, stream: IO[bytes]) -> ArtifactInfo:
        return self._datasets.put_dataset_file(name, filename, stream)

    def _open_dataset_file(self, name: str, filename: str) -> IO[bytes]:
        return self._datasets.open_dataset_file(name, filename)

    def _log_inputs(self, run_id: str, inputs: list[tuple[str, int, str]]) -> None:
        self._datasets.log_inputs(run_id, inputs)

    def _get_run_inputs(self, run_id: str) -> list[RunInput]:
        return self._datasets.get_run_inputs(run_id)

    def _log_dataset_check(
        self, name: str, version: int, report: CheckRecord, run_id: str | None, actor: str
    ) -> DatasetCheck:
        return self._datasets.log_dataset_check(name, version, report, run_id, actor)

    def _list_dataset_checks(
        self, name: str, version: int | None, max_results: int
    ) -> list[DatasetCheck]:
        return self._datasets.list_dataset_checks(name, version, max_results)

    def _append_tune_journal(self, key: str, texts: list[str]) -> int:
        return self._tune.append(key, texts)

    def _read_tune_journal(self, key: str, start: int, limit: int) -> list[tuple[int, str]]:
        return self._tune.read(key, start, limit)

    def _log_spans(self, spans: list[dict[str, Any]]) -> None:
        self._traces.log(spans)

    def _search_traces(self, where: dict[str, Any], limit: int) -> list[Trace]:
        return self._traces.search(where, limit)

    def _get_trace(self, trace_id: str) -> Trace:
        return self._traces.get(trace_id)

    # -- liveness: the part in _sqlliveness.py --------------------------------------------------

    def _heartbeat(self, run_id: str) -> None:
        self._liveness.heartbeat(run_id)

    def _sweep_dead_runs(self, timeout_ms: int) -> list[str]:
        return self._liveness.sweep(timeout_ms)

    # -- tokens: the part in _sqltokens.py -------------------------------------------------------

    def _create_token(
        self, name: str, role: Role, scopes: TokenScopes, expires_at: int | None, created_by: str
    ) -> NewToken:
        return self._tokens.create(name, role, scopes, expires_at, created_by)

    def _list_tokens(self) -> list[ApiToken]:
        return self._tokens.list()

    def _revoke_token(self, token_id: str) -> ApiToken:
        return self._tokens.revoke(token_id)

    def _verify_token(self, token_id: str, secret: str, now: int) -> ApiToken | None:
        return self._tokens.verify(token_id, secret, now)

    def has_valid_admin_token(self, now: int | None = None) -> bool:
        """True when a valid admin token exists (``mloop server --auth`` bootstraps one when
        not)."""
        return self._tokens.has_valid_admin(now_ms() if now is None else now)

    # -- screen views: the part in _sqlviews.py --------------------------------------------------

    def _search_run_table(
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
        return self._views.search_run_table(
            experiment_ids, filter, order_by, metrics, params, tags, max_results, page_token, view
        )

    def _list_run_keys(self, experiment_ids: list[str], view: ViewType) -> RunKeys:
        return self._views.list_run_keys(experiment_ids, view)

    def _get_metric_histories(
        self,
        run_ids: list[str],
        keys: list[str],
        max_points: int | None,
        x_axis: XAxis,
        x_min: int | None,
        x_max: int | None,
    ) -> list[MetricSeries]:
        return self._views.get_metric_histories(run_ids, keys, max_points, x_axis, x_min, x_max)

    def _get_run_outputs(self, run_id: str) -> list[ModelVersion]:
        return self._views.get_run_outputs(run_id)


def _experiment_not_found(experiment_id: str) -> ExperimentNotFound:
    return ExperimentNotFound(
        f"no experiment with id {experiment_id!r}", details={"experiment_id": experiment_id}
    )


def _run_info(r: Any) -> RunInfo:
    return RunInfo.model_construct(
        run_id=r.run_id,
        experiment_id=str(r.experiment_id),
        run_name=r.run_name,
        status=RunStatus(r.status),
        start_time=r.start_time,
        end_time=r.end_time,
        parent_run_id=r.parent_run_id,
        artifact_uri=r.artifact_uri,
        lifecycle_stage=LifecycleStage(r.lifecycle_stage),
        user=r.user,
    )
