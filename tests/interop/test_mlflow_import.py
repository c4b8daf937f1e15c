"""``mloop import mlflow``: stores made by the real MLflow client (a local mlruns folder, an
SQLite database, a tracking server), imported, checked record by record, imported again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mloop.cli import app
from mloop.errors import InvalidArgument
from mloop.interop import import_mlflow
from mloop.interop._mlflow_import import tracking_uri_of
from mloop.interop._mlflow_tags import (
    IMPORT_COMPLETE_TAG,
    IMPORT_RUN_TAG,
    IMPORTED_MODEL_ID_TAG,
    LOGGED_MODEL_TAG,
)
from mloop.store import SqlStore

pytest.importorskip("mlflow")

MAKER = Path(__file__).with_name("mlflow_store_maker.py")
REPO = Path(__file__).resolve().parents[2]
ENV = {
    "MLFLOW_ALLOW_FILE_STORE": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}


def _make(uri: str, cwd: Path, *flags: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(MAKER), uri, *flags],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def mlruns(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A local mlruns folder made by MLflow's client (made once for this module)."""
    root = tmp_path_factory.mktemp("mlflow")
    made = _make((root / "mlruns").as_uri(), root)
    return root / "mlruns", made


@pytest.fixture
def target(tmp_path: Path) -> SqlStore:
    store = SqlStore(f"sqlite:///{tmp_path / 'mloop.db'}", str(tmp_path / "artifacts"))
    yield store  # type: ignore[misc]
    store.close()


def _check_imported(store: SqlStore, made: dict[str, Any], gap: bool = True) -> None:
    exp = store.get_experiment_by_name("churn")
    runs = store.search_runs([exp.experiment_id], f"tags.`{IMPORT_RUN_TAG}` IS NOT NULL").runs
    by_origin = {r.data.tags[IMPORT_RUN_TAG]: r for r in runs}
    parent, child = by_origin[made["parent"]], by_origin[made["child"]]
    assert parent.info.run_name == "parent" and parent.info.status.value == "FINISHED"
    assert child.info.parent_run_id == parent.run_id
    assert parent.data.params == {"C": "1.0", "solver": "lbfgs"}
    assert parent.data.tags["team"] == "growth"
    assert parent.data.tags[IMPORT_COMPLETE_TAG] == "true"
    # MLflow 3's log_model logs the run's step-0 metrics again for the model; its file store
    # keeps that copy as a second point (its SQL store does not): mloop copies what MLflow has.
    history = store.get_metric_history(parent.run_id, "loss")
    points = sorted(
        set(
            zip(
                history.steps.tolist(),
                history.timestamps.tolist(),
                history.values.tolist(),
                strict=True,
            )
        )
    )
    assert points == [
        (0, 1_700_000_000_000, 1.0),
        (1, 1_700_000_000_001, 0.5),
        (2, 1_700_000_000_002, pytest.approx(1 / 3)),
    ]
    with store.open_artifact(parent.run_id, "notes/readme.txt") as f:
        assert f.read() == b"hello"
    # MLflow 3's logged model: a child run holding the model's files
    holders = store.search_runs([exp.experiment_id], f"tags.`{LOGGED_MODEL_TAG}` = 'true'").runs
    (holder,) = holders
    assert holder.data.tags[IMPORTED_MODEL_ID_TAG] == made["model_id"]
    assert holder.info.parent_run_id == parent.run_id
    assert "MLmodel" in {a.path for a in store.list_artifacts(holder.run_id)}
    # the registry: MLflow's versions 1 and 3 (2 was deleted) are mloop's 1 and 2
    rm = store.get_registered_model("churn-model")
    assert rm.description == "predicts churn"
    last = 2 if gap else 3
    assert rm.aliases == {"champion": 1, "challenger": last}
    v1 = store.get_model_version("churn-model", 1)
    v_last = store.get_model_version("churn-model", last)
    assert v1.source == f"runs:/{holder.run_id}"
    assert v1.run_id == parent.run_id
    assert v_last.source == f"runs:/{parent.run_id}/notes"
    assert v_last.tags["mlflow.import.version"] == "3"


