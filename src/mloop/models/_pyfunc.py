"""Generic Python models: a class with ``load(context)`` and ``predict(data)``, pickled, with an
optional dict of artifacts (files or folders) copied into the model folder."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mloop.errors import InvalidArgument
from mloop.models._flavor import Flavor, ModelFiles, Predictor
from mloop.models._pickle import dump_pickle, load_pickle, pickled_distributions

__all__ = ["PyfuncFlavor", "PythonModel", "PythonModelContext"]

_FILE = "python_model.pkl"
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PythonModelContext:
    """What a generic Python model's ``load`` receives.

    Attributes:
        artifacts: the local path of each artifact given to ``save(..., artifacts=...)``.
        model_path: the model folder.
    """

    artifacts: Mapping[str, str] = field(default_factory=dict)
    model_path: Path = Path()


class PythonModel:
    """Base class for a generic Python model (subclassing it is optional: any object with
    ``predict(data)``, and optionally ``load(context)``, is saved the same way).

    The instance is pickled, so its class must be importable where the model is loaded (define
    it in a module, not in ``__main__`` or a notebook cell, to load it elsewhere).

    Example::

        class Scaled(mloop.models.PythonModel):
            def load(self, context):
                self.factor = float(Path(context.artifacts["factor"]).read_text())

            def predict(self, data):
                return data[["x"]] * self.factor

        mloop.models.save(Scaled(), "scaled", artifacts={"factor": "factor.txt"},
                          input_example=pd.DataFrame({"x": [1.0, 2.0]}))
    """

    def load(self, context: PythonModelContext) -> None:
        """Called once after unpickling, before the first ``predict``: load artifacts here."""

    def predict(self, data: Any) -> Any:
        """Return predictions for ``data`` (converted to the signature: a DataFrame for a
        table, a numpy array for a tensor)."""
        raise NotImplementedError


class PyfuncFlavor(Flavor):
    """Any object with ``predict(data)``; option ``artifacts``: ``{name: local path}``."""

    name = "pyfunc"

    def unsafe(self, options: Mapping[str, Any]) -> bool:
        return True  # the instance is pickled: its class's code runs at load

    def requirements(self, path: Path, options: Mapping[str, Any]) -> tuple[str, ...]:
        return pickled_distributions(path / options["file"])

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options, ("artifacts",))
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgument(
                f"a {type(model).__name__} has no predict(data): the pyfunc flavor saves objects "
                "with predict(data) and, optionally, load(context)"
            )
        artifacts = options.get("artifacts") or {}
        if not isinstance(artifacts, Mapping):
            raise InvalidArgument("artifacts must be a dict of name -> local path")
        recorded: dict[str, str] = {}
        for key, src in artifacts.items():
            if not isinstance(key, str) or not _KEY.match(key):
                raise InvalidArgument(
                    f"artifact name {key!r} must be letters, digits, '_', '-' or '.'"
                )
            source = Path(src)
            if source.is_file():
                (path / "artifacts" / key).mkdir(parents=True)
                shutil.copy2(source, path / "artifacts" / key / source.name)
                recorded[key] = f"artifacts/{key}/{source.name}"
            elif source.is_dir():
                shutil.copytree(source, path / "artifacts" / key)
                recorded[key] = f"artifacts/{key}"
            else:
                raise InvalidArgument(f"artifact {key!r}: no file or folder at {str(source)!r}")
        dump_pickle(model, path / _FILE)
        return {"file": _FILE, "artifacts": recorded}

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        model = load_pickle(self._file(files, options))
        artifacts = {
            key: str(files.path(rel)) for key, rel in (options.get("artifacts") or {}).items()
        }
        hook = getattr(model, "load", None)
        if callable(hook):
            hook(PythonModelContext(artifacts=artifacts, model_path=files.root))
        return model  # type: ignore[no-any-return]
