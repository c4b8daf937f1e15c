"""XGBoost: a ``Booster`` or a scikit-learn API model, in XGBoost's own UBJSON (or JSON) format,
never pickled."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mloop.errors import InvalidArgument, ModelError
from mloop.models._flavor import Flavor, ModelFiles, Predictor, Wrapper

__all__ = ["XGBoostFlavor"]

# The scikit-learn API classes a saved model may be rebuilt as (nothing else is instantiated).
_SKLEARN_CLASSES = (
    "XGBClassifier",
    "XGBRegressor",
    "XGBRanker",
    "XGBRFClassifier",
    "XGBRFRegressor",
)
_FORMATS = ("ubj", "json")


class _BoosterPredictor(Wrapper):
    def __init__(self, booster: Any) -> None:
        self.model = booster
        # inplace_predict takes a DataFrame or an array directly, with no DMatrix to build
        self.predict = booster.inplace_predict


class XGBoostFlavor(Flavor):
    """``xgboost.Booster`` or ``XGBClassifier``/``XGBRegressor``/``XGBRanker``/``XGBRF*``.

    Option ``format``: ``"ubj"`` (default, binary) or ``"json"``.
    """

    name = "xgboost"
    packages = ("xgboost|xgboost-cpu",)

    def requirements(self, path: Path, options: Mapping[str, Any]) -> tuple[str, ...]:
        if options.get("kind") == "sklearn":
            return (*self.packages, "scikit-learn")
        return self.packages

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options, ("format",))
        fmt = options.get("format", "ubj")
        if fmt not in _FORMATS:
            raise InvalidArgument(
                f"xgboost format must be one of {', '.join(_FORMATS)}, not {fmt!r}"
            )
        import xgboost as xgb

        file = f"model.{fmt}"
        if isinstance(model, xgb.Booster):
            model.save_model(str(path / file))
            return {"kind": "booster", "file": file}
        if isinstance(model, xgb.XGBModel):
            cls = next(
                (k.__name__ for k in type(model).__mro__ if k.__name__ in _SKLEARN_CLASSES), None
            )
            if cls is None:
                raise InvalidArgument(
                    f"the xgboost flavor saves {', '.join(_SKLEARN_CLASSES)} and Booster, not a "
                    f"{type(model).__name__}"
                )
            model.save_model(str(path / file))
            return {"kind": "sklearn", "model_class": cls, "file": file}
        raise InvalidArgument(
            f"the xgboost flavor saves an xgboost.Booster or XGBModel, not a {type(model).__name__}"
        )

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        import xgboost as xgb

        kind = self._option(options, "kind")
        path = str(self._file(files, options))
        if kind == "booster":
            booster = xgb.Booster()
            booster.load_model(path)
            return _BoosterPredictor(booster)
        if kind == "sklearn":
            cls = self._option(options, "model_class")
            if cls not in _SKLEARN_CLASSES:
                raise ModelError(f"unknown xgboost model class {cls!r} in mloop-model.yaml")
            model = getattr(xgb, cls)()
            model.load_model(path)
            return model  # type: ignore[no-any-return]
        raise ModelError(f"unknown xgboost model kind {kind!r} in mloop-model.yaml")
