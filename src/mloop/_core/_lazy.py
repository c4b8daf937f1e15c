"""Public names loaded on first use, from one mapping per package.

A package lists its public names once, each with the module that defines it, and gets its
``__getattr__``, ``__dir__`` and ``__all__`` from :func:`lazy_names`; the same names imported
under ``if TYPE_CHECKING:`` (as ``from m import X as X``) give type checkers the real types.
``tests/test_exports.py`` checks that the two agree and that every name resolves.

This module imports nothing but the standard library: ``mloop --help`` and the CLI's root
callback load packages built with it without paying for what their names pull in.

Example (a package's ``__init__.py``)::

    if TYPE_CHECKING:
        from mloop.data._dataset import Dataset as Dataset

    __getattr__, __dir__, __all__ = lazy_names(__name__, {"Dataset": "._dataset"})
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any

#: The module of a name that is a subpackage: ``{"models": SUBPACKAGE}`` makes ``mloop.models``
#: an attribute of ``mloop`` once used.
SUBPACKAGE = ""


def lazy_names(
    package: str,
    names: Mapping[str, str],
    *,
    eager: Iterable[str] = (),
    subpackages: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        names: each lazily loaded public name and the module defining it: relative to the
            package (``"._dataset"``) or absolute; :data:`SUBPACKAGE` for a subpackage.
        eager: public names the package defines or imports itself (part of ``__all__``).
        subpackages: subpackages reachable as attributes once used, but not in ``__all__``
            (so that ``from mloop import *`` does not import every domain).

    Returns:
        The module-level ``__getattr__`` (which caches what it loads in the package's
        namespace, so each name costs one import), ``__dir__``, and the sorted ``__all__``.
    """
    modules = {
        name: module if not module.startswith(".") else package + module
        for name, module in names.items()
    }
    public = sorted({*modules, *eager})
    modules.update(dict.fromkeys(subpackages, SUBPACKAGE))

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = (
            import_module(f"{package}.{name}")
            if module == SUBPACKAGE
            else getattr(import_module(module), name)
        )
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *modules})

    return __getattr__, __dir__, public
