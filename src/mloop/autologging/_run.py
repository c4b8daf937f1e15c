"""What every framework's patch shares: the settings, one logging call at a time, a run to log
to, and logging that never repeats what is already in the run."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mloop.errors import RunNotFound, StoreUnavailable

__all__ = ["AutologConfig", "RunLogger", "config", "head", "logging_call"]

log = logging.getLogger("mloop.autolog")

#: The longest param value logged; longer ones (a vocabulary, a big list) are cut.
MAX_PARAM_CHARS = 250


@dataclass
class AutologConfig:
    """What is logged, per framework (``enabled``) and in general."""

    enabled: dict[str, bool] = field(default_factory=dict)
    log_models: bool = True
    log_input_examples: bool = True
    max_tuning_runs: int = 20
    silent: bool = False


_config = AutologConfig()
_busy = threading.Lock()  # held while an autologged call runs: nested calls log nothing


def config() -> AutologConfig:
    """The process's autologging settings (set by :func:`mloop.autolog`)."""
    return _config


@contextlib.contextmanager
def logging_call(framework: str, run_name: str) -> Iterator[RunLogger | None]:
    """Around one autologged call: a :class:`RunLogger` for the active run (or a new run named
    ``run_name``, ended with the call), or None when the call must log nothing: autologging of
    ``framework`` is off, or another autologged call is running (a pipeline's steps, a search's
    candidates, cross-validation clones: only the outermost call logs, whatever thread the
    inner ones run on)."""
    if not _config.enabled.get(framework) or not _busy.acquire(blocking=False):
        yield None
        return
    try:
        import mloop

        if mloop.active_run() is not None:
            yield RunLogger(framework)
        else:
            with mloop.start_run(run_name=run_name):
                yield RunLogger(framework)
    finally:
        _busy.release()


class RunLogger:
    """Logs to the active run what it does not hold yet; a failure to log is a warning, never
    an error of the training call."""

    def __init__(self, framework: str) -> None:
        import mloop

        run = mloop.active_run()
        assert run is not None
        self.framework = framework
        self.run_id = run.run_id
        self._client = mloop.tracking.current_client()
        try:
            existing = self._client.get_run(self.run_id)  # flushed first: what the user logged
            self.params, self.metrics = set(existing.data.params), set(existing.data.metrics)
        except (StoreUnavailable, RunNotFound):
            # A tracking server that does not answer, or a run started offline and not yet
            # replayed: what this process logged is known, and the spool keeps the rest.
            logged = self._client._params.get(self.run_id, {})
            self.params, self.metrics = set(logged), set()
        self._has_model: bool | None = None

    def guard(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _warn_on_error(f"autolog ({self.framework}) could not log {what}")

    def log_params(self, params: Mapping[str, Any]) -> None:
        import mloop

        fresh = {k: _param_text(v) for k, v in params.items() if k not in self.params and k.strip()}
        if fresh:
            mloop.log_params(fresh)
            self.params.update(fresh)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Metrics of one step; final metrics (``step`` None) the user logged are left alone."""
        import mloop

        fresh = {
            k: float(v) for k, v in metrics.items() if step is not None or k not in self.metrics
        }
        if fresh:
            mloop.log_metrics(fresh, step=step)
            self.metrics.update(fresh)

    def has_model(self) -> bool:
        if self._has_model is None:
            try:
                names = {a.path for a in self._client.list_artifacts(self.run_id)}
            except (StoreUnavailable, RunNotFound):  # offline: the spool keeps the artifacts
                names = set()
            self._has_model = "model" in names
        return self._has_model

    def log_model(self, model: Any, input_example: Any = None, **options: Any) -> None:
        """Log ``model`` as the run's ``model`` unless it has one (``options``: the flavor's)."""
        import mloop.models

        if not _config.log_models or self.has_model():
            return
        example = input_example if _config.log_input_examples else None
        mloop.models.log_model(model, "model", input_example=example, **options)
        self._has_model = True


@contextlib.contextmanager
def _warn_on_error(message: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # autologging must never break the training it watches
        if not _config.silent:
            log.warning("%s: %s: %s", message, type(exc).__name__, exc)


def _param_text(value: Any) -> str:
    if hasattr(value, "get_params") or callable(value):
        text = getattr(value, "__name__", None) or type(value).__name__
    else:
        text = str(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…"


def head(data: Any, rows: int = 5) -> Any:
    """The first rows of a table or array, as an input example; None for anything else."""
    if data is None:
        return None
    if hasattr(data, "head") and hasattr(data, "columns"):
        return data.head(rows)
    try:
        import numpy as np

        if isinstance(data, np.ndarray) and data.ndim in (1, 2):
            return data[:rows]
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    return None
