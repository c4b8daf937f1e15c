"""``tune``: hyperparameter search with Optuna, every trial a nested run, trials local or on Ray.

The study lives in mloop's own metadata store (an Optuna journal, see ``_tune_journal``), so a
study on SQLite, PostgreSQL or a shared ``mloop server`` needs no other service, any Ray worker
that reaches the tracking URI takes part, and a study resumes after its process died.
"""

from __future__ import annotations

import contextvars
import importlib.util
import json
import os
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import cloudpickle
import optuna
from optuna import TrialPruned
from optuna.distributions import distribution_to_json
from optuna.storages import JournalStorage
from optuna.trial import FrozenTrial, TrialState

from mloop._core import Settings
from mloop._core._tags import (
    TAG_ERROR,
    TAG_TUNE_BEST_MODEL_SOURCE,
    TAG_TUNE_BEST_PARAMS,
    TAG_TUNE_BEST_TRIAL,
    TAG_TUNE_BEST_TRIAL_RUN_ID,
    TAG_TUNE_DIRECTIONS,
    TAG_TUNE_ENGINE,
    TAG_TUNE_N_TRIALS,
    TAG_TUNE_PRUNER,
    TAG_TUNE_SAMPLER,
    TAG_TUNE_SPACE,
    TAG_TUNE_STATE,
    TAG_TUNE_STUDY,
)
from mloop.errors import InvalidArgument, NotFound
from mloop.pipeline._tune_journal import StoreJournalBackend
from mloop.pipeline._tune_space import SearchSpace, parse_space
from mloop.pipeline._tune_trial import (
    ATTR_MODEL,
    ATTR_PARENT,
    ATTR_RERUN,
    LIVE_SESSIONS,
    Objective,
    StudySpec,
    TrialContext,
    TrialOutcome,
    is_stale,
    owner_of_this_process,
    run_trial,
    trial_owner,
    trial_run_id,
)
from mloop.store import RunStatus
from mloop.tracking import Client, active_run, current_client

__all__ = ["TrialContext", "TrialOutcome", "TrialPruned", "TuneResult", "tune"]

SAMPLERS = ("tpe", "random", "cmaes", "grid", "qmc")
PRUNERS = ("median", "hyperband", "none")
ENGINES = ("local", "ray")
#: The artifact folder of the best trial's model in the study's run.
BEST_MODEL = "best_model"
_STUDY_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes:
        study_name: the study (pass it again to continue the study).
        experiment_id: where the runs are.
        parent_run_id: the study's run; each trial is a run nested under it.
        directions: ``minimize`` / ``maximize`` per objective.
        best_params, best_value, best_trial_number, best_trial_run_id: the best complete trial
            of a single-objective study (None when no trial completed).
        best_values: the best trial's values; for several objectives, the first trial of the
            Pareto front (all of it is in ``pareto_front``).
        best_model_uri: ``runs:/<parent_run_id>/best_model`` when the best trial logged a model.
        n_complete, n_pruned, n_failed: trials of the study so far, by state (a trial cut off
            by a dead process and run again is not counted).
        trials: the trials this call ran, in the order they finished.
        elapsed_s: wall time of this call.
    """

    study_name: str
    experiment_id: str
    parent_run_id: str
    directions: list[str]
    best_params: dict[str, Any] | None
    best_value: float | None
    best_values: tuple[float, ...] | None
    best_trial_number: int | None
    best_trial_run_id: str | None
    best_model_uri: str | None
    n_complete: int
    n_pruned: int
    n_failed: int
    trials: list[TrialOutcome] = field(default_factory=list)
    pareto_front: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def n_trials(self) -> int:
        """Trials of the study that count towards ``n_trials``."""
        return self.n_complete + self.n_pruned + self.n_failed

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``mloop tune --json``)."""
        return {
            "study_name": self.study_name,
            "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_run_id,
            "directions": self.directions,
            "best_params": self.best_params,
            "best_value": self.best_value,
            "best_values": list(self.best_values) if self.best_values else None,
            "best_trial_number": self.best_trial_number,
            "best_trial_run_id": self.best_trial_run_id,
            "best_model_uri": self.best_model_uri,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "n_failed": self.n_failed,
            "ran": len(self.trials),
            "pareto_front": self.pareto_front,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# -- samplers and pruners ----------------------------------------------------------------------


@dataclass(frozen=True)
class _SamplerSpec:
    """How to build the sampler in each process: a name and seed, or an object to copy."""

    name: str | None
    seed: int | None
    grid: dict[str, list[Any]] | None = None
    obj: Any = None

    def build(self, slot: int | None = None) -> optuna.samplers.BaseSampler:
        """The sampler; ``slot`` (a worker's task number) gives each parallel worker its own
        random stream, so seeded workers do not all draw the same points."""
        if self.obj is not None:
            sampler: optuna.samplers.BaseSampler = self.obj
            if slot is not None:
                sampler.reseed_rng()
            return sampler
        seed = self.seed if self.seed is None or slot is None else self.seed + 1 + slot
        if self.name == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        if self.name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if self.name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed)
        if self.name == "grid":
            assert self.grid is not None
            return optuna.samplers.GridSampler(self.grid, seed=seed)
        # Chosen by name on purpose: Optuna's "experimental" notice is noise here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(seed=seed)


