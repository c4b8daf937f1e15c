"""LightGBM: a ``Booster`` in LightGBM's text format, or a scikit-learn API model pickled."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mloop.errors import InvalidArgument, ModelError
from mloop.models._flavor import Flavor, ModelFiles, Predictor
from mloop.models._pickle import dump_pickle, load_pickle, pickled_distributions

__all__ = ["LightGBMFlavor"]


class LightGBMFlavor(Flavor):
    """``lightgbm.Booster`` (saved as ``model.txt``) or ``LGBMClassifier``/``LGBMRegressor``/
    ``LGBMRanker`` (pickled, keeping ``predict_proba`` and the class labels)."""

    name = "lightgbm"
    packages = ("lightgbm",)

    def requirements(self, path: Path, options: Mapping[str, Any]) -> tuple[str, ...]:
        if options.get("kind") == "sklearn":
            return ("lightgbm", "scikit-learn", *pickled_distributions(path / options["file"]))
        return self.packages

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options)
        import lightgbm as lgb

        if isinstance(model, lgb.Booster):
            model.save_model(str(path / "model.txt"))
            return {"kind": "booster", "file": "model.txt"}
        if isinstance(model, lgb.LGBMModel):
            from mloop.models._sklearn import check_fitted

            check_fitted(model)
            dump_pickle(model, path / "model.pkl")
            return {"kind": "sklearn", "file": "model.pkl"}
        raise InvalidArgument(
            f"the lightgbm flavor saves a lightgbm.Booster or LGBMModel, not a "
            f"{type(model).__name__}"
        )

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        kind = self._option(options, "kind")
        path = self._file(files, options)
        if kind == "booster":
            import lightgbm as lgb

            return lgb.Booster(model_file=str(path))  # type: ignore[no-any-return]
        if kind == "sklearn":
            return load_pickle(path)  # type: ignore[no-any-return]
        raise ModelError(f"unknown lightgbm model kind {kind!r} in mloop-model.yaml")
