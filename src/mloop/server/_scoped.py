"""A store as a token scoped to experiments sees it: the routes that take run and experiment
ids in bodies and query strings (the MLflow-compatible API) ask this view instead of the store.

Every method that names a run or an experiment checks it first: a run or an experiment outside
the scopes is answered exactly like one that does not exist (``RunNotFound``,
``ExperimentNotFound``: 404, and nothing is written); lists and searches return only what lies
inside. Methods that name neither (registry, datasets) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from fastapi import Request

from mloop.errors import ExperimentNotFound, NotFound, RunNotFound
from mloop.server._auth import Identity, identity_of
from mloop.store import Experiment, RunsPage, Store

__all__ = ["ExperimentScopedStore", "check_journal_scope", "scoped_store"]

#: Store methods whose first argument is a run id.
_RUN_METHODS = frozenset(
    {
        "get_run",
        "update_run",
        "delete_run",
        "restore_run",
        "log_batch",
        "delete_tag",
        "get_metric_history",
        "heartbeat",
        "log_artifact",
        "put_artifact",
        "list_artifacts",
        "download_artifacts",
        "open_artifact",
        "log_inputs",
        "get_run_inputs",
    }
)
#: Store methods whose first argument is an experiment id.
_EXPERIMENT_METHODS = frozenset(
    {
        "get_experiment",
        "rename_experiment",
        "delete_experiment",
        "restore_experiment",
        "set_experiment_tag",
        "create_run",
    }
)


class ExperimentScopedStore:
    """``store`` narrowed to the experiments ``allowed`` (see the module's docstring)."""

    def __init__(self, store: Store, allowed: Iterable[str]) -> None:
        self._store = store
        self._allowed = frozenset(str(e) for e in allowed)

    def _check_experiment(self, experiment_id: Any) -> None:
        if str(experiment_id) not in self._allowed:
            raise ExperimentNotFound(
                f"no experiment with id {experiment_id!r}",
                details={"experiment_id": str(experiment_id)},
            )

    def _check_run(self, run_id: Any) -> None:
        run = self._store.get_run(run_id)  # the store's own 404 for a run that does not exist
        if run.info.experiment_id not in self._allowed:
            raise RunNotFound(f"no run with id {run_id!r}", details={"run_id": str(run_id)})

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        checks: Callable[[Any], None]
        if name in _RUN_METHODS:
            checks = self._check_run
        elif name in _EXPERIMENT_METHODS:
            checks = self._check_experiment
        else:
            return attr

        def checked(first: Any, *args: Any, **kwargs: Any) -> Any:
            checks(first)
            return attr(first, *args, **kwargs)

        return checked

    def get_experiment_by_name(self, name: str) -> Experiment:
        found = self._store.get_experiment_by_name(name)
        if found.experiment_id not in self._allowed:
            raise ExperimentNotFound(f"no experiment named {name!r}", details={"name": name})
        return found

    def list_experiments(self, *args: Any, **kwargs: Any) -> list[Experiment]:
        found = self._store.list_experiments(*args, **kwargs)
        return [e for e in found if e.experiment_id in self._allowed]

    def search_runs(self, experiment_ids: Any, *args: Any, **kwargs: Any) -> RunsPage:
        asked = [str(e) for e in experiment_ids or []]
        ids = [e for e in asked if e in self._allowed] if asked else sorted(self._allowed)
        if not ids:
            return RunsPage(runs=[], next_page_token=None)
        return self._store.search_runs(ids, *args, **kwargs)


def scoped_store(request: Request) -> Store:
    """The application's store, narrowed to the caller's experiment scopes when it has any."""
    store: Store = request.app.state.store
    allowed = identity_of(request).scopes.experiments
    if allowed is None:
        return store
    return cast(Store, ExperimentScopedStore(store, allowed))


def check_journal_scope(identity: Identity, key: str) -> None:
    """A tuning journal of a study belongs to the experiment of its key
    (``<experiment id>:<study name>``); a token scoped to experiments gets 404 for the journals
    of other experiments and for journals of no experiment."""
    allowed = identity.scopes.experiments
    if allowed is None:
        return
    experiment_id, sep, _ = key.partition(":")
    if not sep or experiment_id not in allowed:
        raise NotFound(f"no tuning journal {key!r:.300}", details={"key": key[:300]})
