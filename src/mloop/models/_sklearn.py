"""scikit-learn: estimators and Pipelines, saved with skops; ``predict`` and ``predict_proba``.

skops writes the estimator's state, not code: loading it runs no code of the file's choosing,
and every type it holds is checked against skops's trusted types (scikit-learn's, numpy's,
scipy's) before anything is built. A model holding other types (an estimator of another
library inside a Pipeline) is refused at load with the list of those types; save it with
``options={"serialization": "pickle"}``, which marks it unsafe in ``mloop-model.yaml``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mloop.errors import InvalidArgument, ModelIntegrityError
from mloop.models._flavor import Flavor, ModelFiles, Predictor
from mloop.models._pickle import dump_pickle, load_pickle, pickled_distributions

__all__ = ["SklearnFlavor", "check_fitted", "load_skops", "untrusted_types"]

logger = logging.getLogger("mloop.models")

_FILE = "model.pkl"
_SKOPS_FILE = "model.skops"
_SERIALIZATIONS = ("skops", "pickle")


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
        if options.get("serialization") == "skops":
            return (*self.packages, "skops")
        # a Pipeline may hold other libraries' estimators (LightGBM, imbalanced-learn...)
        return (*self.packages, *pickled_distributions(path / options["file"]))

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options, ("serialization",))
        explicit = "serialization" in options
        serialization = options.get("serialization", "skops")
        if serialization not in _SERIALIZATIONS:
            raise InvalidArgument(
                f"serialization {serialization!r} is not one of {', '.join(_SERIALIZATIONS)}"
            )
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgument(
                f"a {type(model).__name__} has no predict(): the sklearn flavor saves "
                "estimators and Pipelines that predict"
            )
        check_fitted(model)
        if serialization == "skops":
            import skops.io

            skops.io.dump(model, path / _SKOPS_FILE)
            foreign = untrusted_types(path / _SKOPS_FILE)
            if not foreign:
                return {"file": _SKOPS_FILE, "serialization": "skops"}
            if explicit:
                raise InvalidArgument(
                    "serialization 'skops' cannot hold this model's types from other libraries: "
                    f"{', '.join(foreign[:10])}; save it with serialization 'pickle'"
                )
            (path / _SKOPS_FILE).unlink()
            logger.warning(
                "the model holds types skops does not trust (%s): saved with pickle instead, "
                "marked unsafe; sign it so that mloop serve --trust loads it",
                ", ".join(foreign[:10]),
            )
        dump_pickle(model, path / _FILE)
        return {"file": _FILE, "serialization": "pickle"}

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        # The estimator is its own predictor: predict and predict_proba are called directly.
        path = self._file(files, options)
        if options.get("serialization") == "skops":
            return load_skops(path)  # type: ignore[no-any-return]
        return load_pickle(path)  # type: ignore[no-any-return]


def load_skops(path: Path) -> Any:
    """A skops file, refused when it holds a type skops does not trust.

    Raises:
        ModelIntegrityError: the file holds untrusted types (they are named).
    """
    import skops.io

    untrusted = untrusted_types(path)
    if untrusted:
        raise ModelIntegrityError(
            f"the model file {path.name!r} holds types that are not trusted to load: "
            f"{', '.join(sorted(untrusted)[:10])}; a model holding other libraries' objects "
            "must be saved with serialization 'pickle' (marked unsafe) and signed",
            details={"untrusted_types": sorted(untrusted)},
        )
    return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))


#: Libraries whose types a skops file may hold: mloop imports them anyway to predict, and skops
#: builds their objects from state, never by running code named in the file.
TRUSTED_MODULES = frozenset({"sklearn", "numpy", "scipy"})


def untrusted_types(path: Path) -> list[str]:
    """The types in the skops file ``path`` outside :data:`TRUSTED_MODULES`."""
    import skops.io

    return sorted(
        t
        for t in skops.io.get_untrusted_types(file=path)
        if t.split(".", 1)[0] not in TRUSTED_MODULES
    )
