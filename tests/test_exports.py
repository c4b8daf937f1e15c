"""Every package's public names, as httpx checks its own: each name in ``__all__`` resolves,
nothing public is left out of ``__all__``, and the names a package loads on first use are the
ones it imports under ``TYPE_CHECKING`` (so type checkers see their real types)."""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

import mloop

PACKAGES = [
    "mloop",
    "mloop._core",
    "mloop.autologging",
    "mloop.batch",
    "mloop.cli",
    "mloop.data",
    "mloop.evaluate",
    "mloop.export",
    "mloop.genai",
    "mloop.interop",
    "mloop.loop",
    "mloop.models",
    "mloop.monitor",
    "mloop.pipeline",
    "mloop.registry",
    "mloop.serve",
    "mloop.server",
    "mloop.store",
    "mloop.tracking",
]
# What a package's __init__ imports for its own use: not public names.
HELPERS = {"annotations", "TYPE_CHECKING", "lazy_names", "SUBPACKAGE", "sys", "types", "Any"}


def _init_source(package: str) -> ast.Module:
    path = Path(importlib.import_module(package).__file__ or "")
    return ast.parse(path.read_text(encoding="utf-8"))


def _type_checking_imports(tree: ast.Module) -> dict[str, str]:
    """``{name: module}`` of the ``from module import name as name`` under ``if TYPE_CHECKING``."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), ast.dump(stmt)
                for alias in stmt.names:
                    # `X as X`: the explicit re-export strict type checkers expect
                    assert alias.asname == alias.name, f"import {alias.name} as {alias.name}"
                    found[alias.name] = f"{stmt.module}"
    return found


def test_every_package_is_listed() -> None:
    root = Path(mloop.__file__).parent
    found = {
        "mloop" + ("." + ".".join(p.parent.relative_to(root).parts) if p.parent != root else "")
        for p in root.rglob("__init__.py")
        if "migrations" not in p.parts
    }
    assert found - {"mloop._web"} == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_resolve_and_nothing_public_is_missing(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    # The order is ruff's (RUF022: constants, classes, functions, each sorted).
    assert len(exported) == len(set(exported)), "__all__ has no repeats"
    for name in exported:
        assert getattr(module, name) is not None, name
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name not in HELPERS
        and not (isinstance(value, types.ModuleType) and value.__name__.startswith(package))
    }
    assert public <= set(exported), f"public but not in __all__: {sorted(public - set(exported))}"
    assert set(dir(module)) >= set(exported)


@pytest.mark.parametrize("package", PACKAGES)
def test_lazy_names_are_the_type_checking_imports(package: str) -> None:
    module = importlib.import_module(package)
    typed = _type_checking_imports(_init_source(package))
    for name, source in typed.items():
        assert name in module.__all__, f"{name} is imported for type checkers but not exported"
        assert getattr(module, name) is getattr(importlib.import_module(source), name), name
    if "__getattr__" in vars(module):  # names loaded on first use: each must be typed
        bound = {
            alias.asname or alias.name
            for node in _init_source(package).body
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        missing = set(module.__all__) - set(typed) - bound - {"__version__"}
        assert not missing, f"loaded on first use without a TYPE_CHECKING import: {missing}"


def test_mloop_data_dataset_is_typed_for_users() -> None:
    """The reported gap: ``mloop.data.Dataset`` was ``Any`` to type checkers."""
    typed = _type_checking_imports(_init_source("mloop.data"))
    assert typed["Dataset"] == "mloop.data._dataset"
