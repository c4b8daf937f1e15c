"""What a step's code is, for its cache key: the step function and every project function or
class it reaches, hashed from their code objects.

A code object is hashed from its bytecode, constants (nested code objects recursively), names
and argument layout; line numbers and comments are not part of it, so moving a function or
editing a comment keeps its hash. From the step, references are followed transitively: globals
and closure cells that are functions or classes defined in *project* files (not the standard
library, not site-packages, not mloop itself), attributes read from project modules
(``helpers.featurize(...)``), and plain constants of project modules (``THRESHOLD = 0.5``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import sys
import sysconfig
import types
from collections.abc import Iterator
from importlib import metadata
from typing import Any

_SIMPLE = (int, float, complex, str, bytes, bool, type(None))


@functools.cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {
        paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)
    }
    roots.update({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    # mloop itself is a library to its users, even when installed in editable mode.
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots if r))


@functools.cache
def _is_project_file(filename: str) -> bool:
    if not filename or filename.startswith("<"):
        return False
    real = os.path.realpath(filename)
    if "site-packages" in real or "dist-packages" in real:
        return False
    return not any(real.startswith(root) for root in _library_roots())


def is_project_module(module: types.ModuleType) -> bool:
    """Whether ``module`` comes from a project file (not stdlib, site-packages or mloop)."""
    name = getattr(module, "__name__", "")
    if name == "mloop" or name.startswith("mloop."):
        return False
    filename = getattr(module, "__file__", None)
    return bool(filename) and _is_project_file(str(filename))


def _code_of(obj: Any) -> types.CodeType | None:
    code = getattr(obj, "__code__", None)
    return code if isinstance(code, types.CodeType) else None


def _is_project_callable(obj: Any) -> bool:
    code = _code_of(obj)
    if code is not None:
        mod = getattr(obj, "__module__", "") or ""
        return not mod.startswith("mloop.") and _is_project_file(code.co_filename)
    if isinstance(obj, type):
        mod = sys.modules.get(obj.__module__)
        return mod is not None and is_project_module(mod)
    return False


def _const_token(value: Any, h: Any) -> None:
    if isinstance(value, types.CodeType):
        _code_token(value, h)
    elif isinstance(value, tuple):
        h.update(b"(")
        for v in value:
            _const_token(v, h)
        h.update(b")")
    elif isinstance(value, frozenset):
        # A set's order depends on the hash seed of the process: sort a stable form.
        h.update(b"{")
        for text in sorted(repr(v) for v in value):
            h.update(text.encode())
            h.update(b",")
        h.update(b"}")
    else:
        h.update(type(value).__name__.encode())
        h.update(repr(value).encode())
        h.update(b";")


def _code_token(code: types.CodeType, h: Any, *, docstring: Any = None) -> None:
    h.update(code.co_code)
    consts = code.co_consts
    if docstring is not None and consts and consts[0] == docstring:
        consts = (None, *consts[1:])  # a docstring edit is not a code change
    _const_token(consts, h)
    for names in (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
        h.update(("|".join(names) + "#").encode())
    h.update(
        f"{code.co_argcount},{code.co_posonlyargcount},{code.co_kwonlyargcount},"
        f"{code.co_flags}".encode()
    )


def _all_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _all_names(c)


def function_key(obj: Any) -> str:
    """A stable name for a function or class: ``module:qualname``."""
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _hash_function(fn: Any) -> str:
    h = hashlib.sha256()
    code = _code_of(fn)
    assert code is not None
    _code_token(code, h, docstring=getattr(fn, "__doc__", None))
    for default in (getattr(fn, "__defaults__", None) or (), getattr(fn, "__kwdefaults__", None)):
        h.update(repr(default).encode())
    return h.hexdigest()


def _hash_class(cls: type) -> str:
    h = hashlib.sha256()
    h.update(cls.__qualname__.encode())
    for base in cls.__bases__:
        h.update(function_key(base).encode())
    for name in sorted(vars(cls)):
        value = vars(cls)[name]
        func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        if isinstance(func, property):
            func = func.fget
        code = _code_of(func)
        if code is not None:
            h.update(name.encode())
            _code_token(code, h, docstring=getattr(func, "__doc__", None))
        elif isinstance(value, _SIMPLE):
            h.update(f"{name}={value!r}".encode())
    return h.hexdigest()


def _references(obj: Any) -> Iterator[tuple[str, Any]]:
    """``(global name or "", value)`` of what ``obj`` refers to: globals, attributes of project
    modules, closure cells; for a class, its project bases and what its methods refer to."""
    if isinstance(obj, type):
        for base in obj.__bases__:
            if _is_project_callable(base):
                yield "", base
        for value in vars(obj).values():
            func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
            if isinstance(func, property):
                func = func.fget
            if _code_of(func) is not None:
                yield from _references(func)
        return
    code = _code_of(obj)
    if code is None:
        return
    g = getattr(obj, "__globals__", {})
    names = set(_all_names(code))
    for name in sorted(names):
        if name not in g:
            continue
        value = g[name]
        if isinstance(value, types.ModuleType):
            if is_project_module(value):
                for attr in sorted(names):
                    sub = getattr(value, attr, None)
                    if sub is not None and _is_project_callable(unwrap(sub)):
                        yield "", sub
            continue
        if isinstance(value, _SIMPLE) or (
            isinstance(value, tuple) and all(isinstance(v, _SIMPLE) for v in value)
        ):
            if _is_project_file(str(g.get("__file__") or "")):
                yield f"{g.get('__name__', '?')}:{name}", value
            continue
        yield "", value
    for cell in getattr(obj, "__closure__", None) or ():
        try:
            yield "", cell.cell_contents
        except ValueError:  # an empty cell
            continue


def unwrap(obj: Any) -> Any:
    """The plain function behind a step or a ``functools.wraps`` decorator."""
    inner = getattr(obj, "fn", None)
    if inner is not None and getattr(obj, "_mloop_step", False):
        return inner
    try:
        return inspect.unwrap(obj) if callable(obj) else obj
    except ValueError:
        return obj


def code_hashes(fn: Any) -> dict[str, str]:
    """``{function key: sha256}`` of ``fn`` and every project function, class or module
    constant it reaches. ``fn`` itself is keyed ``"<step>"``."""
    out: dict[str, str] = {"<step>": _hash_function(fn)}
    seen: set[int] = {id(fn)}
    stack = [fn]
    while stack:
        current = stack.pop()
        for const_name, ref in _references(current):
            if const_name:
                # a module-level constant of a project module (numbers, strings, tuples)
                out["=" + const_name] = hashlib.sha256(
                    f"{type(ref).__name__}:{ref!r}".encode()
                ).hexdigest()
                continue
            ref = unwrap(ref)
            if id(ref) in seen or not _is_project_callable(ref):
                continue
            seen.add(id(ref))
            out[function_key(ref)] = (
                _hash_class(ref) if isinstance(ref, type) else _hash_function(ref)
            )
            stack.append(ref)
    return out


def project_modules(fn: Any) -> list[types.ModuleType]:
    """The project modules ``fn`` reaches, to ship them by value to workers that cannot import
    them (files loaded by path, helpers beside them)."""
    mods: dict[str, types.ModuleType] = {}
    stack, seen = [fn], {id(fn)}
    while stack:
        current = stack.pop()
        mod = sys.modules.get(getattr(current, "__module__", "") or "")
        if mod is not None and is_project_module(mod):
            mods[mod.__name__] = mod
        for const_name, ref in _references(current):
            ref = unwrap(ref)
            if const_name or id(ref) in seen or not _is_project_callable(ref):
                continue
            seen.add(id(ref))
            stack.append(ref)
    return list(mods.values())


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
