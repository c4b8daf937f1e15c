"""One trial of a study: ask, run the objective in a nested run, tell. Shared by both engines.

Runs in the process that evaluates the objective: the ``tune`` process itself (local engine) or
a Ray worker. Everything it needs travels in a picklable :class:`StudySpec`.
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from mloop._core import Settings
from mloop._core._tags import (
    TAG_ERROR,
    TAG_TUNE_PRUNED_STEP,
    TAG_TUNE_STATE,
    TAG_TUNE_STUDY,
    TAG_TUNE_TRACEBACK,
    TAG_TUNE_TRIAL,
)
from mloop.store import Run, RunStatus
from mloop.store._context import use
from mloop.tracking import Client, bind_run

if TYPE_CHECKING:
    from mloop.models import ModelInfo, Signature

#: Run tags of trials and of the study's parent run.
#: Metric keys of a trial run: the objective's value, and what it reported along the way.
METRIC_OBJECTIVE = "objective"
METRIC_INTERMEDIATE = "intermediate_objective"
#: Optuna user attributes mloop keeps on trials and studies.
#: ``{"run_id": ..., "owner": {"host", "pid", "session"}}``: one attribute, one journal write.
ATTR_TRIAL = "mloop.trial"
ATTR_MODEL = "mloop.model"
ATTR_RERUN = "mloop.rerun"
ATTR_PARENT = "mloop.parent_run_id"

#: Sessions (``tune`` calls) running in this process; their RUNNING trials are not stale.
LIVE_SESSIONS: set[str] = set()

Objective = Callable[[dict[str, Any], "TrialContext"], Any]

_STATE_NAMES = {
    TrialState.COMPLETE: "COMPLETE",
    TrialState.PRUNED: "PRUNED",
    TrialState.FAIL: "FAILED",
}


def metric_names(n_objectives: int) -> list[str]:
    if n_objectives == 1:
        return [METRIC_OBJECTIVE]
    return [f"{METRIC_OBJECTIVE}_{i}" for i in range(n_objectives)]


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial came to.

    Attributes:
        number: the trial's number in the study (0, 1, ...).
        state: ``COMPLETE``, ``PRUNED`` or ``FAILED``.
        values: the objective's value(s), for a complete trial.
        params: the sampled parameters.
        run_id: the trial's nested run.
        error: ``Type: message`` of the exception of a failed trial.
        started, ended: Unix times in seconds (the objective's own time window).
        pruned_step: the step at which a pruned trial was stopped.
    """

    number: int
    state: str
    values: tuple[float, ...] | None
    params: dict[str, Any]
    run_id: str
    error: str | None = None
    started: float = 0.0
    ended: float = 0.0
    pruned_step: int | None = None
    host: str = ""
    pid: int = 0

    @property
    def value(self) -> float | None:
        """The (first) objective value, or None."""
        return None if self.values is None else self.values[0]


@dataclass
class StudySpec:
    """Everything a worker needs to run trials of a study (picklable; shipped to Ray)."""

    settings: Settings
    journal_key: str
    study_name: str
    experiment_id: str
    parent_run_id: str
    distributions: dict[str, str]  # optuna distribution_to_json, by name
    n_objectives: int
    owner: dict[str, Any]
    objective: bytes = b""  # cloudpickle, by value
    sampler: bytes = b""
    pruner: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)


def trial_run_id(trial: optuna.trial.FrozenTrial) -> str | None:
    """The run of a trial (None if it died before getting one)."""
    info = trial.user_attrs.get(ATTR_TRIAL)
    run_id = info.get("run_id") if isinstance(info, dict) else None
    return run_id if isinstance(run_id, str) else None


def trial_owner(trial: optuna.trial.FrozenTrial) -> Any:
    """The ``tune`` process that ran a trial."""
    info = trial.user_attrs.get(ATTR_TRIAL)
    return info.get("owner") if isinstance(info, dict) else None


def owner_of_this_process(session: str) -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "session": session}


def is_stale(owner: Any) -> bool:
    """Whether a RUNNING trial's owner (the ``tune`` process that started it) is gone.

    Decided for owners on this host (their process is dead, or it is this process and the
    session ended); an owner on another host is taken to be alive.
    """
    if not isinstance(owner, dict):
        return True  # killed between ask() and recording its owner
    if owner.get("session") in LIVE_SESSIONS:
        return False
    if owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return True
    if pid == os.getpid():
        return True  # this process, but not a live session: an interrupted earlier call
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class TrialContext:
    """The objective's handle on its trial: report progress for pruning, log into the trial's
    run, and log a model (the best trial's model becomes the study's ``best_model``).

    Example::

        def objective(params, trial):
            model = make_model(**params)
            for epoch in range(20):
                loss = model.train_epoch()
                trial.report(loss, step=epoch)  # raises TrialPruned when the pruner says so
            trial.log_model(model)
            return loss
    """

    def __init__(
        self, trial: optuna.Trial, client: Client, run: Run, params: dict[str, Any]
    ) -> None:
        self.optuna_trial = trial
        self._run = run
        self.run_id = run.info.run_id
        self.params = params
        self._client = client
        self.last_step: int | None = None

    @property
    def number(self) -> int:
        """The trial's number in the study."""
        return self.optuna_trial.number

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value (metric ``intermediate_objective`` at ``step``) and
        stop the trial if the pruner says so.

        Raises:
            TrialPruned: the trial should stop; let it propagate (the runner records it).
        """
        value = float(value)
        self.optuna_trial.report(value, step)
        self.last_step = step
        self._client.log_metric(self.run_id, METRIC_INTERMEDIATE, value, step)
        if self.optuna_trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.number} pruned at step {step} (value {value})")

    def should_prune(self) -> bool:
        """Whether the pruner would stop the trial now (:meth:`report` checks this itself)."""
        return self.optuna_trial.should_prune()

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log a metric of the trial's run."""
        self._client.log_metric(self.run_id, key, value, step)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag of the trial's run."""
        self._client.set_tag(self.run_id, key, value)

    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        input_example: Any = None,
        signature: Signature | dict[str, Any] | None = None,
        **save_kwargs: Any,
    ) -> ModelInfo:
        """Save ``model`` into the trial's run under ``name`` (as
        :func:`mloop.models.log_model` does). When the study ends, the best trial's model is
        copied to the study's run as ``best_model``.
        """
        from mloop.models import log_model

        with bind_run(self._run, self._client):
            info = log_model(
                model, name, input_example=input_example, signature=signature, **save_kwargs
            )
        self.optuna_trial.set_user_attr(ATTR_MODEL, info.artifact_path)
        return info


