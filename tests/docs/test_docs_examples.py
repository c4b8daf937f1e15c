"""The Python examples of the docs name mloop's API as it is: every block parses, every
``mloop`` name it imports or uses exists, and every keyword it passes to an mloop function is
one that function takes. (The README tour runs whole: test_tour.py.)"""

from __future__ import annotations

import ast
import importlib
import inspect
from typing import Any

import pytest
from mloop_docblocks import ROOT, Block, blocks

PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def python_blocks() -> list[tuple[str, Block]]:
    found = []
    for page in PAGES:
        for block in blocks(page.read_text(encoding="utf-8")):
            if block.lang == "python":
                found.append((f"{page.relative_to(ROOT)}:{block.line}", block))
    return found


BLOCKS = python_blocks()


def _resolve(dotted: str) -> Any:
    """The object a dotted ``mloop...`` name means, importing packages on the way."""
    parts = dotted.split(".")
    obj: Any = importlib.import_module(parts[0])
    path = parts[0]
    for part in parts[1:]:
        path = f"{path}.{part}"
        # a subpackage that is not imported yet is imported
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(path)
    return obj


class _Names(ast.NodeVisitor):
    """Dotted mloop names used by a block, with the keywords of the calls made on them."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> dotted mloop name
        self.used: dict[str, set[str]] = {}  # dotted name -> keywords passed

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == "mloop":
                local = alias.asname or alias.name.split(".")[0]
                self.aliases[local] = alias.name if alias.asname else "mloop"
                self.used.setdefault(alias.name, set())

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.module.split(".")[0] == "mloop":
            for alias in node.names:
                self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                self.used.setdefault(f"{node.module}.{alias.name}", set())

    def _dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = self._dotted(node)
        if dotted is not None:
            self.used.setdefault(dotted, set())
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        dotted = self._dotted(node.func)
        if dotted is not None:
            self.used.setdefault(dotted, set()).update(k.arg for k in node.keywords if k.arg)
        self.generic_visit(node)


def test_there_are_examples() -> None:
    assert len(BLOCKS) >= 25


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("import mloop\nmloop.models.lod('x')", "mloop.models.lod does not exist"),
        ("from mloop.data import drift\ndrift(a, b, methods='ks')", "takes no methods"),
        ("from mloop.nothing import x", "mloop.nothing.x does not exist"),
    ],
)
def test_a_drifted_example_fails(text: str, complaint: str) -> None:
    block = Block("python", text, 1, None)
    with pytest.raises(pytest.fail.Exception if "exist" in complaint else AssertionError) as info:
        test_the_example_names_the_api_as_it_is("example", block)
    assert complaint in str(info.value)


@pytest.mark.parametrize(("where", "block"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_the_example_names_the_api_as_it_is(where: str, block: Block) -> None:
    tree = ast.parse(block.text, filename=where)  # a syntax error fails here
    names = _Names()
    # imports first, so a name used before its import line still resolves
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.visit(node)
    names.visit(tree)
    for dotted, keywords in sorted(names.used.items()):
        try:
            obj = _resolve(dotted)
        except (ImportError, AttributeError) as exc:
            pytest.fail(f"{where}: {dotted} does not exist ({exc})")
        if not keywords or not callable(obj):
            continue
        try:
            signature = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        params = signature.parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            continue
        unknown = keywords - {p.name for p in params}
        assert not unknown, f"{where}: {dotted}() takes no {', '.join(sorted(unknown))}"
