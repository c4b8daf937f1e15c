"""The ``Flavor`` interface (one implementation per framework), the registry of flavors, and
flavor detection from a model's type.

Frameworks are imported only inside a flavor's ``_save``/``_load``, and detection reads module
names, so neither ``import mloop.models`` nor ``save()`` of a scikit-learn model imports torch.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Protocol

from mloop.errors import (
    InvalidArgument,
    MloopError,
    ModelError,
    ModelIntegrityError,
    UnknownFlavor,
)

__all__ = [
    "Flavor",
    "ModelFiles",
    "Predictor",
    "Wrapper",
    "check_flavor_name",
    "detect_flavor",
    "flavor_names",
    "get_flavor",
]


class Predictor(Protocol):
    """What a flavor's loader returns: the loaded model behind one ``predict``.

    ``predict_proba`` is optional: a predictor without it (or with it set to None) has none.
    """

    def predict(self, data: Any) -> Any: ...


class Wrapper:
    """Base of the predictors that wrap a framework object (kept as ``model``), as opposed to
    the models that are their own predictor (scikit-learn estimators, Python models)."""

    model: Any


class ModelFiles:
    """The files of a model folder that a loader may open.

    When the folder's files were verified against their sha256, only those files can be opened,
    so options in ``mloop-model.yaml`` cannot point a loader at an unverified file.
    """

    def __init__(self, root: Path, verified: Collection[str] | None = None) -> None:
        self.root = root
        self._verified = None if verified is None else frozenset(verified)

    def path(self, rel: Any) -> Path:
        """The local path of the file or folder ``rel`` (relative to the model folder).

        Raises:
            ModelIntegrityError: ``rel`` leaves the folder, or is not among the verified files.
        """
        parts = PurePosixPath(rel).parts if isinstance(rel, str) else ()
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or "\\" in rel:
            raise ModelIntegrityError(
                f"mloop-model.yaml names {rel!r}, which is not a path inside the model folder",
                details={"file": str(rel)},
            )
        if self._verified is not None and rel not in self._verified:
            prefix = rel.rstrip("/") + "/"
            if not any(f.startswith(prefix) for f in self._verified):
                raise ModelIntegrityError(
                    f"mloop-model.yaml names {rel!r}, which is not among the files whose sha256 "
                    "it records",
                    details={"file": rel},
                )
        return self.root / str(rel)


class Flavor(ABC):
    """Saves and loads the models of one framework.

    Subclasses set ``name`` and ``packages`` (the distributions pinned in ``requirements``) and
    implement ``_save`` and ``_load``; the public ``save`` and ``load`` check their arguments and
    turn the framework's exceptions into :class:`~mloop.errors.ModelError`.
    """

    name: ClassVar[str]
    #: distributions to pin; ``"a|b"`` pins whichever of a and b is installed
    packages: ClassVar[tuple[str, ...]] = ()

    def save(self, model: Any, path: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``model`` into the empty folder ``path``.

        Returns:
            The options recorded in ``mloop-model.yaml`` for the loader (YAML-safe values).

        Raises:
            InvalidArgument: an unknown option, or a model this flavor cannot save.
            ModelError: the framework failed to serialize the model.
        """
        path = Path(path)
        if not path.is_dir():
            raise InvalidArgument(f"{str(path)!r} is not a folder")
        try:
            return self._save(model, path, dict(options))
        except MloopError:
            raise
        except Exception as exc:
            raise ModelError(
                f"the {self.name} flavor could not save the model: {type(exc).__name__}: {exc}"
            ) from exc

    def load(
        self, path: Path, options: Mapping[str, Any], verified: Collection[str] | None = None
    ) -> Predictor:
        """Load the model saved in ``path`` with the recorded ``options``.

        Args:
            path: the model folder.
            options: the flavor's options from ``mloop-model.yaml``.
            verified: the files whose sha256 the caller checked; the loader opens no other.

        Raises:
            ModelError: the framework failed to load the model, or the options are invalid.
        """
        try:
            return self._load(ModelFiles(Path(path), verified), dict(options))
        except MloopError:
            raise
        except Exception as exc:
            raise ModelError(
                f"the {self.name} flavor could not load the model in {str(path)!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def requirements(self, path: Path, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The distributions to pin for the model saved in ``path`` with ``options``."""
        return self.packages

    @abstractmethod
    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor: ...

    # -- helpers for subclasses ----------------------------------------------------------------

    def _file(self, files: ModelFiles, options: Mapping[str, Any], key: str = "file") -> Path:
        path = files.path(self._option(options, key))
        if not path.exists():
            raise ModelIntegrityError(
                f"the model file {self._option(options, key)!r} is missing",
                details={"file": self._option(options, key)},
            )
        return path

    def unsafe(self, options: Mapping[str, Any]) -> bool:
        """True when loading a model saved with ``options`` can run code of the file's choosing
        (pickle, ``torch.load`` of a whole module): recorded as ``unsafe: true`` in
        ``mloop-model.yaml``, and such a model should be signed."""
        file = str(options.get("file", ""))
        return options.get("serialization") == "pickle" or file.endswith((".pkl", ".pickle"))

    def _no_options(self, options: Mapping[str, Any], allowed: tuple[str, ...] = ()) -> None:
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            accepted = ", ".join(allowed) if allowed else "none"
            raise InvalidArgument(
                f"unknown option(s) for the {self.name} flavor: {', '.join(unknown)} "
                f"(accepted: {accepted})"
            )

    def _option(self, options: Mapping[str, Any], key: str) -> Any:
        try:
            return options[key]
        except KeyError:
            raise ModelError(
                f"the {self.name} flavor's options in mloop-model.yaml lack {key!r}"
            ) from None


# name -> "module:Class", imported on first use
_FLAVORS: dict[str, str] = {
    "sklearn": "mloop.models._sklearn:SklearnFlavor",
    "lightgbm": "mloop.models._lightgbm:LightGBMFlavor",
    "xgboost": "mloop.models._xgboost:XGBoostFlavor",
    "pytorch": "mloop.models._pytorch:PyTorchFlavor",
    "onnx": "mloop.models._onnx:OnnxFlavor",
    "keras": "mloop.models._keras:KerasFlavor",
    "pyfunc": "mloop.models._pyfunc:PyfuncFlavor",
    "transformers": "mloop.models._transformers:TransformersFlavor",
}
_instances: dict[str, Flavor] = {}

# top-level module of a class in the model's MRO -> flavor; the first match in MRO order wins,
# so an LGBMClassifier (lightgbm, then sklearn's BaseEstimator) is a LightGBM model and a Keras
# model on the torch backend (keras, then torch.nn.Module) a Keras model.
_MODULES: dict[str, str] = {
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "keras": "keras",
    "torch": "pytorch",
    "onnx": "onnx",
    "sklearn": "sklearn",
}


def flavor_names() -> list[str]:
    """The names of the flavors this mloop knows."""
    return sorted(_FLAVORS)


def check_flavor_name(name: str) -> str:
    """Raises:
    UnknownFlavor: ``name`` is not a known flavor; the message lists the known ones."""
    if name not in _FLAVORS:
        raise UnknownFlavor(
            f"unknown flavor {name!r}; known flavors: {', '.join(flavor_names())}",
            details={"flavor": name, "known": flavor_names()},
        )
    return name


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``."""
    found = _instances.get(check_flavor_name(name))
    if found is None:
        module, _, cls = _FLAVORS[name].partition(":")
        factory: Callable[[], Flavor] = getattr(importlib.import_module(module), cls)
        found = _instances[name] = factory()
    return found


def detect_flavor(model: Any) -> str:
    """The flavor for ``model``, from the modules of the classes it is an instance of.

    Raises:
        UnknownFlavor: no flavor handles it; the message says how to choose one.
    """
    for klass in type(model).__mro__:
        top = (getattr(klass, "__module__", "") or "").partition(".")[0]
        name = _MODULES.get(top)
        if name is not None:
            return name
    if callable(getattr(model, "predict", None)):
        return "pyfunc"
    raise UnknownFlavor(
        f"cannot tell which flavor saves a {type(model).__module__}.{type(model).__qualname__}: "
        f"pass flavor= one of {', '.join(flavor_names())}, or wrap it in a class with "
        "load(context) and predict(data) (mloop.models.PythonModel)",
        details={"type": f"{type(model).__module__}.{type(model).__qualname__}"},
    )
