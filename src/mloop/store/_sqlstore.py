"""``SqlStore``: metadata in SQLite or PostgreSQL (SQLAlchemy 2 Core), artifacts through fsspec.

SQLAlchemy's exceptions are translated to mloop's in one place (:func:`_translate`); nothing
outside this module sees them.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator, Sequence
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
    MloopError,
    NotFound,
    ParamConflict,
    RunNotFound,
    StoreError,
    StoreUnavailable,
)
from mloop.store import _schema as t
from mloop.store._artifacts import ArtifactStore, open_artifact_store, safe_relpath
from mloop.store._base import Store
from mloop.store._engine import WRITE, create_engine, placeholder
from mloop.store._entities import (
    ArtifactInfo,
    Experiment,
    LifecycleStage,
    Metric,
    MetricHistory,
    MetricValue,
    Run,
    RunData,
    RunInfo,
    RunsPage,
    RunStatus,
    ViewType,
)
from mloop.store._migrate import ensure_schema
from mloop.store._names import friendly_name
from mloop.store._paging import decode_token, encode_token, fingerprint
from mloop.store._search import compile_search
from mloop.store._sqldatasets import SqlDatasets
from mloop.store._sqlregistry import SqlRegistry
from mloop.store._sqltune import SqlTune
from mloop.store._sqlviews import SqlViews

_LOCK_RETRIES = 5
_HISTORY_DTYPE = np.dtype(
    [("step", np.int64), ("timestamp", np.int64), ("value", np.float64), ("null", np.bool_)]
)


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    """Map SQLAlchemy and driver errors to mloop's tree (the only place that sees them)."""
    try:
        yield
    except MloopError:
        raise
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"{what}: conflicts with stored data ({exc.orig})") from exc
    except sa.exc.OperationalError as exc:
        raise StoreUnavailable(f"{what}: the database is unavailable ({exc.orig})") from exc
    except sa.exc.InterfaceError as exc:
        raise StoreUnavailable(f"{what}: the database connection failed ({exc.orig})") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"{what}: database error ({exc})") from exc


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.OperationalError) and "locked" in str(exc.orig).lower()