def _sampler_spec(sampler: Any, seed: int | None, space: SearchSpace) -> _SamplerSpec:
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return _SamplerSpec(None, seed, obj=sampler)
    if sampler not in SAMPLERS:
        raise InvalidArgument(
            f"sampler must be one of {', '.join(SAMPLERS)} or an optuna sampler, got {sampler!r}"
        )
    if sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise InvalidArgument("the cmaes sampler needs the cmaes package: pip install cmaes")
    grid = space.grid() if sampler == "grid" else None
    return _SamplerSpec(sampler, seed, grid)


def _pruner(pruner: Any) -> optuna.pruners.BasePruner:
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    raise InvalidArgument(
        f"pruner must be one of {', '.join(PRUNERS)} or an optuna pruner, got {pruner!r}"
    )


def _directions(direction: str, directions: Sequence[str] | None) -> list[str]:
    out = list(directions) if directions is not None else [direction]
    if not out:
        raise InvalidArgument("directions must name at least one direction")
    for d in out:
        if d not in ("minimize", "maximize"):
            raise InvalidArgument(f"a direction is minimize or maximize, got {d!r}")
    return out


def _check_count(value: Any, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{what} must be an integer of at least {minimum}, got {value!r}")
    return value


# -- shipping the objective --------------------------------------------------------------------


def dumps_by_value(obj: Any) -> bytes:
    """cloudpickle ``obj`` with the code of its own module inside (not a reference to it), so a
    worker that cannot import the user's script still runs it."""
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    by_value = (
        module is not None
        and module.__name__ not in ("__main__", "builtins")
        and not module.__name__.startswith(("mloop.", "optuna", "ray"))
        and "site-packages" not in (getattr(module, "__file__", "") or "site-packages")
    )
    if by_value:
        assert module is not None
        cloudpickle.register_pickle_by_value(module)
    try:
        return bytes(cloudpickle.dumps(obj))
    finally:
        if by_value:
            assert module is not None
            cloudpickle.unregister_pickle_by_value(module)


# -- the study ---------------------------------------------------------------------------------


def _experiment_id(client: Client, experiment: str | None) -> str:
    if experiment is not None:
        return client.get_or_create_experiment(experiment).experiment_id
    run = active_run()
    if run is not None:
        return run.info.experiment_id
    # The experiment chosen with mloop.set_experiment(), if any (the fluent API's state).
    from mloop.tracking import current_experiment_id

    chosen = current_experiment_id()
    if chosen is not None:
        return chosen
    return _experiment_id(client, "default")


def _validate_study_name(name: Any) -> str:
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 128
        or not set(name) <= _STUDY_NAME_CHARS
    ):
        raise InvalidArgument(
            f"study_name is 1 to 128 letters, digits, '_', '.' and '-', got {name!r:.80}"
        )
    return name


def _mark_stale_trials(study: optuna.Study, client: Client) -> int:
    """Fail the RUNNING trials whose ``tune`` process is gone and queue their parameters again."""
    storage = study._storage
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_stale(trial_owner(t)):
            continue
        storage.set_trial_user_attr(t._trial_id, ATTR_RERUN, True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        run_id = trial_run_id(t)
        if run_id is not None:
            try:
                client.set_tags(
                    run_id,
                    {
                        TAG_TUNE_STATE: "FAILED",
                        TAG_ERROR: "the process running this trial died; the study resumed "
                        "and runs its parameters again",
                    },
                )
                client.set_terminated(run_id, RunStatus.FAILED)
            except NotFound:
                pass
        if t.params and set(t.params) == set(t.distributions):
            study.enqueue_trial(dict(t.params))
        n += 1
    return n


def _counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state in _COUNTED and not t.user_attrs.get(ATTR_RERUN)]


