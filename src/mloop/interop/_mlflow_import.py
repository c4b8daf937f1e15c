"""``import_mlflow``: copy an MLflow store into mloop's, once.

The source is read with MLflow's own client (``pip install 'mloop[mlflow]'``), so every store
MLflow reads works: a tracking server (``http(s)://...``), a local ``mlruns`` folder, or an
MLflow database (``sqlite:///mlflow.db``, a path to a ``.db`` file, ``postgresql://...``).

What is copied: experiments (by name; MLflow's ``Default`` becomes mloop's ``default``), their
active runs with every point of every metric, params, tags, status and times, nesting, and
artifacts; MLflow 3's logged models (as child runs of the run that logged them, as the
MLflow-compatible API keeps them); registered models with their descriptions and tags,
versions (in MLflow's order; ``Archived`` ones archived) and aliases.

It is idempotent: every copied record carries its MLflow id in an ``mlflow.import.*`` tag, and
a second import skips what is there. A run is marked complete only after its last metric and
artifact are stored; a run an interrupted import left incomplete is deleted and copied again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import (
    ExperimentNotFound,
    InvalidArgument,
    MloopError,
    RegisteredModelAlreadyExists,
    RegisteredModelNotFound,
)
from mloop.interop._mlflow_tags import (
    IMPORT_COMPLETE_TAG,
    IMPORT_EXPERIMENT_TAG,
    IMPORT_RUN_TAG,
    IMPORT_SOURCE_TAG,
    IMPORT_VERSION_TAG,
    IMPORTED_MODEL_ID_TAG,
    LOGGED_MODEL_TAG,
    MODEL_ID_PREFIX,
    MODEL_ID_TAG,
    MODEL_TYPE_TAG,
    OUTPUT_TAG,
    SOURCE_TAG,
)

if TYPE_CHECKING:
    from mloop.store import Store

__all__ = ["ImportSummary", "import_mlflow", "tracking_uri_of"]

#: Progress: (what, done, total) after each item of a phase ("runs", "models", ...).
Progress = Callable[[str, int, int], None]

_METRIC_BATCH = 50_000
_PAGE = 1_000
_DEFAULT = ("Default", "default")


@dataclass
class ImportSummary:
    """What an import copied and what it found already there."""

    source: str
    experiments: int = 0
    runs: int = 0
    runs_skipped: int = 0
    metric_points: int = 0
    params: int = 0
    artifact_files: int = 0
    logged_models: int = 0
    registered_models: int = 0
    model_versions: int = 0
    versions_skipped: int = 0
    aliases: int = 0
    #: MLflow's version -> mloop's, per model, where they differ (MLflow's have gaps).
    renumbered: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def added(self) -> int:
        return self.experiments + self.runs + self.logged_models + self.model_versions


def tracking_uri_of(source: str) -> str:
    """The MLflow tracking URI of ``source``: URLs as they are; a folder as ``file://``; a
    ``.db``/``.sqlite`` file as ``sqlite:///``.

    Raises:
        InvalidArgument: a path that does not exist.
    """
    if not isinstance(source, str) or not source.strip():
        raise InvalidArgument("--from needs an MLflow tracking URI, an mlruns folder or a .db file")
    if "://" in source or source.startswith(("sqlite:", "postgresql:", "mysql:", "databricks")):
        return source
    path = Path(source).expanduser().resolve()
    if path.is_dir():
        return path.as_uri()
    if path.is_file():
        return f"sqlite:///{path}"
    raise InvalidArgument(f"no such MLflow folder or database: {source!r}")


def _client(uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise InvalidArgument(
            "importing from MLflow reads its stores with MLflow's client: "
            "pip install 'mloop[mlflow]' (mlflow-skinny)"
        ) from None
    if uri.startswith("file:"):
        # MLflow 3 refuses its file store unless asked: reading one to migrate is what it is for.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


class _Importer:
    def __init__(self, client: Any, store: Store, source: str, progress: Progress | None) -> None:
        self.client = client
        self.store = store
        self.source = source
        self.progress = progress
        self.summary = ImportSummary(source)
        self.run_ids: dict[str, str] = {}  # MLflow run id -> mloop run id
        self.model_ids: dict[str, str] = {}  # MLflow logged model id -> mloop holder run id
        self.experiments: dict[str, str] = {}  # MLflow experiment id -> mloop's

    def tick(self, what: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(what, done, total)

    # -- experiments and runs --------------------------------------------------------------

    def experiment(self, exp: Any) -> str:
        name = _DEFAULT[1] if (exp.experiment_id, exp.name) == ("0", _DEFAULT[0]) else exp.name
        try:
            found = self.store.get_experiment_by_name(name)
            if found.lifecycle_stage.value == "deleted":
                self.store.restore_experiment(found.experiment_id)
            exp_id = found.experiment_id
        except ExperimentNotFound:
            tags = dict(exp.tags or {})
            tags[IMPORT_EXPERIMENT_TAG] = exp.experiment_id
            tags[IMPORT_SOURCE_TAG] = self.source
            exp_id = self.store.create_experiment(name, tags=tags).experiment_id
            self.summary.experiments += 1
        self.experiments[exp.experiment_id] = exp_id
        return exp_id

    def imported_runs(self, exp_id: str) -> dict[str, tuple[str, bool]]:
        """MLflow run id -> (mloop run id, complete) of what earlier imports copied."""
        out: dict[str, tuple[str, bool]] = {}
        token = None
        while True:
            page = self.store.search_runs(
                [exp_id],
                f"tags.`{IMPORT_RUN_TAG}` IS NOT NULL",
                max_results=5_000,
                page_token=token,
            )
            for run in page.runs:
                tags = run.data.tags
                out[tags[IMPORT_RUN_TAG]] = (run.run_id, tags.get(IMPORT_COMPLETE_TAG) == "true")
            token = page.next_page_token
            if not token:
                return out

    def runs(self, experiments: list[Any]) -> None:
        from mlflow.entities import ViewType

        work: list[tuple[str, Any]] = []
        for exp in experiments:
            exp_id = self.experiment(exp)
            found = list(_pages(self._run_pages(exp.experiment_id, ViewType.ACTIVE_ONLY)))
            # Parents first, so that children can point at them.
            found.sort(
                key=lambda r: (
                    r.data.tags.get("mlflow.parentRunId") is not None,
                    r.info.start_time or 0,
                )
            )
            done = self.imported_runs(exp_id)
            for run in found:
                previous = done.get(run.info.run_id)
                if previous is not None and previous[1]:
                    self.run_ids[run.info.run_id] = previous[0]
                    self.summary.runs_skipped += 1
                    continue
                if previous is not None:  # an interrupted import: start this run again
                    self.store.delete_run(previous[0])
                work.append((exp_id, run))
        for i, (exp_id, run) in enumerate(work, 1):
            self.run(exp_id, run)
            self.tick("runs", i, len(work))

    def _run_pages(self, experiment_id: str, view: Any) -> Callable[[str | None], Any]:
        def fetch(token: str | None) -> Any:
            return self.client.search_runs(
                [experiment_id], run_view_type=view, max_results=_PAGE, page_token=token
            )

        return fetch

    def _model_pages(self, experiment_id: str) -> Callable[[str | None], Any]:
        def fetch(token: str | None) -> Any:
            return self.client.search_logged_models(
                experiment_ids=[experiment_id], max_results=100, page_token=token
            )

        return fetch

    def run(self, exp_id: str, run: Any) -> None:
        info, data = run.info, run.data
        tags = dict(data.tags)
        tags[IMPORT_RUN_TAG] = info.run_id
        tags[IMPORT_SOURCE_TAG] = self.source
        parent = self.run_ids.get(tags.get("mlflow.parentRunId", ""))
        created = self.store.create_run(
            exp_id,
            run_name=info.run_name or None,
            parent_run_id=parent,
            start_time=info.start_time,
            tags=tags,
            user=info.user_id or "",
        )
        run_id = created.run_id
        self.run_ids[info.run_id] = run_id
        if data.params:
            self.store.log_batch(run_id, params=data.params)
            self.summary.params += len(data.params)
        for key in data.metrics:
            history = self.client.get_metric_history(info.run_id, key)
            # A point linked to a logged model (MLflow 3) goes to that model's run.
            points = [
                (m.key, m.value, m.step, m.timestamp)
                for m in history
                if not getattr(m, "model_id", None)
            ]
            for start in range(0, len(points), _METRIC_BATCH):
                self.store.log_batch(run_id, metrics=points[start : start + _METRIC_BATCH])
            self.summary.metric_points += len(points)
        self.summary.artifact_files += self.artifacts(info.run_id, run_id)
        if info.status != "RUNNING" or info.end_time:
            self.store.update_run(run_id, status=info.status, end_time=info.end_time)
        # Last: a run without this tag is one an interrupted import left half-copied.
        self.store.log_batch(run_id, tags={IMPORT_COMPLETE_TAG: "true"})
        self.summary.runs += 1

    def artifacts(self, mlflow_run_id: str, run_id: str, uri: str | None = None) -> int:
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="mloop-import-") as tmp:
            if uri is None:
                if not self.client.list_artifacts(mlflow_run_id):
                    return 0
                local = self.client.download_artifacts(mlflow_run_id, "", tmp)
            else:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=tmp, tracking_uri=self.source
                )
            folder = Path(local)
            if not folder.is_dir() or not any(folder.iterdir()):
                return 0
            return len(self.store.log_artifact(run_id, folder, ""))

    # -- logged models (MLflow 3) ----------------------------------------------------------

    def logged_models(self, experiments: list[Any]) -> None:
        try:
            found = [m for exp in experiments for m in _pages(self._model_pages(exp.experiment_id))]
        except Exception as exc:  # an MLflow 2 store has no logged models
            if "logged" in str(exc).lower() or "not found" in str(exc).lower():
                return
            raise
        done: dict[str, str] = {}
        for exp_id in set(self.experiments.values()):
            page = self.store.search_runs(
                [exp_id], f"tags.`{IMPORTED_MODEL_ID_TAG}` IS NOT NULL", max_results=50_000
            )
            done.update({r.data.tags[IMPORTED_MODEL_ID_TAG]: r.run_id for r in page.runs})
        todo = [m for m in found if m.model_id not in done]
        self.model_ids.update(done)
        for i, model in enumerate(todo, 1):
            self.logged_model(model)
            self.tick("logged models", i, len(todo))

    def logged_model(self, model: Any) -> None:
        exp_id = self.experiments.get(model.experiment_id)
        if exp_id is None:
            return
        parent = self.run_ids.get(model.source_run_id or "")
        tags = dict(model.tags or {})
        tags.update(
            {
                LOGGED_MODEL_TAG: "true",
                IMPORTED_MODEL_ID_TAG: model.model_id,
                IMPORT_SOURCE_TAG: self.source,
            }
        )
        if model.model_type:
            tags[MODEL_TYPE_TAG] = model.model_type
        holder = self.store.create_run(
            exp_id,
            run_name=model.name or None,
            parent_run_id=parent,
            start_time=model.creation_timestamp,
            tags=tags,
        ).run_id
        if model.params:
            self.store.log_batch(holder, params=dict(model.params))
        linked = [(m.key, m.value, m.step, m.timestamp) for m in (model.metrics or [])]
        if linked:
            self.store.log_batch(holder, metrics=linked)
        self.artifacts("", holder, uri=model.artifact_location)
        status = getattr(model.status, "name", str(model.status))
        self.store.update_run(
            holder,
            status="FINISHED" if "READY" in status else "FAILED",
            end_time=model.last_updated_timestamp,
        )
        if parent is not None:
            self.store.log_batch(parent, tags={OUTPUT_TAG + MODEL_ID_PREFIX + holder: "0"})
        self.model_ids[model.model_id] = holder
        self.summary.logged_models += 1

    # -- the registry ----------------------------------------------------------------------

    def source_of(self, mv: Any) -> tuple[str, str | None, str | None]:
        """(mloop's source, the run, mloop's model id) for an MLflow model version."""
        model_id = getattr(mv, "model_id", None)
        if not model_id and (mv.source or "").startswith("models:/m-"):
            model_id = mv.source[len("models:/") :].strip("/")
        if model_id and model_id in self.model_ids:
            holder = self.model_ids[model_id]
            run = self.store.get_run(holder)
            return f"runs:/{holder}", run.info.parent_run_id or holder, MODEL_ID_PREFIX + holder
        run_id = self.run_ids.get(mv.run_id or "")
        source = mv.source or ""
        if run_id is not None:
            marker = f"{mv.run_id}/artifacts/"
            if source.startswith(f"runs:/{mv.run_id}/"):
                return f"runs:/{run_id}/{source.split('/', 2)[2]}", run_id, None
            if marker in source:
                return f"runs:/{run_id}/{source.split(marker, 1)[1]}", run_id, None
        return source, run_id, None

    def registry(self) -> None:
        models = list(
            _pages(
                lambda token: self.client.search_registered_models(
                    max_results=_PAGE, page_token=token
                )
            )
        )
        for i, rm in enumerate(models, 1):
            self.registered_model(rm)
            self.tick("registered models", i, len(models))

    def registered_model(self, rm: Any) -> None:
        name = rm.name
        try:
            existing = {
                v.tags.get(IMPORT_VERSION_TAG): v.version
                for v in self.store.list_model_versions(name)
            }
        except RegisteredModelNotFound:
            try:
                self.store.create_registered_model(
                    name, description=rm.description or "", tags=dict(rm.tags or {})
                )
            except RegisteredModelAlreadyExists:
                pass
            self.summary.registered_models += 1
            existing = {}
        versions = sorted(
            self.client.search_model_versions(f"name = '{_quote(name)}'"),
            key=lambda v: int(v.version),
        )
        mapping: dict[str, int] = {k: v for k, v in existing.items() if k is not None}
        for mv in versions:
            if str(mv.version) in mapping:
                self.summary.versions_skipped += 1
                continue
            source, run_id, model_id = self.source_of(mv)
            tags = dict(mv.tags or {})
            tags.update({IMPORT_VERSION_TAG: str(mv.version), SOURCE_TAG: mv.source or source})
            if model_id is not None:
                tags[MODEL_ID_TAG] = model_id
            created = self.store.create_model_version(
                name, source, run_id=run_id, description=mv.description or "", tags=tags
            )
            if (mv.current_stage or "").lower() == "archived":
                self.store.archive_model_version(name, created.version)
            mapping[str(mv.version)] = created.version
            self.summary.model_versions += 1
        current = self.store.get_registered_model(name).aliases
        for alias, version in (getattr(rm, "aliases", None) or {}).items():
            target = mapping.get(str(version))
            if target is not None and current.get(alias) != target:
                self.store.set_alias(name, alias, target, reason=f"imported from {self.source}")
                self.summary.aliases += 1
        moved = {k: v for k, v in mapping.items() if str(v) != k}
        if moved:
            self.summary.renumbered[name] = moved


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def import_mlflow(source: str, store: Store, *, progress: Progress | None = None) -> ImportSummary:
    """Copy the MLflow store at ``source`` into ``store`` (see the module docstring).

    Args:
        source: an MLflow tracking server URL, an ``mlruns`` folder, or an MLflow database
            (a ``.db`` file or a database URI).
        store: mloop's store.
        progress: called with (phase, done, total) as runs, models and versions are copied.

    Returns:
        The counts of what was added and what was skipped as already there.

    Raises:
        InvalidArgument: ``source`` does not exist, or MLflow's client is not installed.
        MloopError: MLflow's client failed to read the source (its message included).

    Example::

        summary = import_mlflow("./mlruns", store)
        print(summary.runs, summary.model_versions)
    """
    uri = tracking_uri_of(source)
    with _pointed_at(uri):
        return _import(uri, store, progress)


@contextmanager
def _pointed_at(uri: str) -> Iterator[None]:
    """MLflow's default tracking and registry URIs set to ``uri`` while the import runs: some
    of MLflow's helpers (artifact downloads of logged models) read the defaults, and the default
    default is an ``mlflow.db`` in the working folder, which they would create."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, uri))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _import(uri: str, store: Store, progress: Progress | None) -> ImportSummary:
    client = _client(uri)
    importer = _Importer(client, store, uri, progress)
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    try:
        experiments = list(
            _pages(
                lambda token: client.search_experiments(
                    view_type=ViewType.ACTIVE_ONLY, max_results=_PAGE, page_token=token
                )
            )
        )
        importer.runs(experiments)
        importer.logged_models(experiments)
        importer.registry()
    except MlflowException as exc:
        raise MloopError(f"reading the MLflow store {uri} failed: {exc.message}") from exc
    return importer.summary
