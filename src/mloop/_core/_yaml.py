"""YAML read with the line of every key and list item, so that errors can name the line."""

from __future__ import annotations

from typing import Any

import yaml

from mloop.errors import MloopError

__all__ = ["Lines", "load_yaml_with_lines"]

#: The line (1-based) of each key and list item, by its path: ``("models", "churn", 0)``.
Lines = dict[tuple[Any, ...], int]


def load_yaml_with_lines(text: str, *, source: str, error: type[MloopError]) -> tuple[Any, Lines]:
    """Parse ``text``; returns the data and the line of every key and list item.

    Raises:
        error: the text is not YAML (the message names ``source`` and the line), or a mapping
            gives one key twice (YAML would keep the last silently).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        where = f" line {line}" if line is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(
            f"{source}{where}: not valid YAML: {problem}",
            details={"source": source, "line": line},
        ) from None
    lines: Lines = {}
    if node is not None:
        _walk(node, (), lines, source, error)
    return data, lines


def _walk(
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: Lines,
    source: str,
    error: type[MloopError],
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise error(
                    f"{source} line {line}: key {key!r} is given twice (first on line {seen[key]})",
                    details={"source": source, "key": key, "line": line},
                )
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, source, error)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, source, error)