def _parent_run(
    study: optuna.Study, client: Client, experiment_id: str, tags: dict[str, str]
) -> str:
    parent_id = study.user_attrs.get(ATTR_PARENT)
    if isinstance(parent_id, str):
        try:
            client.get_run(parent_id)
        except NotFound:
            parent_id = None
        else:
            client.store.update_run(parent_id, status=RunStatus.RUNNING)
            client.set_tags(parent_id, tags)
            return parent_id
    outer = active_run()
    run = client.create_run(
        experiment_id,
        run_name=study.study_name,
        parent_run_id=outer.run_id if outer is not None else None,
        tags=tags,
    )
    study.set_user_attr(ATTR_PARENT, run.info.run_id)
    return run.info.run_id


def _finish(
    study: optuna.Study,
    client: Client,
    spec: StudySpec,
    directions: list[str],
    outcomes: list[TrialOutcome],
    log_best_model: bool,
    started: float,
) -> TuneResult:
    trials = _counted(study.get_trials(deepcopy=False))
    by_state = {s: sum(1 for t in trials if t.state == s) for s in _COUNTED}
    parent = spec.parent_run_id
    best: FrozenTrial | None = None
    pareto: list[FrozenTrial] = []
    if by_state[TrialState.COMPLETE]:
        if len(directions) == 1:
            best = study.best_trial
        else:
            pareto = study.best_trials
            best = pareto[0] if pareto else None
    best_model_uri = None
    tags: dict[str, Any] = {}
    client.log_metrics(
        parent,
        {
            "trials_complete": float(by_state[TrialState.COMPLETE]),
            "trials_pruned": float(by_state[TrialState.PRUNED]),
            "trials_failed": float(by_state[TrialState.FAIL]),
        },
    )
    if best is not None:
        best_run = trial_run_id(best)
        tags[TAG_TUNE_BEST_TRIAL] = best.number
        tags[TAG_TUNE_BEST_PARAMS] = json.dumps(best.params, sort_keys=True, default=str)
        if isinstance(best_run, str):
            tags[TAG_TUNE_BEST_TRIAL_RUN_ID] = best_run
        if len(directions) == 1:
            client.log_metric(parent, "best_objective", float(best.values[0]))
            for name, value in best.params.items():
                tags[f"best.{name}"] = value
        model_name = best.user_attrs.get(ATTR_MODEL)
        if log_best_model and isinstance(model_name, str) and isinstance(best_run, str):
            with tempfile.TemporaryDirectory(prefix="mloop-best-") as tmp:
                local = client.download_artifacts(best_run, model_name, tmp)
                client.log_artifacts(parent, local, BEST_MODEL)
            tags[TAG_TUNE_BEST_MODEL_SOURCE] = f"runs:/{best_run}/{model_name}"
            best_model_uri = f"runs:/{parent}/{BEST_MODEL}"
    if tags:
        client.set_tags(parent, tags)
    client.flush()
    return TuneResult(
        study_name=study.study_name,
        experiment_id=spec.experiment_id,
        parent_run_id=parent,
        directions=directions,
        best_params=dict(best.params) if best is not None and len(directions) == 1 else None,
        best_value=float(best.values[0]) if best is not None and len(directions) == 1 else None,
        best_values=tuple(best.values) if best is not None else None,
        best_trial_number=best.number if best is not None else None,
        best_trial_run_id=trial_run_id(best) if best is not None else None,
        best_model_uri=best_model_uri,
        n_complete=by_state[TrialState.COMPLETE],
        n_pruned=by_state[TrialState.PRUNED],
        n_failed=by_state[TrialState.FAIL],
        trials=outcomes,
        pareto_front=[
            {
                "number": t.number,
                "values": list(t.values),
                "params": t.params,
                "run_id": trial_run_id(t),
            }
            for t in pareto
        ],
        elapsed_s=time.monotonic() - started,
    )


# -- engines -----------------------------------------------------------------------------------


