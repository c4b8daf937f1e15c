"""Turning autologging on and off, framework by framework."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from mloop.autologging._run import config
from mloop.errors import InvalidArgument, MloopError

__all__ = ["autolog", "autolog_lightgbm", "autolog_sklearn", "autolog_xgboost"]

FRAMEWORKS = ("sklearn", "lightgbm", "xgboost", "keras")
#: Patched by a plain ``autolog()`` only once the program has imported them.
_ONLY_WHEN_IMPORTED = frozenset({"keras"})
_patched: dict[str, Callable[[], None]] = {}  # framework -> undo
_lock = threading.Lock()


def autolog(
    *,
    disable: bool = False,
    frameworks: tuple[str, ...] | list[str] | None = None,
    log_models: bool = True,
    log_input_examples: bool = True,
    max_tuning_runs: int = 20,
    silent: bool = False,
) -> list[str]:
    """Log training automatically: params, metrics and models of every framework installed.

    Args:
        disable: turn autologging off again (the frameworks' own functions are restored).
        frameworks: the frameworks to patch, among ``sklearn``, ``lightgbm``, ``xgboost`` and
            ``keras`` (``Model.fit`` gets :func:`keras_callback`); default: each one installed,
            and Keras once imported (importing it loads its backend, which takes seconds).
        log_models: save the fitted model (with its signature and an input example) as the
            run's ``model`` artifact.
        log_input_examples: keep the first 5 training rows as the model's input example.
        max_tuning_runs: the most candidates of a search logged as nested runs (best first).
        silent: no warning when logging fails (training never fails because of it).

    Returns:
        The frameworks now autologged.

    Raises:
        InvalidArgument: an unknown framework name.

    Example::

        import mloop
        from sklearn.ensemble import RandomForestClassifier

        mloop.autolog()
        with mloop.start_run():
            RandomForestClassifier(max_depth=4).fit(X, y)  # params, metrics, model logged
    """
    wanted = list(frameworks) if frameworks is not None else list(FRAMEWORKS)
    unknown = [f for f in wanted if f not in FRAMEWORKS]
    if unknown:
        raise InvalidArgument(
            f"unknown framework(s) {', '.join(map(repr, unknown))}: "
            f"autolog knows {', '.join(FRAMEWORKS)}"
        )
    _config = config()
    with _lock:
        _config.log_models = log_models
        _config.log_input_examples = log_input_examples
        _config.max_tuning_runs = max_tuning_runs
        _config.silent = silent
        for name in wanted:
            if disable:
                undo = _patched.pop(name, None)
                if undo is not None:
                    undo()
                _config.enabled[name] = False
                continue
            if name in _patched:
                _config.enabled[name] = True
                continue
            if frameworks is None and name in _ONLY_WHEN_IMPORTED and name not in sys.modules:
                continue  # importing it (and its backend) costs seconds: only when in use
            patch = _PATCHES[name]
            try:
                undo = patch()
            except (ImportError, MloopError) as exc:
                if frameworks is not None:
                    why = exc.message if isinstance(exc, MloopError) else f"pip install {name}"
                    raise InvalidArgument(f"autolog for {name} needs {name}: {why}") from None
                continue
            _patched[name] = undo
            _config.enabled[name] = True
        return [name for name in FRAMEWORKS if name in _patched and _config.enabled.get(name)]


def autolog_sklearn(**options: Any) -> list[str]:
    """:func:`autolog` for scikit-learn only."""
    return autolog(frameworks=["sklearn"], **options)


def autolog_lightgbm(**options: Any) -> list[str]:
    """:func:`autolog` for LightGBM only."""
    return autolog(frameworks=["lightgbm"], **options)


def autolog_xgboost(**options: Any) -> list[str]:
    """:func:`autolog` for XGBoost only."""
    return autolog(frameworks=["xgboost"], **options)


def _patch_sklearn() -> Callable[[], None]:
    from mloop.autologging._sklearn import patch

    return patch()


def _patch_lightgbm() -> Callable[[], None]:
    from mloop.autologging._boosting import patch_lightgbm

    return patch_lightgbm()


def _patch_keras() -> Callable[[], None]:
    from mloop.autologging._keras import patch_keras

    return patch_keras()


def _patch_xgboost() -> Callable[[], None]:
    from mloop.autologging._boosting import patch_xgboost

    return patch_xgboost()


_PATCHES: dict[str, Callable[[], Callable[[], None]]] = {
    "sklearn": _patch_sklearn,
    "lightgbm": _patch_lightgbm,
    "xgboost": _patch_xgboost,
    "keras": _patch_keras,
}
