"""scikit-learn: estimators and Pipelines, pickled; ``predict`` and ``predict_proba``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mloop.errors import InvalidArgument
from mloop.models._flavor import Flavor, ModelFiles, Predictor
from mloop.models._pickle import dump_pickle, load_pickle, pickled_distributions

__all__ = ["SklearnFlavor", "check_fitted"]

_FILE = "model.pkl"


def check_fitted(model: Any) -> None:
    """Raises:
    InvalidArgument: ``model`` is a scikit-learn-style estimator that is not fitted."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        raise InvalidArgument(
            f"the {type(model).__name__} is not fitted: call fit() before saving it"
        ) from None
    except TypeError:  # not an estimator check_is_fitted knows; predict will tell
        pass


class SklearnFlavor(Flavor):
    """A scikit-learn estimator or Pipeline, pickled with the standard library."""

    name = "sklearn"
    packages = ("scikit-learn",)

    def requirements(self, path: Path, options: Mapping[str, Any]) -> tuple[str, ...]:
        # a Pipeline may hold other libraries' estimators (LightGBM, imbalanced-learn...)
        return (*self.packages, *pickled_distributions(path / options["file"]))

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options)
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgument(
                f"a {type(model).__name__} has no predict(): the sklearn flavor saves "
                "estimators and Pipelines that predict"
            )
        check_fitted(model)
        dump_pickle(model, path / _FILE)
        return {"file": _FILE, "serialization": "pickle"}

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        # The estimator is its own predictor: predict and predict_proba are called directly.
        return load_pickle(self._file(files, options))  # type: ignore[no-any-return]