def _run_local(
    study: optuna.Study,
    spec: StudySpec,
    client: Client,
    objective: Objective,
    distributions: dict[str, Any],
    remaining: int,
    n_jobs: int,
    deadline: float | None,
    on_trial: Callable[[TrialOutcome], None] | None,
) -> list[TrialOutcome]:
    outcomes: list[TrialOutcome] = []
    lock = threading.Lock()
    launched = 0
    stop = threading.Event()
    errors: list[BaseException] = []

    def claim() -> bool:
        nonlocal launched
        with lock:
            if stop.is_set() or launched >= remaining or study._stop_flag:
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            launched += 1
            return True

    def work() -> None:
        while claim():
            try:
                outcome = run_trial(study, spec, client, objective, distributions)
            except BaseException as exc:
                stop.set()
                with lock:
                    errors.append(exc)
                return
            with lock:
                outcomes.append(outcome)
                if on_trial is not None:
                    on_trial(outcome)

    if n_jobs == 1:
        work()
    else:
        # Each thread runs in a copy of this one's context: the current store, a bound run.
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run, args=(work,), name=f"mloop-tune-{i}"
            )
            for i in range(n_jobs)
        ]
        for th in threads:
            th.start()
        try:
            for th in threads:
                th.join()
        except BaseException:  # Ctrl-C in the main thread: start no more trials
            stop.set()
            raise
    if errors:
        raise errors[0]
    return outcomes