class SqlStore(SqlRegistry, SqlDatasets, SqlTune, SqlViews, Store):
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

    def __init__(self, db_uri: str, artifacts_uri: str, **engine_kwargs: Any) -> None:
        self.uri = db_uri
        self.artifacts_uri = artifacts_uri.rstrip("/")
        self.engine = create_engine(db_uri, **engine_kwargs)
        self._ph = placeholder(self.engine)
        self._sqlite = self.engine.dialect.name == "sqlite"
        with _translate("opening the store"):
            ensure_schema(self.engine)
        ph = self._ph
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
        # Ordered by the covering index alone; NULL (NaN) comes back as a flag, so numpy can
        # build the columns straight from the cursor without a Python tuple per row.
        self._sql_history = (
            'SELECT step, "timestamp", coalesce(value, 0.0), value IS NULL FROM metrics '
            f'WHERE run_pk = {ph} AND key = {ph} ORDER BY step, "timestamp"'
        )

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def _ping(self) -> None:
        with self._read("checking the database") as conn:
            conn.exec_driver_sql("SELECT 1")

    # -- transactions --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self, what: str) -> Iterator[sa.Connection]:
        with _translate(what), self.engine.connect() as conn:
            yield conn

    def _write(self, what: str, fn: Any) -> Any:
        """Run ``fn(conn)`` in one write transaction, retrying if SQLite reports a lock
        (the busy timeout normally absorbs contention; this covers the rare remainder)."""
        for attempt in range(_LOCK_RETRIES):
            try:
                with _translate(what):
                    try:
                        with (
                            self.engine.connect().execution_options(**WRITE) as conn,
                            conn.begin(),
                        ):
                            return fn(conn)
                    except sa.exc.OperationalError as exc:
                        if _is_locked(exc) and attempt < _LOCK_RETRIES - 1:
                            raise _Retry from exc
                        raise
            except _Retry:
                time.sleep(0.05 * (2**attempt) * (1 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

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
            exp_id = self._write("creating an experiment", fn)
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
        with self._read("reading an experiment") as conn:
            found = self._load_experiments(conn, t.experiments.c.experiment_id == pk)
        if not found:
            raise _experiment_not_found(experiment_id)
        return found[0]

    def _get_experiment_by_name(self, name: str) -> Experiment:
        with self._read("reading an experiment") as conn:
            found = self._load_experiments(conn, t.experiments.c.name == name)
        if not found:
            raise ExperimentNotFound(f"no experiment named {name!r}", details={"name": name})
        return found[0]

    def _list_experiments(self, view: ViewType) -> list[Experiment]:
        with self._read("listing experiments") as conn:
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

        self._write("renaming an experiment", fn)
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

        self._write(f"setting experiment {experiment_id} {stage}", fn)

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
            self._upsert(
                conn,
                t.experiment_tags,
                [{"experiment_id": pk, "key": key, "value": value}],
                ["experiment_id", "key"],
            )

        self._write("setting an experiment tag", fn)

    def _upsert(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        if self._sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={"value": stmt.excluded.value})
        conn.execute(stmt, rows)

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
    ) -> Run:
        exp_pk = self._experiment_pk(experiment_id)
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
                self._run_row(conn, parent_run_id)
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

        info = self._write("creating a run", fn)
        return Run(info=info, data=RunData(tags=dict(tags)))

    def _run_row(self, conn: sa.Connection, run_id: str) -> Any:
        row = conn.execute(sa.select(t.runs).where(t.runs.c.run_id == run_id)).first()
        if row is None:
            raise _run_not_found(run_id)
        return row

    def _get_run(self, run_id: str) -> Run:
        with self._read("reading a run") as conn:
            row = self._run_row(conn, run_id)
            return self._load_runs(conn, [row])[0]

    def _load_runs(self, conn: sa.Connection, rows: Sequence[Any]) -> list[Run]:
        pks = [r.run_pk for r in rows]
        params: dict[int, dict[str, str]] = {pk: {} for pk in pks}
        tags: dict[int, dict[str, str]] = {pk: {} for pk in pks}
        metrics: dict[int, dict[str, MetricValue]] = {pk: {} for pk in pks}
        for pk, key, value in conn.execute(
            sa.select(t.params.c.run_pk, t.params.c.key, t.params.c.value).where(
                t.params.c.run_pk.in_(pks)
            )
        ):
            params[pk][key] = value
        for pk, key, value in conn.execute(
            sa.select(t.tags.c.run_pk, t.tags.c.key, t.tags.c.value).where(t.tags.c.run_pk.in_(pks))
        ):
            tags[pk][key] = value
        lm = t.latest_metrics.c
        for pk, key, value, step, ts in conn.execute(
            sa.select(lm.run_pk, lm.key, lm.value, lm.step, lm.timestamp).where(lm.run_pk.in_(pks))
        ):
            metrics[pk][key] = MetricValue.model_construct(
                value=float("nan") if value is None else value, step=step, timestamp=ts
            )
        return [
            Run.model_construct(
                info=_run_info(r),
                data=RunData.model_construct(
                    params=params[r.run_pk], metrics=metrics[r.run_pk], tags=tags[r.run_pk]
                ),
            )
            for r in rows
        ]

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
                    raise _run_not_found(run_id)
            return _run_info(self._run_row(conn, run_id))

        return self._write("updating a run", fn)  # type: ignore[no-any-return]

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        def fn(conn: sa.Connection) -> None:
            res = conn.execute(
                sa.update(t.runs).where(t.runs.c.run_id == run_id).values(lifecycle_stage=stage)
            )
            if res.rowcount == 0:
                raise _run_not_found(run_id)

        self._write(f"setting run {run_id} {stage}", fn)

    def _active_run_pk(self, conn: sa.Connection, run_id: str) -> int:
        row = conn.execute(
            sa.select(t.runs.c.run_pk, t.runs.c.lifecycle_stage).where(t.runs.c.run_id == run_id)
        ).first()
        if row is None:
            raise _run_not_found(run_id)
        if row.lifecycle_stage != "active":
            raise InvalidArgument(f"run {run_id} is deleted; restore it before logging to it")
        return int(row.run_pk)

    def _log_batch(
        self,
        run_id: str,
        metrics: list[Metric],
        params: dict[str, str],
        tags: dict[str, str],
        batch_id: str | None = None,
    ) -> None:
        if not (metrics or params or tags):
            with self._read("reading a run") as conn:
                self._active_run_pk(conn, run_id)
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
            run_pk = self._active_run_pk(conn, run_id)
            if batch_id is not None and not self._claim_batch(conn, batch_id, run_pk):
                return  # written before: acknowledge, write nothing
            if params:
                self._insert_params(conn, run_id, run_pk, params)
            if tags:
                self._upsert(
                    conn,
                    t.tags,
                    [{"run_pk": run_pk, "key": k, "value": v} for k, v in tags.items()],
                    ["run_pk", "key"],
                )
            if metrics:
                cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cur.executemany(self._sql_insert_metrics.format(run_pk=run_pk), metrics)
                    cur.executemany(
                        self._sql_upsert_latest,
                        [(run_pk, m[0], m[2], m[3], m[1]) for m in latest.values()],
                    )
                finally:
                    cur.close()

        self._write(f"logging to run {run_id}", fn)

    def _claim_batch(self, conn: sa.Connection, batch_id: str, run_pk: int) -> bool:
        """Record a batch id in the batch's own transaction; False when it was recorded before."""
        if self._sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        inserted = conn.execute(
            insert(t.batch_receipts)
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
            run_pk = self._active_run_pk(conn, run_id)
            res = conn.execute(
                sa.delete(t.tags).where(t.tags.c.run_pk == run_pk, t.tags.c.key == key)
            )
            if res.rowcount == 0:
                raise NotFound(
                    f"run {run_id} has no tag {key!r}", details={"run_id": run_id, "key": key}
                )

        self._write("deleting a tag", fn)

    def _get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        with self._read("reading a metric history") as conn:
            run_pk = self._run_row(conn, run_id).run_pk
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(self._sql_history, (run_pk, key))
                arr = np.fromiter(cur, dtype=_HISTORY_DTYPE)  # type: ignore[arg-type]
            finally:
                cur.close()
        values = arr["value"]
        if arr["null"].any():
            values = values.copy()
            values[arr["null"]] = np.nan
        return MetricHistory(key, arr["step"], arr["timestamp"], values)

    def _search_runs(
        self,
        experiment_ids: list[str],
        filter: str,
        order_by: list[str],
        max_results: int,
        page_token: str | None,
        view: ViewType,
    ) -> RunsPage:
        exp_pks = [self._experiment_pk(e) for e in experiment_ids]
        search_key = fingerprint(exp_pks, filter, order_by, view)
        offset = decode_token(page_token, search_key) if page_token else 0
        query = compile_search(
            experiment_ids=exp_pks, stages=view.stages(), filter=filter, order_by=order_by
        )
        with self._read("searching runs") as conn:
            pks = list(conn.execute(query.limit(max_results + 1).offset(offset)).scalars())
            more = len(pks) > max_results
            pks = pks[:max_results]
            if not pks:
                return RunsPage(runs=[], next_page_token=None)
            rows = {
                r.run_pk: r for r in conn.execute(sa.select(t.runs).where(t.runs.c.run_pk.in_(pks)))
            }
            runs = self._load_runs(conn, [rows[pk] for pk in pks])
        token = encode_token(offset + max_results, search_key) if more else None
        return RunsPage.model_construct(runs=runs, next_page_token=token)

    # -- artifacts -----------------------------------------------------------------------------

    def _artifact_root(self, run_id: str) -> tuple[int, ArtifactStore]:
        with self._read("reading a run") as conn:
            row = self._run_row(conn, run_id)
        return int(row.run_pk), open_artifact_store(row.artifact_uri)

    def _record_artifacts(self, run_pk: int, infos: list[ArtifactInfo]) -> None:
        files = [i for i in infos if not i.is_dir and i.sha256 is not None]
        if not files:
            return
        now = now_ms()

        def fn(conn: sa.Connection) -> None:
            if self._sqlite:
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
            stmt = insert(t.artifacts)
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

        self._write("recording artifacts", fn)

    def _log_artifact(self, run_id: str, local: Path, artifact_path: str) -> list[ArtifactInfo]:
        dest_dir = safe_relpath(artifact_path)
        run_pk, store = self._artifact_root(run_id)
        if local.is_dir():
            dest = dest_dir if dest_dir else ""
            infos = store.put_dir(local, dest)
        else:
            dest = f"{dest_dir}/{local.name}" if dest_dir else local.name
            infos = [store.put_file(local, dest)]
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
        with self._read("reading artifacts") as conn:
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


def _experiment_not_found(experiment_id: str) -> ExperimentNotFound:
    return ExperimentNotFound(
        f"no experiment with id {experiment_id!r}", details={"experiment_id": experiment_id}
    )


def _run_not_found(run_id: str) -> RunNotFound:
    return RunNotFound(f"no run with id {run_id!r}", details={"run_id": run_id})


class _Retry(Exception):
    pass


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
