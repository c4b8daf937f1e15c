"""Pickling for the flavors that store Python objects (scikit-learn, LightGBM's scikit-learn API,
generic Python models).

Unpickling runs code: loaders call :func:`load_pickle` only after every file's sha256 matched.
"""

from __future__ import annotations

import pickle
import pickletools
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["dump_pickle", "load_pickle", "pickled_distributions"]


def dump_pickle(obj: Any, path: Path) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_pickle(path: Path) -> Any:
    with path.open("rb") as f:
        return pickle.load(f)


def _pickled_modules(path: Path) -> set[str]:
    """The top-level modules whose objects a pickle references (read without unpickling)."""
    modules: set[str] = set()
    strings: list[str] = []
    with path.open("rb") as f:
        for opcode, arg, _ in pickletools.genops(f):
            if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                modules.add(arg.split(" ", 1)[0].partition(".")[0])
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                modules.add(strings[-2].partition(".")[0])
            elif isinstance(arg, str):
                strings.append(arg)
    return modules


def pickled_distributions(path: Path) -> tuple[str, ...]:
    """The installed distributions (other than the standard library and mloop) that provide
    the modules a pickle references, so that its requirements name them."""
    modules = _pickled_modules(path) - set(sys.stdlib_module_names) - {"__main__", "mloop"}
    if not modules:
        return ()
    provided = metadata.packages_distributions()
    found: list[str] = []
    for module in sorted(modules):
        for dist in provided.get(module, []):
            if dist not in found and dist.lower() != "mloop":
                found.append(dist)
    return tuple(found)
