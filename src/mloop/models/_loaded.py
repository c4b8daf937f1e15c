"""``LoadedModel``: one ``predict`` for every flavor, with the input checked against the
signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mloop.errors import MloopError, ModelError
from mloop.models._flavor import Predictor, Wrapper
from mloop.models._format import ModelMetadata
from mloop.models._signature import Signature
from mloop.models._validate import make_input_validator, make_output_shaper

__all__ = ["LoadedModel"]


class LoadedModel:
    """A model loaded by :func:`mloop.models.load`.

    ``predict(data)`` takes a pandas DataFrame, a pyarrow Table, a numpy array or a list of
    dicts; checks it against the signature (every bad column is reported at once in a
    :class:`~mloop.errors.SignatureMismatch`); applies safe casts (int -> float, int32 -> int64,
    float32 -> float64); drops columns the signature does not name and orders the others as it
    does; then calls the framework.

    It returns a pandas DataFrame when the signature's outputs are columns, a numpy array when
    they are a tensor; without an output signature, a DataFrame when the model returned a
    DataFrame or Series and a numpy array otherwise.

    Attributes:
        path: the local model folder.
        metadata: the parsed ``mloop-model.yaml``.
        flavor: the flavor's name (``"sklearn"``, ``"pytorch"``, ...).
        signature: the signature, or None when the model was saved without one.
        extra_files: files in the folder that ``mloop-model.yaml`` does not list (ignored).

    Example::

        model = mloop.models.load("models:/churn@champion")
        model.predict(pd.DataFrame({"age": [42], "income": [51_000.0]}))
    """

    __slots__ = (
        "_predict",
        "_predict_proba",
        "_predictor",
        "_prepare",
        "_shape",
        "extra_files",
        "flavor",
        "metadata",
        "path",
        "signature",
    )

    def __init__(
        self,
        path: Path,
        metadata: ModelMetadata,
        predictor: Predictor,
        extra_files: list[str] | None = None,
    ) -> None:
        self.path = path
        self.metadata = metadata
        self.flavor = metadata.flavor.name
        self.signature: Signature | None = metadata.signature
        self.extra_files = list(extra_files or [])
        sig = metadata.signature
        self._predictor = predictor
        self._prepare = make_input_validator(sig.inputs if sig is not None else None)
        self._shape = make_output_shaper(sig.outputs if sig is not None else None)
        self._predict = predictor.predict
        self._predict_proba = getattr(predictor, "predict_proba", None)

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, path={str(self.path)!r})"

    def predict(self, data: Any) -> Any:
        """Predict for ``data`` (see the class docstring for what it accepts and returns).

        Raises:
            SignatureMismatch: ``data`` does not match the signature; ``details`` lists every
                bad column.
            ModelError: the framework failed on data that matched the signature.
        """
        x = self._prepare(data)
        try:
            out = self._predict(x)
        except MloopError:
            raise
        except Exception as exc:
            raise self._failed("predict", exc) from exc
        return self._shape(out)

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities for ``data``, as a numpy array (one column per class).

        Raises:
            ModelError: the model has no ``predict_proba`` (a regressor, a booster, a network),
                or the framework failed.
            SignatureMismatch: as for :meth:`predict`.
        """
        proba = self._predict_proba
        if proba is None:
            raise ModelError(
                f"this {self.flavor} model ({type(self.unwrap()).__name__}) has no "
                "predict_proba: use predict",
                details={"flavor": self.flavor},
            )
        x = self._prepare(data)
        try:
            out = proba(x)
        except MloopError:
            raise
        except Exception as exc:
            raise self._failed("predict_proba", exc) from exc
        return make_output_shaper(None)(out)

    @property
    def input_example(self) -> Any:
        """The input example saved with the model (a DataFrame, an array or a list of dicts),
        or None."""
        from mloop.models._example import read_example

        rel = self.metadata.input_example
        return None if rel is None else read_example(self.path / rel)

    def reference_profile(self) -> Any:
        """The profile of the training data saved with the model (a
        :class:`mloop.data.Profile`, the reference for drift monitoring), or None."""
        rel = self.metadata.reference_profile
        if rel is None:
            return None
        from mloop.data import Profile

        return Profile.from_bytes((self.path / rel).read_bytes())

    def unwrap(self) -> Any:
        """The framework's own model object (an estimator, a Booster, an ``nn.Module``, an
        ``InferenceSession``, a Keras model, your Python model)."""
        predictor = self._predictor
        return predictor.model if isinstance(predictor, Wrapper) else predictor

    def _failed(self, method: str, exc: Exception) -> ModelError:
        return ModelError(
            f"the {self.flavor} model failed in {method}: {type(exc).__name__}: {exc}",
            details={"flavor": self.flavor, "error": type(exc).__name__},
        )