def tune(
    objective: Objective,
    space: Mapping[str, Any] | SearchSpace | str | os.PathLike[str],
    n_trials: int = 20,
    *,
    study_name: str | None = None,
    direction: str = "minimize",
    directions: Sequence[str] | None = None,
    sampler: str | optuna.samplers.BaseSampler = "tpe",
    pruner: str | optuna.pruners.BasePruner | None = "median",
    engine: str = "local",
    parallelism: int = 1,
    address: str | None = None,
    timeout: float | None = None,
    experiment: str | None = None,
    log_best_model: bool = True,
    seed: int | None = None,
    on_trial: Callable[[TrialOutcome], None] | None = None,
    settings: Settings | None = None,
) -> TuneResult:
    """Search hyperparameters with Optuna; every trial is a run nested under the study's run.

    The study is stored in mloop's metadata store (SQLite, PostgreSQL or a shared server), so
    calling ``tune`` again with the same ``study_name`` continues it: ``n_trials`` is the total
    the study should reach, trials already finished count, and trials left RUNNING by a process
    that died are marked FAILED and their parameters run again.

    Args:
        objective: ``objective(params, trial) -> float`` (a tuple for several ``directions``).
            ``params`` holds the sampled values by name; ``trial`` (:class:`TrialContext`) takes
            ``trial.report(value, step)`` for pruning and ``trial.log_model(model)``. An
            exception fails that trial (its run ends FAILED with the error) and the study goes
            on.
        space: the search space: a dict such as ``{"lr": {"type": "float", "low": 1e-4,
            "high": 0.1, "log": True}}``, or the path of a YAML file holding one.
        n_trials: the trials the study should have in total.
        study_name: the study's name (letters, digits, ``_.-``); default a new random one.
        direction: ``minimize`` or ``maximize``.
        directions: one direction per objective, for multi-objective search.
        sampler: ``tpe``, ``random``, ``cmaes``, ``grid``, ``qmc`` or an optuna sampler.
        pruner: ``median``, ``hyperband``, ``none`` or an optuna pruner.
        engine: ``local`` (threads of this process) or ``ray`` (one Ray task per trial).
        parallelism: trials in flight at once (threads, or Ray tasks).
        address: the Ray cluster (default the settings' ``ray_address``, ``MLOOP_RAY_ADDRESS``;
            else a local Ray is started).
        timeout: seconds after which no new trial starts.
        experiment: the experiment of the runs; default the active run's, the one chosen with
            ``mloop.set_experiment``, or ``default``.
        log_best_model: copy the best trial's logged model to the study's run as
            ``best_model``.
        seed: the sampler's seed (each parallel worker gets its own stream from it).
        on_trial: called with each :class:`TrialOutcome` as trials finish (progress display).
        settings: the store to use; default the current one (:func:`mloop.store.current`). The
            objective runs with it current, in every thread and Ray worker.

    Returns:
        A :class:`TuneResult`.

    Raises:
        InvalidArgument: a malformed space (naming the parameter and field) or argument.

    Example::

        def objective(params, trial):
            return (params["x"] - 2) ** 2

        result = mloop.pipeline.tune(
            objective, {"x": {"type": "float", "low": -10, "high": 10}},
            n_trials=30, study_name="quadratic",
        )
        result.best_params  # {'x': 2.0...}
    """
    started = time.monotonic()
    if not callable(objective):
        raise InvalidArgument(f"objective must be callable, got {type(objective).__name__}")
    parsed = parse_space(space)
    n_trials = _check_count(n_trials, "n_trials")
    parallelism = _check_count(parallelism, "parallelism")
    dirs = _directions(direction, directions)
    if engine not in ENGINES:
        raise InvalidArgument(f"engine must be local or ray, got {engine!r}")
    if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
        raise InvalidArgument(f"timeout must be a positive number of seconds, got {timeout!r}")
    if seed is not None:
        _check_count(seed, "seed", minimum=0)
    name = _validate_study_name(study_name or f"study-{uuid.uuid4().hex[:10]}")
    sampler_spec = _sampler_spec(sampler, seed, parsed)
    pruner_obj = _pruner(pruner)
    if (
        len(dirs) > 1
        and not isinstance(pruner_obj, optuna.pruners.NopPruner)
        and pruner != "median"
    ):
        raise InvalidArgument("pruning works with one objective only: use pruner='none'")
    if len(dirs) > 1:
        pruner_obj = optuna.pruners.NopPruner()
    # The fluent API's client unless told otherwise: one store connection per process, not
    # one more per call.
    client = Client(settings=settings) if settings is not None else current_client()
    if engine == "ray":
        address = address or client.settings.ray_address or None
    experiment_id = _experiment_id(client, experiment)
    journal_key = f"{experiment_id}:{name}"
    storage = JournalStorage(
        StoreJournalBackend(journal_key, settings=client.settings, store=client.store)
    )
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=cast("list[Any]", dirs),
        sampler=sampler_spec.build(),
        pruner=pruner_obj,
        load_if_exists=True,
    )
    stored_dirs = [d.name.lower() for d in study.directions]
    if stored_dirs != dirs:
        raise InvalidArgument(
            f"study {name!r} exists with directions {stored_dirs}, not {dirs}: "
            "choose another study_name"
        )
    parent_tags = {
        TAG_TUNE_STUDY: name,
        TAG_TUNE_SPACE: json.dumps(parsed.to_dict(), sort_keys=True),
        TAG_TUNE_DIRECTIONS: ",".join(dirs),
        TAG_TUNE_SAMPLER: sampler if isinstance(sampler, str) else type(sampler).__name__,
        TAG_TUNE_PRUNER: pruner if isinstance(pruner, str) else type(pruner).__name__,
        TAG_TUNE_ENGINE: engine,
        TAG_TUNE_N_TRIALS: str(n_trials),
    }
    parent_run_id = _parent_run(study, client, experiment_id, parent_tags)
    session = uuid.uuid4().hex
    distributions = parsed.distributions()
    spec = StudySpec(
        settings=client.settings,
        journal_key=journal_key,
        study_name=name,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        distributions={k: distribution_to_json(d) for k, d in distributions.items()},
        n_objectives=len(dirs),
        owner=owner_of_this_process(session),
    )
    LIVE_SESSIONS.add(session)
    status = RunStatus.FAILED
    try:
        _mark_stale_trials(study, client)
        remaining = max(0, n_trials - len(_counted(study.get_trials(deepcopy=False))))
        deadline = None if timeout is None else time.monotonic() + timeout
        if engine == "local" or remaining == 0:
            outcomes = _run_local(
                study,
                spec,
                client,
                objective,
                distributions,
                remaining,
                parallelism,
                deadline,
                on_trial,
            )
        else:
            from mloop.pipeline._tune_ray import run_ray

            spec.objective = dumps_by_value(objective)
            spec.sampler = cloudpickle.dumps(sampler_spec)
            spec.pruner = cloudpickle.dumps(pruner_obj)
            outcomes = run_ray(spec, remaining, parallelism, address, deadline, on_trial)
        result = _finish(study, client, spec, dirs, outcomes, log_best_model, started)
        status = RunStatus.FINISHED
        return result
    except (KeyboardInterrupt, SystemExit):
        status = RunStatus.KILLED
        raise
    finally:
        LIVE_SESSIONS.discard(session)
        client.set_terminated(parent_run_id, status)
