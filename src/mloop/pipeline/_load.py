"""Finding a pipeline: a decorated function, or ``path/to/file.py:name`` loaded from the file."""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import types
from pathlib import Path
from typing import Any

from mloop.pipeline._codehash import is_project_module
from mloop.pipeline._errors import InvalidPipeline
from mloop.pipeline._model import PipelineSpec


def load_target(target: Any) -> tuple[PipelineSpec, str]:
    """The pipeline named by ``target`` and its description for the ``mloop.pipeline.target``
    tag (``path.py:name``, the path relative to the git root when inside a repository).

    A file is executed afresh on every call, and the project modules beside it are imported
    again, so that edits made since the last load are seen, as in a new process.

    Raises:
        InvalidPipeline: no such file, no such name, or the name is not a ``@pipeline``.
    """
    if isinstance(target, PipelineSpec):
        try:
            source = inspect.getsourcefile(target.fn)
        except TypeError:
            source = None
        where = describe_path(Path(source)) if source else getattr(target.fn, "__module__", "?")
        return target, target.target or f"{where}:{target.fn.__name__}"
    if not isinstance(target, str) or ":" not in target:
        raise InvalidPipeline(
            f"a pipeline target is a @pipeline function or 'path/to/file.py:name', got {target!r}"
        )
    path_text, _, name = target.rpartition(":")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise InvalidPipeline(f"pipeline file {path_text!r} does not exist")
    module = load_file(path)
    obj = getattr(module, name, None)
    if obj is None:
        found = sorted(k for k, v in vars(module).items() if isinstance(v, PipelineSpec))
        raise InvalidPipeline(
            f"{path_text} has no {name!r}; pipelines there: {', '.join(found) or '(none)'}"
        )
    if not isinstance(obj, PipelineSpec):
        raise InvalidPipeline(
            f"{path_text}:{name} is a {type(obj).__name__}, not a pipeline; mark it @mloop.pipeline"
        )
    obj.target = f"{describe_path(path)}:{name}"
    return obj, obj.target


_added: list[str] = []


def load_file(path: Path) -> types.ModuleType:
    """Execute a Python file as a fresh module, with its folder first on ``sys.path``."""
    real = path.resolve()
    folder = str(real.parent)
    # Folders of pipeline files loaded before leave sys.path: their modules must not shadow
    # the ones beside this file.
    for old in _added:
        if old != folder and old in sys.path:
            sys.path.remove(old)
    if folder not in sys.path:
        sys.path.insert(0, folder)
        _added.append(folder)
    # Modules imported from beside the file (or a file loaded before) may have been edited
    # or be different ones: import them afresh.
    prefixes = tuple(f + os.sep for f in {folder, *_added})
    for mod_name, mod in list(sys.modules.items()):
        if mod_name in ("__main__", "__mp_main__"):  # the caller's script: never unloaded
            continue
        file = getattr(mod, "__file__", None)
        if file and os.path.realpath(file).startswith(prefixes) and is_project_module(mod):
            del sys.modules[mod_name]
    name = real.stem if real.stem.isidentifier() else "pipeline_file"
    existing = sys.modules.get(name)
    if existing is not None and os.path.realpath(getattr(existing, "__file__", "") or "") != str(
        real
    ):
        name = f"{name}_{hashlib.sha256(str(real).encode()).hexdigest()[:8]}"
    module = types.ModuleType(name)
    module.__file__ = str(real)
    sys.modules[name] = module
    try:
        # Compiled from the source each time: a .pyc of the same second could be stale.
        code = compile(real.read_bytes(), str(real), "exec")
        exec(code, module.__dict__)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise InvalidPipeline(
            f"cannot load {path}: {type(exc).__name__}: {exc}",
            details={"file": str(path)},
        ) from exc
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def describe_path(path: Path) -> str:
    """``path`` relative to the root of the git repository holding it, else absolute."""
    real = path.resolve()
    for parent in real.parents:
        if (parent / ".git").exists():
            return real.relative_to(parent).as_posix()
    return str(real)
