"""The registry part of ``SqlStore``: registered models, versions, aliases, the audit log.

Every change and its audit entry are written in one transaction. Version numbers come from
``max(version) + 1`` under a lock on the model's row (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` already serializes writers), so concurrent registrations get
consecutive numbers with no gaps.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from mloop._core import now_ms
from mloop.errors import (
    AlreadyExists,
    Conflict,
    InvalidAliasTarget,
    ModelVersionNotFound,
    RegisteredModelAlreadyExists,
    RegisteredModelNotFound,
    RunNotFound,
)
from mloop.store import _schema as t
from mloop.store._entities import (
    AuditEntry,
    Deployment,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
)
from mloop.store._sqldb import Database


def _model_not_found(name: str) -> RegisteredModelNotFound:
    return RegisteredModelNotFound(f"no registered model named {name!r}", details={"name": name})


def _version_not_found(name: str, version: int) -> ModelVersionNotFound:
    return ModelVersionNotFound(
        f"model {name!r} has no version {version}", details={"name": name, "version": version}
    )


class SqlRegistry:
    """The model registry in the database ``db`` (``SqlStore`` delegates to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- helpers -------------------------------------------------------------------------------

    def _model_row(self, conn: sa.Connection, name: str, *, lock: bool = False) -> Any:
        query = sa.select(t.registered_models).where(t.registered_models.c.name == name)
        if lock and not self.db.sqlite:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise _model_not_found(name)
        return row

    def _version_row(self, conn: sa.Connection, model_pk: int, name: str, version: int) -> Any:
        row = conn.execute(
            sa.select(t.model_versions).where(
                t.model_versions.c.model_pk == model_pk, t.model_versions.c.version == version
            )
        ).first()
        if row is None:
            raise _version_not_found(name, version)
        return row

    def _audit(
        self,
        conn: sa.Connection,
        *,
        name: str,
        version: int | None,
        action: str,
        actor: str,
        reason: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        conn.execute(
            sa.insert(t.registry_audit).values(
                model_name=name,
                version=version,
                action=action,
                actor=actor,
                time=now_ms(),
                before=None if before is None else orjson.dumps(before).decode(),
                after=None if after is None else orjson.dumps(after).decode(),
                reason=reason,
            )
        )

    def _load_models(self, conn: sa.Connection, where: Any) -> list[RegisteredModel]:
        rows = conn.execute(
            sa.select(t.registered_models).where(where).order_by(t.registered_models.c.name)
        ).all()
        if not rows:
            return []
        pks = [r.model_pk for r in rows]
        tags: dict[int, dict[str, str]] = {pk: {} for pk in pks}
        aliases: dict[int, dict[str, int]] = {pk: {} for pk in pks}
        latest: dict[int, int] = {}
        for pk, key, value in conn.execute(
            sa.select(
                t.registered_model_tags.c.model_pk,
                t.registered_model_tags.c.key,
                t.registered_model_tags.c.value,
            ).where(t.registered_model_tags.c.model_pk.in_(pks))
        ):
            tags[pk][key] = value
        a, v = t.model_aliases, t.model_versions
        for pk, alias, version in conn.execute(
            sa.select(a.c.model_pk, a.c.alias, v.c.version)
            .join(v, v.c.version_pk == a.c.version_pk)
            .where(a.c.model_pk.in_(pks))
        ):
            aliases[pk][alias] = version
        for pk, top in conn.execute(
            sa.select(v.c.model_pk, sa.func.max(v.c.version))
            .where(v.c.model_pk.in_(pks))
            .group_by(v.c.model_pk)
        ):
            latest[pk] = top
        return [
            RegisteredModel(
                name=r.name,
                description=r.description,
                tags=tags[r.model_pk],
                aliases=dict(sorted(aliases[r.model_pk].items())),
                latest_version=latest.get(r.model_pk),
                creation_time=r.creation_time,
                last_update_time=r.last_update_time,
            )
            for r in rows
        ]

    def _load_versions(self, conn: sa.Connection, name: str, where: Any) -> list[ModelVersion]:
        v = t.model_versions
        rows = conn.execute(sa.select(v).where(where).order_by(v.c.version.desc())).all()
        if not rows:
            return []
        pks = [r.version_pk for r in rows]
        tags: dict[int, dict[str, str]] = {pk: {} for pk in pks}
        aliases: dict[int, list[str]] = {pk: [] for pk in pks}
        mvt = t.model_version_tags
        for pk, key, value in conn.execute(
            sa.select(mvt.c.version_pk, mvt.c.key, mvt.c.value).where(mvt.c.version_pk.in_(pks))
        ):
            tags[pk][key] = value
        for pk, alias in conn.execute(
            sa.select(t.model_aliases.c.version_pk, t.model_aliases.c.alias)
            .where(t.model_aliases.c.version_pk.in_(pks))
            .order_by(t.model_aliases.c.alias)
        ):
            aliases[pk].append(alias)
        return [
            ModelVersion(
                name=name,
                version=r.version,
                source=r.source,
                run_id=r.run_id,
                status=ModelVersionStatus(r.status),
                description=r.description,
                tags=tags[r.version_pk],
                aliases=aliases[r.version_pk],
                creation_time=r.creation_time,
                last_update_time=r.last_update_time,
                registered_by=r.registered_by,
            )
            for r in rows
        ]

    def _one_version(self, conn: sa.Connection, name: str, version_pk: int) -> ModelVersion:
        return self._load_versions(conn, name, t.model_versions.c.version_pk == version_pk)[0]

    def _insert_model(
        self,
        conn: sa.Connection,
        name: str,
        description: str,
        tags: dict[str, str],
        actor: str,
        reason: str,
    ) -> int:
        now = now_ms()
        model_pk = conn.execute(
            sa.insert(t.registered_models)
            .values(name=name, description=description, creation_time=now, last_update_time=now)
            .returning(t.registered_models.c.model_pk)
        ).scalar_one()
        if tags:
            conn.execute(
                sa.insert(t.registered_model_tags),
                [{"model_pk": model_pk, "key": k, "value": v} for k, v in tags.items()],
            )
        self._audit(
            conn,
            name=name,
            version=None,
            action="create_model",
            actor=actor,
            reason=reason,
            before=None,
            after={"description": description, "tags": tags},
        )
        return int(model_pk)

    def _touch(self, conn: sa.Connection, model_pk: int) -> None:
        conn.execute(
            sa.update(t.registered_models)
            .where(t.registered_models.c.model_pk == model_pk)
            .values(last_update_time=now_ms())
        )

    # -- registered models ---------------------------------------------------------------------

    def create_registered_model(
        self, name: str, description: str, tags: dict[str, str], actor: str, reason: str
    ) -> RegisteredModel:
        def fn(conn: sa.Connection) -> None:
            exists = conn.execute(
                sa.select(t.registered_models.c.model_pk).where(t.registered_models.c.name == name)
            ).first()
            if exists is not None:
                raise RegisteredModelAlreadyExists(
                    f"a registered model named {name!r} exists already", details={"name": name}
                )
            self._insert_model(conn, name, description, tags, actor, reason)

        try:
            self.db.write("registering a model", fn)
        except AlreadyExists:
            raise
        except Conflict as exc:
            raise RegisteredModelAlreadyExists(
                f"a registered model named {name!r} exists already", details={"name": name}
            ) from exc
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.db.read("reading a registered model") as conn:
            found = self._load_models(conn, t.registered_models.c.name == name)
        if not found:
            raise _model_not_found(name)
        return found[0]

    def list_registered_models(self) -> list[RegisteredModel]:
        with self.db.read("listing registered models") as conn:
            return self._load_models(conn, sa.true())

    def update_registered_model(
        self, name: str, description: str, actor: str, reason: str
    ) -> RegisteredModel:
        def fn(conn: sa.Connection) -> None:
            row = self._model_row(conn, name, lock=True)
            conn.execute(
                sa.update(t.registered_models)
                .where(t.registered_models.c.model_pk == row.model_pk)
                .values(description=description, last_update_time=now_ms())
            )
            self._audit(
                conn,
                name=name,
                version=None,
                action="update_model",
                actor=actor,
                reason=reason,
                before={"description": row.description},
                after={"description": description},
            )

        self.db.write("updating a registered model", fn)
        return self.get_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: str, actor: str) -> None:
        def fn(conn: sa.Connection) -> None:
            row = self._model_row(conn, name, lock=True)
            old = conn.execute(
                sa.select(t.registered_model_tags.c.value).where(
                    t.registered_model_tags.c.model_pk == row.model_pk,
                    t.registered_model_tags.c.key == key,
                )
            ).scalar()
            self.db.upsert(
                conn,
                t.registered_model_tags,
                [{"model_pk": row.model_pk, "key": key, "value": value}],
                ["model_pk", "key"],
            )
            self._audit(
                conn,
                name=name,
                version=None,
                action="set_model_tag",
                actor=actor,
                reason="",
                before=None if old is None else {key: old},
                after={key: value},
            )

        self.db.write("tagging a registered model", fn)

    # -- versions ------------------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        description: str,
        tags: dict[str, str],
        actor: str,
        reason: str,
    ) -> ModelVersion:
        def fn(conn: sa.Connection) -> ModelVersion:
            try:
                model_pk = int(self._model_row(conn, name, lock=True).model_pk)
            except RegisteredModelNotFound:
                model_pk = self._insert_model(conn, name, "", {}, actor, reason)
            if (
                run_id is not None
                and conn.execute(
                    sa.select(t.runs.c.run_pk).where(t.runs.c.run_id == run_id)
                ).first()
                is None
            ):
                raise RunNotFound(f"no run with id {run_id!r}", details={"run_id": run_id})
            v = t.model_versions
            version = (
                int(
                    conn.execute(
                        sa.select(sa.func.coalesce(sa.func.max(v.c.version), 0)).where(
                            v.c.model_pk == model_pk
                        )
                    ).scalar_one()
                )
                + 1
            )
            now = now_ms()
            version_pk = conn.execute(
                sa.insert(v)
                .values(
                    model_pk=model_pk,
                    version=version,
                    source=source,
                    run_id=run_id,
                    status=ModelVersionStatus.READY.value,
                    description=description,
                    creation_time=now,
                    last_update_time=now,
                    registered_by=actor,
                )
                .returning(v.c.version_pk)
            ).scalar_one()
            if tags:
                conn.execute(
                    sa.insert(t.model_version_tags),
                    [{"version_pk": version_pk, "key": k, "value": val} for k, val in tags.items()],
                )
            conn.execute(
                sa.update(t.registered_models)
                .where(t.registered_models.c.model_pk == model_pk)
                .values(last_update_time=now)
            )
            self._audit(
                conn,
                name=name,
                version=version,
                action="create_version",
                actor=actor,
                reason=reason,
                before=None,
                after={"source": source, "run_id": run_id, "tags": tags},
            )
            return self._one_version(conn, name, version_pk)

        return self.db.write_retrying(f"registering a version of {name!r}", fn)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self.db.read("reading a model version") as conn:
            model_pk = self._model_row(conn, name).model_pk
            row = self._version_row(conn, model_pk, name, version)
            return self._one_version(conn, name, row.version_pk)

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        with self.db.read("listing model versions") as conn:
            model_pk = self._model_row(conn, name).model_pk
            return self._load_versions(conn, name, t.model_versions.c.model_pk == model_pk)

    def set_model_version_tag(
        self, name: str, version: int, key: str, value: str, actor: str
    ) -> None:
        def fn(conn: sa.Connection) -> None:
            model_pk = self._model_row(conn, name, lock=True).model_pk
            row = self._version_row(conn, model_pk, name, version)
            mvt = t.model_version_tags
            old = conn.execute(
                sa.select(mvt.c.value).where(mvt.c.version_pk == row.version_pk, mvt.c.key == key)
            ).scalar()
            self.db.upsert(
                conn,
                mvt,
                [{"version_pk": row.version_pk, "key": key, "value": value}],
                ["version_pk", "key"],
            )
            self._audit(
                conn,
                name=name,
                version=version,
                action="set_version_tag",
                actor=actor,
                reason="",
                before=None if old is None else {key: old},
                after={key: value},
            )

        self.db.write("tagging a model version", fn)

    def archive_model_version(
        self, name: str, version: int, actor: str, reason: str
    ) -> ModelVersion:
        def fn(conn: sa.Connection) -> ModelVersion:
            model_pk = self._model_row(conn, name, lock=True).model_pk
            row = self._version_row(conn, model_pk, name, version)
            pointing = sorted(
                conn.execute(
                    sa.select(t.model_aliases.c.alias).where(
                        t.model_aliases.c.version_pk == row.version_pk
                    )
                ).scalars()
            )
            if pointing:
                raise InvalidAliasTarget(
                    f"version {version} of {name!r} is the target of "
                    f"{', '.join('@' + a for a in pointing)}: move the alias(es) to another "
                    "version before archiving it",
                    details={"name": name, "version": version, "aliases": pointing},
                )
            if row.status != ModelVersionStatus.ARCHIVED.value:
                conn.execute(
                    sa.update(t.model_versions)
                    .where(t.model_versions.c.version_pk == row.version_pk)
                    .values(status=ModelVersionStatus.ARCHIVED.value, last_update_time=now_ms())
                )
                self._touch(conn, model_pk)
                self._audit(
                    conn,
                    name=name,
                    version=version,
                    action="archive_version",
                    actor=actor,
                    reason=reason,
                    before={"status": row.status},
                    after={"status": ModelVersionStatus.ARCHIVED.value},
                )
            return self._one_version(conn, name, row.version_pk)

        return self.db.write("archiving a model version", fn)  # type: ignore[no-any-return]

    # -- aliases -------------------------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, actor: str, reason: str
    ) -> ModelVersion:
        def fn(conn: sa.Connection) -> ModelVersion:
            model_pk = self._model_row(conn, name, lock=True).model_pk
            row = self._version_row(conn, model_pk, name, version)
            if row.status == ModelVersionStatus.ARCHIVED.value:
                raise InvalidAliasTarget(
                    f"version {version} of {name!r} is archived; an alias must point at a READY "
                    "version",
                    details={"name": name, "version": version, "alias": alias},
                )
            a, v = t.model_aliases, t.model_versions
            before = conn.execute(
                sa.select(v.c.version)
                .join(a, a.c.version_pk == v.c.version_pk)
                .where(a.c.model_pk == model_pk, a.c.alias == alias)
            ).scalar()
            if before == version:
                return self._one_version(conn, name, row.version_pk)
            if before is None:
                conn.execute(
                    sa.insert(a).values(model_pk=model_pk, alias=alias, version_pk=row.version_pk)
                )
            else:
                conn.execute(
                    sa.update(a)
                    .where(a.c.model_pk == model_pk, a.c.alias == alias)
                    .values(version_pk=row.version_pk)
                )
            conn.execute(
                sa.update(t.registered_models)
                .where(t.registered_models.c.model_pk == model_pk)
                .values(last_update_time=now_ms())
            )
            self._audit(
                conn,
                name=name,
                version=version,
                action="set_alias",
                actor=actor,
                reason=reason,
                before=None if before is None else {"alias": alias, "version": before},
                after={"alias": alias, "version": version},
            )
            return self._one_version(conn, name, row.version_pk)

        return self.db.write_retrying(f"moving @{alias} of {name!r}", fn)

    def delete_alias(self, name: str, alias: str, actor: str, reason: str) -> None:
        def fn(conn: sa.Connection) -> None:
            model_pk = self._model_row(conn, name, lock=True).model_pk
            a, v = t.model_aliases, t.model_versions
            before = conn.execute(
                sa.select(v.c.version)
                .join(a, a.c.version_pk == v.c.version_pk)
                .where(a.c.model_pk == model_pk, a.c.alias == alias)
            ).scalar()
            if before is None:
                raise ModelVersionNotFound(
                    f"model {name!r} has no alias @{alias}", details={"name": name, "alias": alias}
                )
            conn.execute(sa.delete(a).where(a.c.model_pk == model_pk, a.c.alias == alias))
            self._touch(conn, model_pk)
            self._audit(
                conn,
                name=name,
                version=before,
                action="delete_alias",
                actor=actor,
                reason=reason,
                before={"alias": alias, "version": before},
                after=None,
            )

        self.db.write("deleting an alias", fn)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self.db.read("resolving an alias") as conn:
            model_pk = self._model_row(conn, name).model_pk
            version_pk = conn.execute(
                sa.select(t.model_aliases.c.version_pk).where(
                    t.model_aliases.c.model_pk == model_pk, t.model_aliases.c.alias == alias
                )
            ).scalar()
            if version_pk is None:
                raise ModelVersionNotFound(
                    f"model {name!r} has no alias @{alias}", details={"name": name, "alias": alias}
                )
            return self._one_version(conn, name, version_pk)

    def get_latest_version(self, name: str) -> ModelVersion:
        with self.db.read("reading the latest version") as conn:
            model_pk = self._model_row(conn, name).model_pk
            v = t.model_versions
            version_pk = conn.execute(
                sa.select(v.c.version_pk)
                .where(v.c.model_pk == model_pk, v.c.status == ModelVersionStatus.READY.value)
                .order_by(v.c.version.desc())
                .limit(1)
            ).scalar()
            if version_pk is None:
                raise ModelVersionNotFound(
                    f"model {name!r} has no READY version", details={"name": name}
                )
            return self._one_version(conn, name, version_pk)

    def get_audit_log(self, name: str) -> list[AuditEntry]:
        with self.db.read("reading the audit log") as conn:
            self._model_row(conn, name)
            rows = conn.execute(
                sa.select(t.registry_audit)
                .where(t.registry_audit.c.model_name == name)
                .order_by(t.registry_audit.c.audit_id)
            ).all()
        return [
            AuditEntry(
                audit_id=r.audit_id,
                model_name=r.model_name,
                version=r.version,
                action=r.action,
                actor=r.actor,
                time=r.time,
                before=None if r.before is None else orjson.loads(r.before),
                after=None if r.after is None else orjson.loads(r.after),
                reason=r.reason,
            )
            for r in rows
        ]

    # -- deployment records --------------------------------------------------------------------

    @staticmethod
    def _deployment(name: str, row: Any) -> Deployment:
        if row is None:
            return Deployment(name=name)
        return Deployment(
            name=name,
            generation=row.generation,
            spec=None if row.spec is None else orjson.loads(row.spec),
            updated_at=row.updated_at,
            actor=row.actor,
            reason=row.reason,
        )

    def get_deployment(self, name: str) -> Deployment:
        with self.db.read("reading a deployment record") as conn:
            self._model_row(conn, name)
            row = conn.execute(sa.select(t.deployments).where(t.deployments.c.name == name)).first()
        return self._deployment(name, row)

    def _write_deployment(
        self,
        name: str,
        spec: dict[str, Any] | None,
        expected_generation: int | None,
        actor: str,
        reason: str,
    ) -> Deployment:
        action = "deployment.set" if spec is not None else "deployment.clear"

        def fn(conn: sa.Connection) -> Deployment:
            # The model's row lock serializes writers of the record (as for aliases).
            model_pk = self._model_row(conn, name, lock=True).model_pk
            d = t.deployments
            row = conn.execute(sa.select(d).where(d.c.name == name)).first()
            current = self._deployment(name, row)
            if expected_generation is not None and expected_generation != current.generation:
                raise Conflict(
                    f"the deployment record of {name!r} is at generation {current.generation}, "
                    f"not {expected_generation}: someone changed it since you read it; read it "
                    "again and retry",
                    details={
                        "name": name,
                        "generation": current.generation,
                        "expected_generation": expected_generation,
                    },
                )
            if spec is None and current.spec is None:
                return current  # nothing to clear
            now = now_ms()
            values = {
                "generation": current.generation + 1,
                "spec": None if spec is None else orjson.dumps(spec).decode(),
                "updated_at": now,
                "actor": actor,
                "reason": reason,
            }
            if row is None:
                conn.execute(sa.insert(d).values(name=name, **values))
            else:
                conn.execute(sa.update(d).where(d.c.name == name).values(**values))
            self._touch(conn, model_pk)
            self._audit(
                conn,
                name=name,
                version=None,
                action=action,
                actor=actor,
                reason=reason,
                before=None
                if current.spec is None
                else {"generation": current.generation, "spec": current.spec},
                after=None if spec is None else {"generation": values["generation"], "spec": spec},
            )
            return self._deployment(
                name, conn.execute(sa.select(d).where(d.c.name == name)).first()
            )

        return self.db.write_retrying(f"writing the deployment record of {name!r}", fn)

    def set_deployment(
        self,
        name: str,
        spec: dict[str, Any],
        expected_generation: int | None,
        actor: str,
        reason: str,
    ) -> Deployment:
        return self._write_deployment(name, spec, expected_generation, actor, reason)

    def clear_deployment(
        self, name: str, expected_generation: int | None, actor: str, reason: str
    ) -> Deployment:
        return self._write_deployment(name, None, expected_generation, actor, reason)
