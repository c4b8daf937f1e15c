"""scikit-learn: every estimator's ``fit`` logs its params (the steps' too), its training
metrics and the fitted model; a search logs its best params and score, and each candidate as a
nested run.

Only the outermost ``fit`` logs: a pipeline's steps, a search's clones and cross-validation
fits run inside it and log nothing of their own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mloop.autologging._run import RunLogger, config, head, logging_call

__all__ = ["patch", "search_runs", "training_metrics"]


def patch() -> Callable[[], None]:
    """Wrap ``fit`` of every scikit-learn estimator class; returns the undo."""
    from sklearn.utils import all_estimators

    originals: list[tuple[type, Callable[..., Any]]] = []
    for _, estimator in all_estimators():
        # `fit` where it is defined: GridSearchCV's is BaseSearchCV's, which is not listed.
        cls = next((k for k in estimator.__mro__ if "fit" in k.__dict__), None)
        original = None if cls is None else cls.__dict__["fit"]
        if cls is None or not callable(original) or getattr(original, "_mloop_autolog", False):
            continue
        cls.fit = _wrap(original)  # type: ignore[attr-defined]
        originals.append((cls, original))

    def undo() -> None:
        for cls, original in originals:
            cls.fit = original  # type: ignore[attr-defined]

    return undo


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        with logging_call("sklearn", type(self).__name__) as logger:
            result = original(self, *args, **kwargs)
            if logger is not None:
                x = args[0] if args else kwargs.get("X")
                y = args[1] if len(args) > 1 else kwargs.get("y")
                _log_fit(logger, self, x, y)
            return result

    fit._mloop_autolog = True  # type: ignore[attr-defined]
    return fit


def _log_fit(logger: RunLogger, estimator: Any, x: Any, y: Any) -> None:
    import mloop

    cls = type(estimator)
    with logger.guard("the estimator's params"):
        mloop.set_tag("mloop.autolog.estimator", f"{cls.__module__}.{cls.__qualname__}")
        logger.log_params(estimator.get_params(deep=True))
    searched = hasattr(estimator, "cv_results_")
    if searched:
        with logger.guard("the search results"):
            _log_search(logger, estimator)
    if y is not None and x is not None:
        with logger.guard("training metrics"):
            logger.log_metrics(training_metrics(estimator, x, y))
    model = getattr(estimator, "best_estimator_", estimator) if searched else estimator
    with logger.guard("the model"):
        logger.log_model(model, head(x))


def training_metrics(estimator: Any, x: Any, y: Any) -> dict[str, float]:
    """Metrics of the fitted ``estimator`` on its training data (``training_`` names)."""
    import numpy as np
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}
    if is_classifier(estimator):
        pred = estimator.predict(x)
        out["training_accuracy_score"] = metrics.accuracy_score(y, pred)
        for name, fn in (
            ("precision", metrics.precision_score),
            ("recall", metrics.recall_score),
            ("f1", metrics.f1_score),
        ):
            out[f"training_{name}_score"] = fn(y, pred, average="weighted", zero_division=0)
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(x)
            labels = getattr(estimator, "classes_", None)
            out["training_log_loss"] = metrics.log_loss(y, proba, labels=labels)
            if proba.shape[1] == 2:
                out["training_roc_auc"] = metrics.roc_auc_score(y, proba[:, 1])
    elif is_regressor(estimator):
        pred = estimator.predict(x)
        mse = metrics.mean_squared_error(y, pred)
        out["training_mean_squared_error"] = mse
        out["training_root_mean_squared_error"] = float(np.sqrt(mse))
        out["training_mean_absolute_error"] = metrics.mean_absolute_error(y, pred)
        out["training_r2_score"] = metrics.r2_score(y, pred)
    elif hasattr(estimator, "score"):
        out["training_score"] = estimator.score(x, y)
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def _log_search(logger: RunLogger, search: Any) -> None:
    """The best params and score on the search's run, each candidate as a nested run."""
    if hasattr(search, "best_params_"):
        logger.log_params({f"best_{k}": v for k, v in search.best_params_.items()})
    if getattr(search, "best_score_", None) is not None:
        logger.log_metrics({"best_cv_score": search.best_score_})
    search_runs(search.cv_results_, config().max_tuning_runs)


def search_runs(results: dict[str, Any], limit: int) -> list[str]:
    """One nested run per candidate of ``cv_results_``, best ranked first, at most ``limit``:
    its params and its mean and std scores (and fit time). Returns the runs' ids."""
    import numpy as np

    import mloop

    params: list[dict[str, Any]] = list(results["params"])
    rank_key = next((k for k in results if k.startswith("rank_test_")), None)
    order = (
        np.argsort(np.asarray(results[rank_key]), kind="stable")
        if rank_key
        else np.arange(len(params))
    )
    scores = [k for k in results if k.startswith(("mean_test_", "std_test_", "mean_train_"))] + [
        k for k in ("mean_fit_time",) if k in results
    ]
    ids = []
    for rank, index in enumerate(order[:limit], start=1):
        with mloop.start_run(run_name=f"candidate-{rank}", nested=True) as child:
            mloop.set_tag("mloop.autolog.candidate", str(int(index)))
            mloop.log_params({k: str(v) for k, v in params[int(index)].items()})
            values = {k: float(results[k][int(index)]) for k in scores}
            mloop.log_metrics({k: v for k, v in values.items() if np.isfinite(v)})
            ids.append(child.run_id)
    return ids
