"""Declarative checks: the YAML format, parsed and validated into :class:`ChecksSpec`.

Every mistake in a checks file is reported with the column, the key and the YAML line, e.g.
``checks.yaml line 4: column 'age', key 'mni': unknown key; did you mean 'min'?``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mloop._core._yaml import load_yaml_with_lines
from mloop.errors import InvalidChecks

#: Keys of one column's checks, in the order reports list them.
COLUMN_KEYS = (
    "type",
    "nullable",
    "max_null_share",
    "min",
    "max",
    "finite",
    "allowed",
    "regex",
    "unique",
    "required",
    "description",
)
TABLE_KEYS = ("row_count", "strict")
ROW_COUNT_KEYS = ("min", "max")
CUSTOM_KEYS = ("name", "python", "columns", "description")
TOP_KEYS = ("columns", "table", "custom", "description")

#: Type names a column check accepts; any other name is tried as an Arrow type alias.
TYPE_NAMES = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "integer",
    "float",
    "number",
    "string",
    "bool",
    "timestamp",
    "date",
    "category",
    "binary",
)
TYPE_ALIASES = {
    "int": "integer",
    "double": "float64",
    "numeric": "number",
    "str": "string",
    "boolean": "bool",
    "datetime": "timestamp",
    "categorical": "category",
}
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class ColumnSpec:
    """The checks of one column; ``None`` (or ``False``) means "not checked"."""

    name: str
    type: str | None = None
    nullable: bool | None = None
    max_null_share: float | None = None
    min: Any = None
    max: Any = None
    finite: bool = False
    allowed: tuple[Any, ...] | None = None
    regex: str | None = None
    unique: bool = False
    required: bool = True
    line: int | None = None


@dataclass(frozen=True)
class CustomSpec:
    """A custom check: ``fn(df)`` returns a bool, or a boolean Series with one value per row."""

    name: str
    target: str
    fn: Callable[..., Any]
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ChecksSpec:
    """Parsed checks, ready to run."""

    columns: tuple[ColumnSpec, ...] = ()
    row_count_min: int | None = None
    row_count_max: int | None = None
    strict: bool = False
    custom: tuple[CustomSpec, ...] = ()
    source: str = "checks"

    def to_dict(self) -> dict[str, Any]:
        """The checks as the plain data of the YAML format."""
        columns: dict[str, Any] = {}
        for c in self.columns:
            body: dict[str, Any] = {}
            for key in COLUMN_KEYS:
                value = getattr(c, key, None)
                if key == "required":
                    if value is False:
                        body[key] = False
                elif key in ("finite", "unique"):
                    if value:
                        body[key] = True
                elif value is not None:
                    body[key] = list(value) if isinstance(value, tuple) else value
            columns[c.name] = body
        out: dict[str, Any] = {}
        if columns:
            out["columns"] = columns
        table: dict[str, Any] = {}
        if self.row_count_min is not None or self.row_count_max is not None:
            table["row_count"] = {
                k: v
                for k, v in (("min", self.row_count_min), ("max", self.row_count_max))
                if v is not None
            }
        if self.strict:
            table["strict"] = True
        if table:
            out["table"] = table
        if self.custom:
            out["custom"] = [
                {"name": c.name, "python": c.target}
                | ({"columns": list(c.columns)} if c.columns else {})
                for c in self.custom
            ]
        return out


# -- reading -----------------------------------------------------------------------------------


def load_checks(checks: Any) -> ChecksSpec:
    """Parse checks given as a :class:`ChecksSpec`, a mapping, a path to a YAML file, or YAML
    text.

    Raises:
        InvalidChecks: the checks are malformed; the message names the column, key and line.
    """
    if isinstance(checks, ChecksSpec):
        return checks
    if isinstance(checks, Mapping):
        return _Parser("checks", {}).parse(checks)
    if isinstance(checks, Path) or (
        isinstance(checks, str) and "\n" not in checks and not _looks_like_yaml(checks)
    ):
        path = Path(checks)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidChecks(
                f"no checks file at {str(path)!r}", details={"path": str(path)}
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidChecks(f"cannot read the checks file {str(path)!r}: {exc}") from exc
        return parse_yaml(text, source=path.name)
    if isinstance(checks, str):
        return parse_yaml(checks, source="checks")
    raise InvalidChecks(f"checks are a path, YAML text or a mapping, got {type(checks).__name__}")


def _looks_like_yaml(text: str) -> bool:
    stripped = text.strip()
    return (
        stripped.startswith(("{", "columns:", "table:", "custom:"))
        or ": " in stripped
        or stripped.endswith(":")
    )


def parse_yaml(text: str, *, source: str = "checks") -> ChecksSpec:
    """Parse the YAML text of checks.

    Raises:
        InvalidChecks: the text is not valid YAML, or the checks are malformed.
    """
    data, lines = load_yaml_with_lines(text, source=source, error=InvalidChecks)
    if data is None:
        data = {}
    return _Parser(source, lines).parse(data)


class _Parser:
    def __init__(self, source: str, lines: dict[tuple[Any, ...], int]) -> None:
        self.source = source
        self.lines = lines

    def fail(
        self,
        path: tuple[Any, ...],
        message: str,
        *,
        column: str | None = None,
        key: str | None = None,
    ) -> InvalidChecks:
        line = None
        probe = path
        while probe and line is None:
            line = self.lines.get(tuple(str(p) if not isinstance(p, int) else p for p in probe))
            if line is None:
                line = self.lines.get(probe)
            probe = probe[:-1]
        where = f"{self.source} line {line}" if line is not None else self.source
        parts = []
        if column is not None:
            parts.append(f"column {column!r}")
        if key is not None:
            parts.append(f"key {key!r}")
        subject = (", ".join(parts) + ": ") if parts else ""
        return InvalidChecks(
            f"{where}: {subject}{message}",
            details={"column": column, "key": key, "line": line},
        )

    def unknown(
        self, path: tuple[Any, ...], key: Any, known: tuple[str, ...], column: str | None = None
    ) -> InvalidChecks:
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return self.fail(
            (*path, key),
            f"unknown key; {hint}(known: {', '.join(known)})",
            column=column,
            key=str(key),
        )

    def parse(self, data: Any) -> ChecksSpec:
        if not isinstance(data, Mapping):
            raise self.fail(
                (), f"checks are a mapping with columns, table and custom, got {_kind(data)}"
            )
        for key in data:
            if key not in TOP_KEYS:
                raise self.unknown((), key, TOP_KEYS)
        columns = self.columns(data.get("columns"))
        row_min, row_max, strict = self.table(data.get("table"))
        custom = self.custom(data.get("custom"))
        return ChecksSpec(
            columns=columns,
            row_count_min=row_min,
            row_count_max=row_max,
            strict=strict,
            custom=custom,
            source=self.source,
        )

    # -- columns -------------------------------------------------------------------------------

    def columns(self, data: Any) -> tuple[ColumnSpec, ...]:
        if data is None:
            return ()
        if not isinstance(data, Mapping):
            raise self.fail(
                ("columns",), f"columns is a mapping of column name to checks, got {_kind(data)}"
            )
        return tuple(self.column(str(name), body) for name, body in data.items())

    def column(self, name: str, body: Any) -> ColumnSpec:
        path: tuple[Any, ...] = ("columns", name)
        line = self.lines.get(path)
        if body is None:
            return ColumnSpec(name=name, line=line)
        if not isinstance(body, Mapping):
            raise self.fail(
                path, f"the checks of a column are a mapping, got {_kind(body)}", column=name
            )
        for key in body:
            if key not in COLUMN_KEYS:
                raise self.unknown(path, key, COLUMN_KEYS, column=name)

        def at(key: str) -> tuple[Any, ...]:
            return (*path, key)

        def boolean(key: str) -> bool | None:
            value = body.get(key)
            if value is None:
                return None
            if not isinstance(value, bool):
                raise self.fail(
                    at(key), f"must be true or false, got {value!r}", column=name, key=key
                )
            return value

        type_ = body.get("type")
        if type_ is not None:
            type_ = self.type_name(at("type"), name, type_)
        lo, hi = (
            self.bound(at("min"), name, "min", body.get("min")),
            self.bound(at("max"), name, "max", body.get("max")),
        )
        if lo is not None and hi is not None and _greater(lo, hi):
            raise self.fail(at("max"), f"max {hi!r} is below min {lo!r}", column=name, key="max")
        share = body.get("max_null_share")
        if share is not None and (
            isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1
        ):
            raise self.fail(
                at("max_null_share"),
                f"must be a share between 0 and 1 (0.01 is 1%), got {share!r}",
                column=name,
                key="max_null_share",
            )
        allowed = body.get("allowed")
        if allowed is not None:
            if not isinstance(allowed, list) or not allowed:
                raise self.fail(
                    at("allowed"),
                    f"must be a non-empty list of values, got {_kind(allowed)}",
                    column=name,
                    key="allowed",
                )
            for i, value in enumerate(allowed):
                if value is None or isinstance(value, Mapping | list):
                    raise self.fail(
                        (*at("allowed"), i),
                        f"holds {_kind(value)}; list plain values (use nullable for nulls)",
                        column=name,
                        key="allowed",
                    )
            allowed = tuple(allowed)
        regex = body.get("regex")
        if regex is not None:
            if not isinstance(regex, str):
                raise self.fail(
                    at("regex"), f"must be a string, got {_kind(regex)}", column=name, key="regex"
                )
            try:
                re.compile(regex)
            except re.error as exc:
                raise self.fail(
                    at("regex"),
                    f"is not a valid regular expression: {exc}",
                    column=name,
                    key="regex",
                ) from None
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise self.fail(at("description"), "must be a string", column=name, key="description")
        return ColumnSpec(
            name=name,
            type=type_,
            nullable=boolean("nullable"),
            max_null_share=None if share is None else float(share),
            min=lo,
            max=hi,
            finite=bool(boolean("finite")),
            allowed=allowed,
            regex=regex,
            unique=bool(boolean("unique")),
            required=boolean("required") is not False,
            line=line,
        )

    def type_name(self, path: tuple[Any, ...], column: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(
                path,
                f"must be a type name such as int64 or string, got {_kind(value)}",
                column=column,
                key="type",
            )
        name = value.strip()
        name = TYPE_ALIASES.get(name.lower(), name)
        if name.lower() in TYPE_NAMES:
            return name.lower()
        import pyarrow as pa

        try:
            pa.type_for_alias(name)
        except (ValueError, KeyError):
            close = difflib.get_close_matches(name.lower(), TYPE_NAMES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise self.fail(
                path,
                f"unknown type {value!r}; {hint}(known: "
                f"{', '.join(TYPE_NAMES)}, or an Arrow type such as "
                "timestamp[us])",
                column=column,
                key="type",
            ) from None
        return name

    def bound(self, path: tuple[Any, ...], column: str, key: str, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            raise self.fail(
                path, f"must be a number or a date, got {value!r}", column=column, key=key
            )
        if isinstance(value, int | float):
            if isinstance(value, float) and math.isnan(value):
                raise self.fail(path, "must be a number, not NaN", column=column, key=key)
            return value
        if isinstance(value, dt.date):  # also datetime; YAML reads 2024-01-31 as a date
            return value
        raise self.fail(
            path,
            f"must be a number or a date, got {_kind(value)} {value!r}",
            column=column,
            key=key,
        )

    # -- table ---------------------------------------------------------------------------------

    def table(self, data: Any) -> tuple[int | None, int | None, bool]:
        if data is None:
            return None, None, False
        if not isinstance(data, Mapping):
            raise self.fail(
                ("table",), f"table is a mapping with row_count and strict, got {_kind(data)}"
            )
        for key in data:
            if key not in TABLE_KEYS:
                raise self.unknown(("table",), key, TABLE_KEYS)
        strict = data.get("strict", False)
        if not isinstance(strict, bool):
            raise self.fail(
                ("table", "strict"), f"must be true or false, got {strict!r}", key="strict"
            )
        rc = data.get("row_count")
        if rc is None:
            return None, None, strict
        path = ("table", "row_count")
        if not isinstance(rc, Mapping):
            raise self.fail(
                path, f"row_count is a mapping with min and max, got {_kind(rc)}", key="row_count"
            )
        for key in rc:
            if key not in ROW_COUNT_KEYS:
                raise self.unknown(path, key, ROW_COUNT_KEYS)
        bounds: list[int | None] = []
        for key in ROW_COUNT_KEYS:
            value = rc.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise self.fail(
                    (*path, key),
                    f"row_count {key} must be a whole number >= 0, got {value!r}",
                    key=key,
                )
            bounds.append(value)
        lo, hi = bounds
        if lo is not None and hi is not None and lo > hi:
            raise self.fail((*path, "max"), f"row_count max {hi} is below min {lo}", key="max")
        return lo, hi, strict

    # -- custom --------------------------------------------------------------------------------

    def custom(self, data: Any) -> tuple[CustomSpec, ...]:
        if data is None:
            return ()
        if not isinstance(data, list):
            raise self.fail(
                ("custom",), f"custom is a list of checks with name and python, got {_kind(data)}"
            )
        out: list[CustomSpec] = []
        names: set[str] = set()
        for i, item in enumerate(data):
            path: tuple[Any, ...] = ("custom", i)
            if not isinstance(item, Mapping):
                raise self.fail(
                    path, f"a custom check is a mapping with name and python, got {_kind(item)}"
                )
            for key in item:
                if key not in CUSTOM_KEYS:
                    raise self.unknown(path, key, CUSTOM_KEYS)
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                raise self.fail(path, "a custom check needs a name", key="name")
            if name in names:
                raise self.fail(
                    (*path, "name"), f"custom check {name!r} is defined twice", key="name"
                )
            names.add(name)
            target = item.get("python")
            fn, shown = self.function((*path, "python"), name, target)
            columns = item.get("columns")
            if columns is not None and (
                not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
            ):
                raise self.fail((*path, "columns"), "must be a list of column names", key="columns")
            out.append(
                CustomSpec(
                    name=name,
                    target=shown,
                    fn=fn,
                    columns=tuple(columns) if columns else None,
                )
            )
        return tuple(out)

    def function(
        self, path: tuple[Any, ...], name: str, target: Any
    ) -> tuple[Callable[..., Any], str]:
        if callable(target):
            shown = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"
            return target, shown
        if not isinstance(target, str) or not _TARGET.match(target.strip()):
            raise self.fail(
                path,
                f"custom check {name!r}: python must be 'module:function', got {target!r}",
                key="python",
            )
        module_name, _, attr = target.strip().partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception as exc:  # any import failure of user code is a checks error
            raise self.fail(
                path,
                f"custom check {name!r}: cannot import {module_name!r}: "
                f"{type(exc).__name__}: {exc}",
                key="python",
            ) from exc
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise self.fail(
                    path, f"custom check {name!r}: {module_name!r} has no {attr!r}", key="python"
                ) from None
        if not callable(obj):
            raise self.fail(
                path, f"custom check {name!r}: {target} is not a function", key="python"
            )
        return obj, target.strip()


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _greater(a: Any, b: Any) -> bool:
    try:
        return bool(a > b)
    except TypeError:
        return False
