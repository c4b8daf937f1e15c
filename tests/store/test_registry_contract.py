"""The registry contract, on SQLite, PostgreSQL and HTTP against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mloop.errors import (
    InvalidAliasTarget,
    InvalidArgument,
    ModelVersionNotFound,
    RegisteredModelAlreadyExists,
    RegisteredModelNotFound,
    RunNotFound,
)
from mloop.store import HttpStore, ModelVersionStatus, SqlStore, Store


def test_versions_number_up_from_one(store: Store) -> None:
    v1 = store.create_model_version("churn", "runs:/aaaa/model", actor="ana", reason="first")
    v2 = store.create_model_version("churn", "s3://bucket/churn/2", tags={"framework": "lgbm"})
    assert (v1.version, v2.version) == (1, 2)
    assert v1.uri == "models:/churn/1"
    assert v2.tags == {"framework": "lgbm"}
    assert v2.status is ModelVersionStatus.READY
    model = store.get_registered_model("churn")
    assert model.latest_version == 2
    assert [v.version for v in store.list_model_versions("churn")] == [2, 1]
    assert store.get_model_version("churn", 1).source == "runs:/aaaa/model"


def test_registered_model_lifecycle(store: Store) -> None:
    created = store.create_registered_model(
        "fraud", description="card fraud", tags={"team": "risk"}
    )
    assert created.description == "card fraud"
    assert created.tags == {"team": "risk"}
    assert created.latest_version is None
    with pytest.raises(RegisteredModelAlreadyExists, match="fraud"):
        store.create_registered_model("fraud")
    updated = store.update_registered_model("fraud", description="v2", actor="bo", reason="doc")
    assert updated.description == "v2"
    store.set_registered_model_tag("fraud", "team", "platform")
    assert store.get_registered_model("fraud").tags == {"team": "platform"}
    assert [m.name for m in store.list_registered_models()] == ["fraud"]


def test_a_version_links_to_its_run(store: Store) -> None:
    exp = store.create_experiment("e")
    run = store.create_run(exp.experiment_id)
    version = store.create_model_version("linked", f"runs:/{run.run_id}/model", run_id=run.run_id)
    assert version.run_id == run.run_id
    with pytest.raises(RunNotFound):
        store.create_model_version("linked", "runs:/x/model", run_id="f" * 32)
    assert store.get_registered_model("linked").latest_version == 1  # nothing half-written


def test_aliases_move_atomically_and_are_audited(store: Store) -> None:
    for _ in range(3):
        store.create_model_version("churn", "runs:/x/model")
    v = store.set_alias("churn", "champion", 1, actor="ana", reason="baseline")
    assert v.aliases == ["champion"]
    store.set_alias("churn", "challenger", 3)
    moved = store.set_alias("churn", "champion", 2, actor="bo", reason="better auc")
    assert moved.version == 2
    assert moved.aliases == ["champion"]
    assert store.get_model_version_by_alias("churn", "champion").version == 2
    assert store.get_model_version_by_alias("churn", "latest").version == 3
    assert store.get_model_version("churn", 1).aliases == []
    assert store.get_registered_model("churn").aliases == {"challenger": 3, "champion": 2}

    store.delete_alias("churn", "challenger", actor="bo", reason="done")
    with pytest.raises(ModelVersionNotFound, match="challenger"):
        store.get_model_version_by_alias("churn", "challenger")

    log = store.get_audit_log("churn")
    actions = [(e.action, e.version) for e in log]
    assert actions == [
        ("create_model", None),
        ("create_version", 1),
        ("create_version", 2),
        ("create_version", 3),
        ("set_alias", 1),
        ("set_alias", 3),
        ("set_alias", 2),
        ("delete_alias", 3),
    ]
    move = log[6]
    # a server without --auth cannot check the name: it records it as unverified
    assert move.actor == ("unverified:bo" if isinstance(store, HttpStore) else "bo")
    assert move.reason == "better auc"
    assert move.before == {"alias": "champion", "version": 1}
    assert move.after == {"alias": "champion", "version": 2}
    assert all(e.time > 0 for e in log)


def test_alias_errors_leave_the_registry_unchanged(store: Store) -> None:
    store.create_model_version("m", "runs:/x/model")
    store.create_model_version("m", "runs:/x/model")
    store.set_alias("m", "champion", 1)
    before = store.get_audit_log("m")
    with pytest.raises(ModelVersionNotFound, match="no version 7"):
        store.set_alias("m", "champion", 7)
    store.archive_model_version("m", 2, reason="superseded")
    with pytest.raises(InvalidAliasTarget, match="archived"):
        store.set_alias("m", "champion", 2)
    with pytest.raises(InvalidAliasTarget, match="@champion"):
        store.archive_model_version("m", 1)
    assert store.get_model_version_by_alias("m", "champion").version == 1
    assert store.get_model_version("m", 2).status is ModelVersionStatus.ARCHIVED
    assert len(store.get_audit_log("m")) == len(before) + 1  # only the archive
    assert store.get_model_version_by_alias("m", "latest").version == 1  # newest READY


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_model_version("bad/name", "x"),
        lambda s: s.create_model_version("has space", "x"),
        lambda s: s.create_model_version("ok", ""),
        lambda s: s.set_alias("ok", "latest", 1),
        lambda s: s.set_alias("ok", "1bad", 1),
        lambda s: s.get_model_version("ok", 0),
        lambda s: s.get_model_version("ok", "one"),
    ],
)
def test_invalid_registry_arguments(store: Store, call: object) -> None:
    with pytest.raises(InvalidArgument):
        call(store)  # type: ignore[operator]


def test_unknown_models_and_versions(store: Store) -> None:
    with pytest.raises(RegisteredModelNotFound, match="ghost"):
        store.get_registered_model("ghost")
    with pytest.raises(RegisteredModelNotFound):
        store.set_alias("ghost", "champion", 1)
    with pytest.raises(RegisteredModelNotFound):
        store.get_audit_log("ghost")
    store.create_model_version("real", "runs:/x/m")
    with pytest.raises(ModelVersionNotFound, match="no version 2"):
        store.get_model_version("real", 2)


def test_version_tags(store: Store) -> None:
    store.create_model_version("t", "runs:/x/m")
    store.set_model_version_tag("t", 1, "validated", "yes", actor="ci")
    assert store.get_model_version("t", 1).tags == {"validated": "yes"}
    assert store.get_audit_log("t")[-1].action == "set_version_tag"


def test_the_audit_log_is_append_only_in_the_database(tmp_path: Path) -> None:
    import sqlalchemy as sa

    store = SqlStore(f"sqlite:///{tmp_path / 'a.db'}", str(tmp_path / "art"))
    store.create_model_version("m", "runs:/x/m")
    for sql in ("UPDATE registry_audit SET actor = 'mallory'", "DELETE FROM registry_audit"):
        with pytest.raises(sa.exc.IntegrityError, match="append-only"), store.engine.begin() as c:
            c.exec_driver_sql(sql)
    assert len(store.get_audit_log("m")) == 2
    store.close()


_REGISTER = """
import sys
from mloop.store import SqlStore
store = SqlStore(sys.argv[1], sys.argv[2])
v = store.create_model_version("race", "runs:/x/model", actor=sys.argv[3])
print(v.version)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_eight_processes_register_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'race.db'}"
    else:
        uri = request.getfixturevalue("pg_database")
        # a clean slate in the shared test database
        request.getfixturevalue("pg_store")
    store = SqlStore(uri, str(tmp_path / "art"))  # migrated before the race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REGISTER, uri, str(tmp_path / "art"), f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ,
        )
        for i in range(8)
    ]
    versions = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        versions.append(int(out))
    assert sorted(versions) == list(range(1, 9))
    assert [v.version for v in store.list_model_versions("race")] == list(range(8, 0, -1))
    log = store.get_audit_log("race")
    assert [e.action for e in log].count("create_model") == 1
    assert sorted(e.version for e in log if e.action == "create_version") == list(range(1, 9))
    store.close()
