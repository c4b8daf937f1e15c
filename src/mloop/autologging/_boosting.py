"""LightGBM and XGBoost: ``train`` (which their scikit-learn wrappers call too) logs its params
and the number of rounds, every evaluation metric at every iteration (``<data>-<metric>``,
step = iteration), the feature importance (gain) as ``feature_importance.json``, and the
booster as the run's model.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mloop.autologging._run import RunLogger, head, logging_call

__all__ = ["patch_lightgbm", "patch_xgboost"]


def _replace(targets: list[tuple[Any, str]], wrapper: Callable[[Any], Any]) -> Callable[[], None]:
    """Set ``wrapper(original)`` as each ``module.name`` (the same function is often imported
    into several modules); returns the undo."""
    done: list[tuple[Any, str, Any]] = []
    wrapped: dict[int, Any] = {}
    for module, name in targets:
        original = getattr(module, name, None)
        if original is None or getattr(original, "_mloop_autolog", False):
            continue
        new = wrapped.setdefault(id(original), wrapper(original))
        setattr(module, name, new)
        done.append((module, name, original))

    def undo() -> None:
        for module, name, original in done:
            setattr(module, name, original)

    return undo


def _log_importance(logger: RunLogger, importance: dict[str, float]) -> None:
    import mloop

    ranked = dict(sorted(importance.items(), key=lambda kv: -kv[1]))
    with tempfile.TemporaryDirectory(prefix="mloop-autolog-") as tmp:
        path = Path(tmp) / "feature_importance.json"
        path.write_text(json.dumps({"importance_type": "gain", "features": ranked}, indent=1))
        mloop.log_artifact(path)


# -- LightGBM --------------------------------------------------------------------------------


def patch_lightgbm() -> Callable[[], None]:
    import lightgbm
    import lightgbm.engine
    import lightgbm.sklearn

    return _replace(
        [(lightgbm, "train"), (lightgbm.engine, "train"), (lightgbm.sklearn, "train")],
        _wrap_lightgbm,
    )


def _wrap_lightgbm(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def train(params: dict[str, Any], train_set: Any, *args: Any, **kwargs: Any) -> Any:
        with logging_call("lightgbm", "lightgbm") as logger:
            if logger is None:
                return original(params, train_set, *args, **kwargs)
            rounds = args[0] if args else kwargs.get("num_boost_round", 100)
            with logger.guard("params"):
                logger.log_params({**params, "num_boost_round": rounds})
            callbacks = [*(kwargs.pop("callbacks", None) or []), _lightgbm_callback(logger)]
            booster = original(params, train_set, *args, callbacks=callbacks, **kwargs)
            with logger.guard("the feature importance"):
                names = booster.feature_name()
                gains = booster.feature_importance(importance_type="gain")
                _log_importance(logger, {n: float(g) for n, g in zip(names, gains, strict=True)})
            with logger.guard("the model"):
                logger.log_model(booster, head(getattr(train_set, "data", None)))
            return booster

    train._mloop_autolog = True  # type: ignore[attr-defined]
    return train


def _lightgbm_callback(logger: RunLogger) -> Callable[[Any], None]:
    def record(env: Any) -> None:
        with logger.guard("iteration metrics"):
            values = {
                f"{data}-{metric}": float(value)
                for data, metric, value, *_ in env.evaluation_result_list
            }
            if values:
                logger.log_metrics(values, step=int(env.iteration))

    record.order = 25  # type: ignore[attr-defined]  # after LightGBM's own recorders
    return record


# -- XGBoost ---------------------------------------------------------------------------------


def patch_xgboost() -> Callable[[], None]:
    import xgboost
    import xgboost.sklearn
    import xgboost.training

    return _replace(
        [(xgboost, "train"), (xgboost.training, "train"), (xgboost.sklearn, "train")],
        _wrap_xgboost,
    )


def _wrap_xgboost(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def train(params: dict[str, Any], dtrain: Any, *args: Any, **kwargs: Any) -> Any:
        with logging_call("xgboost", "xgboost") as logger:
            if logger is None:
                return original(params, dtrain, *args, **kwargs)
            rounds = args[0] if args else kwargs.get("num_boost_round", 10)
            with logger.guard("params"):
                logger.log_params({**params, "num_boost_round": rounds})
            callbacks = [*(kwargs.pop("callbacks", None) or []), _xgboost_callback(logger)]
            booster = original(params, dtrain, *args, callbacks=callbacks, **kwargs)
            with logger.guard("the feature importance"):
                _log_importance(logger, booster.get_score(importance_type="gain"))
            with logger.guard("the model"):
                logger.log_model(booster)
            return booster

    train._mloop_autolog = True  # type: ignore[attr-defined]
    return train


def _xgboost_callback(logger: RunLogger) -> Any:
    import xgboost

    class Record(xgboost.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
            with logger.guard("iteration metrics"):
                values = {
                    f"{data}-{metric}": float(series[-1])
                    for data, metrics in evals_log.items()
                    for metric, series in metrics.items()
                    if series
                }
                if values:
                    logger.log_metrics(values, step=epoch)
            return False  # never stops training

    return Record()
