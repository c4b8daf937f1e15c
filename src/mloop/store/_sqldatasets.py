"""The datasets part of ``SqlStore``: dataset versions, their files, and run inputs.

Version numbers come from ``max(version) + 1`` in the registering transaction. Writers of one
name are serialized: by ``BEGIN IMMEDIATE`` on SQLite, by a transaction-scoped advisory lock on
the name on PostgreSQL; so concurrent registrations get consecutive numbers with no gaps. The
unique key on ``(name, digest)`` makes registering the same content twice find the first version,
also when two processes race on it (the loser retries and finds the winner's row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import orjson
import sqlalchemy as sa

from mloop._core import now_ms
from mloop.errors import DatasetNotFound, InvalidArgument
from mloop.store import _schema as t
from mloop.store._artifacts import ArtifactStore
from mloop.store._datasets_base import DATA_SUFFIX, CheckRecord, dataset_file_path
from mloop.store._entities import (
    ArtifactInfo,
    DatasetCheck,
    DatasetColumn,
    DatasetVersion,
    RunInput,
)
from mloop.store._objectstore import open_artifact_store
from mloop.store._sqldb import Database, active_run_pk, run_row

#: The first key of PostgreSQL advisory locks taken per dataset name ("mld").
_PG_LOCK_CLASS = 0x6D6C64


def _not_found(name: str, version: int | None = None) -> DatasetNotFound:
    if version is None:
        return DatasetNotFound(f"no dataset named {name!r}", details={"name": name})
    return DatasetNotFound(
        f"dataset {name!r} has no version {version}", details={"name": name, "version": version}
    )


def _version(r: Any) -> DatasetVersion:
    return DatasetVersion(
        name=r.name,
        version=r.version,
        digest=r.digest,
        source=r.source,
        format=r.format,
        num_rows=r.num_rows,
        num_columns=r.num_columns,
        columns=[DatasetColumn(**c) for c in orjson.loads(r.schema)],
        size_bytes=r.size_bytes,
        description=r.description,
        tags=orjson.loads(r.tags),
        creation_time=r.creation_time,
    )


class SqlDatasets:
    """Dataset versions and run inputs in the database ``db``, their files under
    ``<artifacts_uri>/datasets/`` (``SqlStore`` delegates to it)."""

    def __init__(
        self,
        db: Database,
        artifacts_uri: str,
        storage_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.db = db
        self.artifacts_uri = artifacts_uri
        self.storage_options = storage_options

    def _dataset_artifacts(self) -> ArtifactStore:
        return open_artifact_store(self.artifacts_uri, self.storage_options)

    def _one_dataset(self, conn: sa.Connection, where: Any) -> DatasetVersion | None:
        row = conn.execute(sa.select(t.datasets).where(where)).first()
        return None if row is None else _version(row)

    def create_dataset_version(
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
        filename = f"{digest}{DATA_SUFFIX}"
        path = dataset_file_path(name, filename)
        if not self._dataset_artifacts().exists(path):
            raise InvalidArgument(
                f"dataset {name!r} has no uploaded file {filename}: store it with "
                "put_dataset_file before registering the version",
                details={"name": name, "digest": digest},
            )
        d = t.datasets.c
        schema = orjson.dumps([c.model_dump() for c in columns]).decode()
        tag_text = orjson.dumps(tags, option=orjson.OPT_SORT_KEYS).decode()
        source = f"{self.artifacts_uri}/{path}"

        def fn(conn: sa.Connection) -> DatasetVersion:
            self.db.lock(conn, _PG_LOCK_CLASS, name)
            found = self._one_dataset(conn, sa.and_(d.name == name, d.digest == digest))
            if found is not None:
                return found
            version = (
                int(
                    conn.execute(
                        sa.select(sa.func.coalesce(sa.func.max(d.version), 0)).where(d.name == name)
                    ).scalar_one()
                )
                + 1
            )
            conn.execute(
                sa.insert(t.datasets).values(
                    name=name,
                    version=version,
                    digest=digest,
                    source=source,
                    format=format,
                    num_rows=num_rows,
                    num_columns=num_columns,
                    schema=schema,
                    size_bytes=size_bytes,
                    description=description,
                    tags=tag_text,
                    creation_time=now_ms(),
                )
            )
            created = self._one_dataset(conn, sa.and_(d.name == name, d.version == version))
            assert created is not None
            return created

        # A race on (name, version) or (name, digest) is retried: the transaction then finds
        # what the other writer stored.
        return self.db.write_retrying(f"registering a version of dataset {name!r}", fn)

    def get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        d = t.datasets.c
        with self.db.read("reading a dataset version") as conn:
            found = self._one_dataset(conn, sa.and_(d.name == name, d.version == version))
            if found is None:
                exists = conn.execute(sa.select(d.dataset_pk).where(d.name == name)).first()
                raise _not_found(name, version if exists else None)
        return found

    def get_latest_dataset_version(self, name: str) -> DatasetVersion:
        d = t.datasets.c
        with self.db.read("reading the latest dataset version") as conn:
            row = conn.execute(
                sa.select(t.datasets).where(d.name == name).order_by(d.version.desc()).limit(1)
            ).first()
        if row is None:
            raise _not_found(name)
        return _version(row)

    def find_dataset_versions(self, name: str, digest_prefix: str) -> list[DatasetVersion]:
        d = t.datasets.c
        with self.db.read("finding a dataset version by digest") as conn:
            if not conn.execute(sa.select(d.dataset_pk).where(d.name == name)).first():
                raise _not_found(name)
            rows = conn.execute(
                sa.select(t.datasets)
                .where(d.name == name, d.digest.startswith(digest_prefix, autoescape=True))
                .order_by(d.version)
            ).all()
        return [_version(r) for r in rows]

    def list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        d = t.datasets.c
        with self.db.read("listing dataset versions") as conn:
            rows = conn.execute(
                sa.select(t.datasets).where(d.name == name).order_by(d.version.desc())
            ).all()
        if not rows:
            raise _not_found(name)
        return [_version(r) for r in rows]

    def list_datasets(self) -> list[DatasetVersion]:
        d = t.datasets.c
        latest = (
            sa.select(d.name, sa.func.max(d.version).label("version")).group_by(d.name).subquery()
        )
        with self.db.read("listing datasets") as conn:
            rows = conn.execute(
                sa.select(t.datasets)
                .join(latest, sa.and_(d.name == latest.c.name, d.version == latest.c.version))
                .order_by(d.name)
            ).all()
        return [_version(r) for r in rows]

    def put_dataset_file(self, name: str, filename: str, stream: IO[bytes]) -> ArtifactInfo:
        return self._dataset_artifacts().put_stream(stream, dataset_file_path(name, filename))

    def open_dataset_file(self, name: str, filename: str) -> IO[bytes]:
        return self._dataset_artifacts().open(dataset_file_path(name, filename))

    def log_inputs(self, run_id: str, inputs: list[tuple[str, int, str]]) -> None:
        d = t.datasets.c

        def fn(conn: sa.Connection) -> None:
            run_pk = active_run_pk(conn, run_id)
            if not inputs:
                return
            wanted = {(n, v) for n, v, _ in inputs}
            pks: dict[tuple[str, int], int] = {}
            for n, v, pk in conn.execute(
                sa.select(d.name, d.version, d.dataset_pk).where(
                    sa.or_(*(sa.and_(d.name == n, d.version == v) for n, v in wanted))
                )
            ):
                pks[(n, v)] = pk
            missing = sorted(wanted - pks.keys())
            if missing:
                raise _not_found(*missing[0])
            now = now_ms()
            conn.execute(
                self.db.insert(t.run_inputs).on_conflict_do_nothing(
                    index_elements=["run_pk", "dataset_pk", "context"]
                ),
                [
                    {
                        "run_pk": run_pk,
                        "dataset_pk": pks[(n, v)],
                        "context": c,
                        "creation_time": now,
                    }
                    for n, v, c in inputs
                ],
            )

        self.db.write(f"logging inputs of run {run_id}", fn)

    def get_run_inputs(self, run_id: str) -> list[RunInput]:
        d, i = t.datasets.c, t.run_inputs.c
        with self.db.read("reading run inputs") as conn:
            run_pk = run_row(conn, run_id).run_pk
            rows = conn.execute(
                sa.select(d.name, d.version, d.digest, i.context, i.creation_time)
                .select_from(t.run_inputs)
                .join(t.datasets, d.dataset_pk == i.dataset_pk)
                .where(i.run_pk == run_pk)
                .order_by(i.creation_time, d.name, d.version, i.context)
            ).all()
        return [
            RunInput(
                run_id=run_id,
                dataset_name=r.name,
                dataset_version=r.version,
                digest=r.digest,
                context=r.context,
                creation_time=r.creation_time,
            )
            for r in rows
        ]

    # -- check results -------------------------------------------------------------------------

    def _dataset_pk(self, conn: sa.Connection, name: str, version: int) -> int:
        d = t.datasets.c
        pk = conn.execute(
            sa.select(d.dataset_pk).where(d.name == name, d.version == version)
        ).scalar()
        if pk is None:
            exists = conn.execute(sa.select(d.dataset_pk).where(d.name == name)).first()
            raise _not_found(name, version if exists else None)
        return int(pk)

    def log_dataset_check(
        self, name: str, version: int, report: CheckRecord, run_id: str | None, actor: str
    ) -> DatasetCheck:
        def fn(conn: sa.Connection) -> DatasetCheck:
            dataset_pk = self._dataset_pk(conn, name, version)
            now = now_ms()
            values: dict[str, Any] = {
                "dataset_pk": dataset_pk,
                "passed": report.passed,
                "checks": report.checks,
                "num_rows": report.num_rows,
                "num_checks": report.num_checks,
                "num_failed": report.num_failed,
                "num_errors": report.num_errors,
                "failures": report.failures_json,
                "run_id": run_id,
                "actor": actor,
                "time": now,
            }
            pk = conn.execute(
                sa.insert(t.dataset_checks).values(**values).returning(t.dataset_checks.c.check_pk)
            ).scalar_one()
            return DatasetCheck(
                check_id=int(pk),
                name=name,
                version=version,
                passed=report.passed,
                checks=report.checks,
                num_rows=report.num_rows,
                num_checks=report.num_checks,
                num_failed=report.num_failed,
                num_errors=report.num_errors,
                failures=report.failures,
                run_id=run_id,
                actor=actor,
                time=now,
            )

        return self.db.write(f"recording a check of dataset {name!r} version {version}", fn)

    def list_dataset_checks(
        self, name: str, version: int | None, max_results: int
    ) -> list[DatasetCheck]:
        d, c = t.datasets.c, t.dataset_checks.c
        with self.db.read("listing dataset checks") as conn:
            if version is None:
                if conn.execute(sa.select(d.dataset_pk).where(d.name == name)).first() is None:
                    raise _not_found(name)
                where = d.name == name
            else:
                where = c.dataset_pk == self._dataset_pk(conn, name, version)
            rows = conn.execute(
                sa.select(t.dataset_checks, d.version)
                .join(t.datasets, d.dataset_pk == c.dataset_pk)
                .where(where)
                .order_by(c.check_pk.desc())
                .limit(max_results)
            ).all()
        return [
            DatasetCheck(
                check_id=r.check_pk,
                name=name,
                version=r.version,
                passed=bool(r.passed),
                checks=r.checks,
                num_rows=r.num_rows,
                num_checks=r.num_checks,
                num_failed=r.num_failed,
                num_errors=r.num_errors,
                failures=orjson.loads(r.failures),
                run_id=r.run_id,
                actor=r.actor,
                time=r.time,
            )
            for r in rows
        ]
