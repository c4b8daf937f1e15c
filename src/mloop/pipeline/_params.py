"""``--param k=v`` parsed against the pipeline function's signature."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Sequence
from typing import Any

from mloop.pipeline._errors import InvalidPipeline
from mloop.pipeline._model import PipelineSpec, describe_params

_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f"}


def _hints(pipe: PipelineSpec) -> dict[str, Any]:
    try:
        return typing.get_type_hints(pipe.fn)
    except Exception:  # annotations that do not evaluate: fall back to their text
        return {
            name: p.annotation
            for name, p in pipe.signature.parameters.items()
            if p.annotation is not inspect.Parameter.empty
        }


def _kind(annotation: Any, default: Any) -> str:
    if annotation is inspect.Parameter.empty or annotation is None:
        if default is inspect.Parameter.empty or default is None:
            return "auto"
        annotation = type(default)
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        for name in ("bool", "int", "float", "str"):
            if text in (name, f"{name}|None", f"None|{name}", f"Optional[{name}]"):
                return name
        return "json"
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and typing.get_origin(annotation) in (typing.Union, getattr(typing, "UnionType", ())):
        annotation = args[0] if len(args) == 1 else annotation
    import types

    if isinstance(annotation, types.UnionType) and len(args) == 1:
        annotation = args[0]
    for t in (bool, int, float, str):
        if annotation is t:
            return str(t.__name__)
    return "json"


def convert(name: str, text: str, kind: str) -> Any:
    """``text`` as the kind of value the param takes."""
    try:
        if kind == "bool":
            low = text.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("expected true or false")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "str":
            return text
        if kind == "json":
            return json.loads(text)
    except ValueError as exc:
        raise InvalidPipeline(
            f"--param {name}={text!r}: not a valid {kind} ({exc})",
            details={"param": name, "expected": kind},
        ) from None
    try:  # no annotation and no default: JSON when it parses, else the text itself
        return json.loads(text)
    except ValueError:
        return text


def parse_params(pipe: PipelineSpec, items: Sequence[str]) -> dict[str, Any]:
    """``["alpha=0.2", "tags=[\\"a\\"]"]`` -> ``{"alpha": 0.2, "tags": ["a"]}``.

    Raises:
        InvalidPipeline: an item without ``=``, an unknown param (the accepted ones are
            listed), or a value that does not parse as the param's type.
    """
    hints = _hints(pipe)
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidPipeline(f"--param {item!r}: expected NAME=VALUE")
        param = pipe.signature.parameters.get(name)
        if param is None:
            raise InvalidPipeline(
                f"unknown param {name!r} for pipeline {pipe.name!r}; it accepts: "
                f"{describe_params(pipe) or '(none)'}",
                details={"unknown": [name], "accepted": list(pipe.signature.parameters)},
            )
        out[name] = convert(name, text, _kind(hints.get(name, param.annotation), param.default))
    return out