@pytest.mark.slow  # MLflow's client makes the store in a subprocess
def test_imports_an_mlruns_folder_once(
    mlruns: tuple[Path, dict[str, Any]], target: SqlStore
) -> None:
    folder, made = mlruns
    seen: list[tuple[str, int, int]] = []
    first = import_mlflow(str(folder), target, progress=lambda *a: seen.append(a))
    assert (first.runs, first.logged_models, first.model_versions, first.aliases) == (2, 1, 2, 2)
    assert first.metric_points == 5 and first.params == 2  # loss x3 (+ MLflow's copy), acc
    assert first.renumbered == {"churn-model": {"3": 2}}
    assert ("runs", 2, 2) in seen
    _check_imported(target, made)
    again = import_mlflow(str(folder), target)
    assert again.added == 0 and again.aliases == 0
    assert (again.runs_skipped, again.versions_skipped) == (2, 2)
    _check_imported(target, made)


@pytest.mark.slow  # MLflow's client makes the store in a subprocess
def test_a_run_an_interrupted_import_left_is_copied_again(
    mlruns: tuple[Path, dict[str, Any]], target: SqlStore
) -> None:
    folder, made = mlruns
    import_mlflow(str(folder), target)
    exp = target.get_experiment_by_name("churn")
    (run,) = target.search_runs(
        [exp.experiment_id], f"tags.`{IMPORT_RUN_TAG}` = '{made['parent']}'"
    ).runs
    target.delete_tag(run.run_id, IMPORT_COMPLETE_TAG)  # as if the import died mid-run
    again = import_mlflow(str(folder), target)
    assert (again.runs, again.runs_skipped) == (1, 1)
    (fresh,) = target.search_runs(
        [exp.experiment_id], f"tags.`{IMPORT_RUN_TAG}` = '{made['parent']}'"
    ).runs
    assert fresh.run_id != run.run_id
    assert target.get_run(run.run_id).info.lifecycle_stage.value == "deleted"
    assert len(target.get_metric_history(fresh.run_id, "loss")) == 4


@pytest.mark.slow  # MLflow's client makes the store in a subprocess
def test_cli_prints_a_summary_and_json(
    mlruns: tuple[Path, dict[str, Any]], mloop_home: Path
) -> None:
    folder, _ = mlruns
    first = CliRunner().invoke(app, ["import", "mlflow", "--from", str(folder)])
    assert first.exit_code == 0, first.output
    assert "runs" in first.stdout and "renumbered" in first.stdout
    again = CliRunner().invoke(app, ["import", "mlflow", "--from", str(folder), "--json"])
    summary = json.loads(again.stdout)
    assert summary["runs"] == 0 and summary["runs_skipped"] == 2
    bad = CliRunner().invoke(app, ["import", "mlflow", "--from", "no/such/place"])
    assert bad.exit_code == 1
    assert "no such MLflow folder or database" in bad.output


def test_tracking_uri_of(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")
    (tmp_path / "mlruns").mkdir()
    assert tracking_uri_of(str(tmp_path / "mlflow.db")) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert tracking_uri_of(str(tmp_path / "mlruns")) == (tmp_path / "mlruns").as_uri()
    assert tracking_uri_of("http://mlflow:5000") == "http://mlflow:5000"
    assert tracking_uri_of("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(InvalidArgument):
        tracking_uri_of(str(tmp_path / "missing"))


@pytest.mark.slow
def test_imports_an_mlflow_sqlite_database(tmp_path: Path, target: SqlStore) -> None:
    # MLflow builds its schema with ~50 migrations (a minute or two): the database is made
    # once per MLflow version and kept (git-ignored).
    import mlflow

    cache = REPO / ".cache" / f"test-mlflow-sqlite-{mlflow.__version__}"
    db = cache / "mlflow.db"
    if not (cache / "made.json").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        made = _make(f"sqlite:///{db}", cache)
        (cache / "made.json").write_text(json.dumps(made))
    made = json.loads((cache / "made.json").read_text())
    work = tmp_path / "copy"
    shutil.copytree(cache, work)  # MLflow writes to what it reads; keep the cache pristine
    summary = import_mlflow(str(work / "mlflow.db"), target)
    assert (summary.runs, summary.model_versions) == (2, 2)
    _check_imported(target, made)


@pytest.mark.slow
def test_imports_from_a_tracking_server(live_server: str, tmp_path: Path, target: SqlStore) -> None:
    # The server is mloop's own MLflow-compatible API: the importer reads it over MLflow's REST
    # protocol and artifact proxy, as it reads MLflow's server.
    made = _make(live_server, tmp_path, "--no-gap")
    summary = import_mlflow(live_server, target)
    assert (summary.runs, summary.logged_models, summary.model_versions) == (2, 1, 3)
    _check_imported(target, made, gap=False)
