"""The Ray engine of ``tune``: one Ray task per trial, ``parallelism`` of them in flight.

Each task opens the study itself, through the journal in mloop's store at the tracking URI, asks
it for a trial, runs the objective in a nested run and tells the result. The driver only keeps
tasks in flight and collects their outcomes; the study's state is never shipped around.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cloudpickle

from mloop.errors import InvalidArgument
from mloop.pipeline._tune_trial import StudySpec, TrialOutcome


def _ray_trial(spec: StudySpec, slot: int) -> TrialOutcome:
    """Runs on a Ray worker."""
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.storages import JournalStorage

    from mloop.pipeline._tune_journal import StoreJournalBackend
    from mloop.pipeline._tune_trial import run_trial
    from mloop.tracking import Client

    client = Client(settings=spec.settings)
    storage = JournalStorage(
        StoreJournalBackend(spec.journal_key, settings=spec.settings, store=client.store)
    )
    sampler = cloudpickle.loads(spec.sampler).build(slot)
    study = optuna.load_study(
        study_name=spec.study_name,
        storage=storage,
        sampler=sampler,
        pruner=cloudpickle.loads(spec.pruner),
    )
    objective = cloudpickle.loads(spec.objective)
    distributions = {k: json_to_distribution(v) for k, v in spec.distributions.items()}
    try:
        return run_trial(study, spec, client, objective, distributions)
    finally:
        client.flush()


def run_ray(
    spec: StudySpec,
    remaining: int,
    parallelism: int,
    address: str | None,
    deadline: float | None,
    on_trial: Callable[[TrialOutcome], None] | None,
) -> list[TrialOutcome]:
    """Run ``remaining`` trials as Ray tasks, ``parallelism`` at a time.

    Connects to ``address``, or uses the Ray already initialized in this process, or starts a
    local one (shut down again at the end).
    """
    try:
        import ray
    except ImportError:
        raise InvalidArgument(
            "engine='ray' needs Ray: pip install 'mloop[ray]' (or use engine='local')"
        ) from None

    started_here = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started_here = True
    in_flight: dict[Any, int] = {}
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_trial)
        spec_ref = ray.put(spec)
        outcomes: list[TrialOutcome] = []
        launched = 0

        def submit() -> None:
            nonlocal launched
            while len(in_flight) < parallelism and launched < remaining:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                in_flight[task.remote(spec_ref, launched)] = launched
                launched += 1

        submit()
        while in_flight:
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                in_flight.pop(ref)
                # A task that raised (rather than returning a FAILED outcome) broke in mloop or
                # in Ray itself: stop and report it; its trial is left to the stale check.
                outcome: TrialOutcome = ray.get(ref)
                outcomes.append(outcome)
                if on_trial is not None:
                    on_trial(outcome)
            submit()
        return outcomes
    finally:
        for ref in list(in_flight):
            ray.cancel(ref)
        if started_here:
            ray.shutdown()
