"""PyTorch: a TorchScript module (``torch.jit.save``), or a ``state_dict`` with the dotted path
of an importable ``nn.Module`` class and its constructor's keyword arguments."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.errors import InvalidArgument, ModelError
from mloop.models._flavor import Flavor, ModelFiles, Predictor, Wrapper

__all__ = ["PyTorchFlavor", "import_object"]


def import_object(path: str) -> Any:
    """Import ``pkg.module.Name`` or ``pkg.module:Qual.Name``.

    Raises:
        ImportError: no importable module prefix, or no such attribute.
    """
    if ":" in path:
        module_name, _, qualname = path.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            break
        return obj
    raise ImportError(f"cannot import {path!r}")


def _class_path(cls: type) -> str:
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise InvalidArgument(
            f"the module class {cls.__qualname__} is defined in {cls.__module__} "
            "and cannot be imported when the model is loaded: move it into an importable module "
            "(or pass module_class='pkg.module.Class'), or save torch.jit.script(model)"
        )
    return f"{cls.__module__}:{cls.__qualname__}"


class _TorchPredictor(Wrapper):
    def __init__(self, module: Any) -> None:
        import torch

        self._torch = torch
        self.model = module.eval()

    def predict(self, data: Any) -> Any:
        torch = self._torch
        arr = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
        # torch warns (and may write through) for a read-only array: give it its own copy
        x = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
        with torch.inference_mode():
            out = self.model(x)
        if isinstance(out, torch.Tensor):
            return out.numpy()
        if isinstance(out, tuple | list):
            return type(out)(o.numpy() if isinstance(o, torch.Tensor) else o for o in out)
        return out


class PyTorchFlavor(Flavor):
    """A ``torch.jit.ScriptModule``, or an ``nn.Module`` saved as its ``state_dict``.

    Options for an ``nn.Module``: ``module_class`` (``"pkg.module.Class"``; default: the model's
    own class, which must be importable) and ``init_kwargs`` (the constructor's keyword
    arguments, YAML-safe values; default none).
    """

    name = "pytorch"
    packages = ("torch",)

    def _save(self, model: Any, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        self._no_options(options, ("module_class", "init_kwargs"))
        import torch

        if isinstance(model, torch.jit.ScriptModule):
            if options:
                raise InvalidArgument(
                    "module_class and init_kwargs are for an nn.Module saved as a state_dict; "
                    "a TorchScript module takes none"
                )
            torch.jit.save(model, str(path / "model.pt"))
            return {"kind": "torchscript", "file": "model.pt"}
        if not isinstance(model, torch.nn.Module):
            raise InvalidArgument(
                f"the pytorch flavor saves a torch.nn.Module or a TorchScript module, not a "
                f"{type(model).__name__}"
            )
        class_path = options.get("module_class") or _class_path(type(model))
        try:
            cls = import_object(class_path)
        except (ImportError, AttributeError) as exc:
            raise InvalidArgument(f"module_class {class_path!r} cannot be imported: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise InvalidArgument(f"module_class {class_path!r} is not a torch.nn.Module class")
        init_kwargs = dict(options.get("init_kwargs") or {})
        try:
            json.dumps(init_kwargs)
        except (TypeError, ValueError):
            raise InvalidArgument(
                "init_kwargs must hold plain values (numbers, strings, bools, lists, dicts) so "
                "that they can be written to mloop-model.yaml"
            ) from None
        try:
            inspect.signature(cls).bind(**init_kwargs)
        except TypeError as exc:
            raise InvalidArgument(
                f"init_kwargs {init_kwargs!r} do not fit {cls.__qualname__}(): {exc}"
            ) from None
        torch.save(model.state_dict(), path / "state_dict.pt")
        return {
            "kind": "state_dict",
            "file": "state_dict.pt",
            "module_class": class_path,
            "init_kwargs": init_kwargs,
        }

    def _load(self, files: ModelFiles, options: dict[str, Any]) -> Predictor:
        import torch

        kind = self._option(options, "kind")
        path = self._file(files, options)
        if kind == "torchscript":
            module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
            return _TorchPredictor(module)
        if kind != "state_dict":
            raise ModelError(f"unknown pytorch model kind {kind!r} in mloop-model.yaml")
        cls = import_object(self._option(options, "module_class"))
        module = cls(**(options.get("init_kwargs") or {}))
        # weights_only: a state dict is tensors; nothing in it should run code when loaded
        state = torch.load(path, map_location="cpu", weights_only=True)  # type: ignore[no-untyped-call]
        module.load_state_dict(state)
        return _TorchPredictor(module)