def _as_values(result: Any, n_objectives: int) -> tuple[float, ...]:
    items = result if isinstance(result, (tuple, list)) else (result,)
    try:
        values = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        values = ()
    if len(values) != n_objectives or isinstance(result, bool):
        want = "a float" if n_objectives == 1 else f"a tuple of {n_objectives} floats"
        raise TypeError(f"the objective must return {want}, got {result!r:.80}")
    if any(math.isnan(v) for v in values):
        raise ValueError(f"the objective returned NaN: {values}")
    return values


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:8000]


def run_trial(
    study: optuna.Study,
    spec: StudySpec,
    client: Client,
    objective: Objective,
    distributions: dict[str, Any],
) -> TrialOutcome:
    """Ask the study for a trial, evaluate it in a nested run, tell the study the result.

    An exception from the objective fails the trial (the study goes on); ``TrialPruned`` prunes
    it; an interruption (``KeyboardInterrupt``, ``SystemExit``) fails it for a re-run and
    propagates.
    """
    # Samplers may call study.stop() (the grid sampler, once the grid is done), which Optuna
    # allows inside its optimize loop only; this loop is ours, and claim() honours the flag.
    study._thread_local.in_optimize_loop = True
    try:
        return _run_trial(study, spec, client, objective, distributions)
    finally:
        study._thread_local.in_optimize_loop = False


def _run_trial(
    study: optuna.Study,
    spec: StudySpec,
    client: Client,
    objective: Objective,
    distributions: dict[str, Any],
) -> TrialOutcome:
    trial = study.ask(distributions)
    params = dict(trial.params)
    run = client.create_run(
        spec.experiment_id,
        run_name=f"{spec.study_name}-{trial.number}",
        parent_run_id=spec.parent_run_id,
        tags={TAG_TUNE_STUDY: spec.study_name, TAG_TUNE_TRIAL: str(trial.number)},
    )
    run_id = run.info.run_id
    trial.set_user_attr(ATTR_TRIAL, {"run_id": run_id, "owner": spec.owner})
    client.log_params(run_id, params)
    ctx = TrialContext(trial, client, run, params)
    started = time.time()
    values: tuple[float, ...] | None = None
    error: str | None = None
    try:
        # mloop.log_metric & co. inside the objective land on this trial's run, and the rest of
        # mloop (models, datasets, the registry) uses the study's store, in whichever thread or
        # Ray worker it runs.
        with use(client.settings), bind_run(run, client):
            values = _as_values(objective(params, ctx), spec.n_objectives)
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except Exception as exc:
        state, error = TrialState.FAIL, _error_text(exc)
        client.set_tag(run_id, TAG_TUNE_TRACEBACK, traceback.format_exc()[-8000:])
    except BaseException as exc:
        # Interrupted: not the objective's failure. Fail it for the record and run its
        # parameters again when the study resumes.
        trial.set_user_attr(ATTR_RERUN, True)
        study.tell(trial, state=TrialState.FAIL)
        study.enqueue_trial(params)
        client.set_tags(run_id, {TAG_TUNE_STATE: "FAILED", TAG_ERROR: _error_text(exc)})
        client.set_terminated(run_id, RunStatus.KILLED)
        raise
    else:
        state = TrialState.COMPLETE
    ended = time.time()
    frozen = study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)
    state_name = _STATE_NAMES.get(frozen.state, frozen.state.name)
    tags: dict[str, Any] = {TAG_TUNE_STATE: state_name}
    if values is not None and frozen.state == TrialState.COMPLETE:
        for key, v in zip(metric_names(spec.n_objectives), values, strict=True):
            client.log_metric(run_id, key, v, 0)
    else:
        values = None
    if state == TrialState.PRUNED and ctx.last_step is not None:
        tags[TAG_TUNE_PRUNED_STEP] = ctx.last_step
    if error is not None:
        tags[TAG_ERROR] = error
    client.set_tags(run_id, tags)
    client.set_terminated(
        run_id, RunStatus.FAILED if frozen.state == TrialState.FAIL else RunStatus.FINISHED
    )
    return TrialOutcome(
        number=trial.number,
        state=state_name,
        values=values,
        params=params,
        run_id=run_id,
        error=error,
        started=started,
        ended=ended,
        pruned_step=ctx.last_step if state == TrialState.PRUNED else None,
        host=socket.gethostname(),
        pid=os.getpid(),
    )
