"""The run search language: tokenizer, syntax tree and recursive-descent parser.

:mod:`._search` compiles the tree to SQL; the language itself is described there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from mloop.errors import InvalidFilter

__all__ = [
    "And",
    "Compare",
    "Key",
    "Node",
    "Not",
    "Or",
    "OrderBy",
    "parse_filter",
    "parse_order_by",
]

MAX_FILTER_LENGTH = 10_000
MAX_KEYS = 50  # distinct metric/param/tag keys, each one join (SQLite allows 64 tables a query)
MAX_ORDER_BY = 50
# Nested parentheses and NOTs. SQLite's parser stack (100 entries) overflows at about 36 nested
# parenthesized AND/OR groups; deeper nesting would also strain Python's recursion limit.
MAX_DEPTH = 30
# SQLite refuses expressions deeper than 1000 and parses `a OR b OR c` as a left-deep tree.
MAX_CONDITIONS = 500

Kind: TypeAlias = Literal["metric", "param", "tag", "attribute"]
Value: TypeAlias = str | int | float

_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
_PLURAL: dict[Kind, str] = {
    "metric": "metrics",
    "param": "params",
    "tag": "tags",
    "attribute": "attributes",
}

# Attribute name -> "string" or "integer"; the column is runs.c[name].
_ATTRIBUTES: dict[str, Literal["string", "integer"]] = {
    "run_id": "string",
    "run_name": "string",
    "status": "string",
    "start_time": "integer",
    "end_time": "integer",
    "user": "string",
    "experiment_id": "integer",
    "parent_run_id": "string",
    "lifecycle_stage": "string",
}
_ENUMS: dict[str, tuple[tuple[str, ...], bool]] = {
    # name -> (allowed values, compared upper-case?)
    "status": (("RUNNING", "FINISHED", "FAILED", "KILLED"), True),
    "lifecycle_stage": (("active", "deleted"), False),
}
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"})
_COMPARISONS = ("=", "!=", "<>", "<", "<=", ">", ">=")
_OPERATORS_HINT = "an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL)"
_KEY_HINT = "a metrics., params., tags. or attributes. key, or an attribute such as status"
_INT64 = (-(2**63), 2**63 - 1)


# -- the syntax tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """What a comparison or an order-by clause refers to: ``metrics.auc``, ``status``, ..."""

    kind: Kind
    name: str
    pos: int = field(compare=False)  # where it appears; the same key anywhere is equal

    @property
    def type(self) -> Literal["number", "integer", "string"]:
        if self.kind == "metric":
            return "number"
        if self.kind == "attribute":
            return _ATTRIBUTES[self.name]
        return "string"

    def __str__(self) -> str:
        if self.kind == "attribute":
            return self.name
        name = self.name if _is_plain_key(self.name) else "`" + self.name.replace("`", "``") + "`"
        return f"{_PLURAL[self.kind]}.{name}"


@dataclass(frozen=True, slots=True)
class Compare:
    """``key op value``; ``value`` is a tuple for IN and NOT IN, None for IS [NOT] NULL."""

    key: Key
    op: str  # = != < <= > >= LIKE NOT LIKE ILIKE NOT ILIKE IN NOT IN IS NULL IS NOT NULL
    value: Value | tuple[Value, ...] | None


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node: TypeAlias = Compare | Not | And | Or


@dataclass(frozen=True, slots=True)
class OrderBy:
    key: Key
    descending: bool


# -- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["word", "key", "string", "number", "op", "punct", "end"]
    pos: int
    text: str  # the source text, for messages
    value: Any = None  # string value, number, (prefix, key) for "key", upper-case word for "word"

    def describe(self, what: str) -> str:
        if self.kind == "end":
            return f"end of the {what}"
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return repr(text)


def _is_key_char(c: str) -> bool:
    return c.isalnum() or c in "_-./"


def _is_plain_key(key: str) -> bool:
    return bool(key) and all(_is_key_char(c) for c in key)


class _Source:
    """The text being parsed, and how to point at a place in it."""

    def __init__(self, text: str, what: str, details_key: str) -> None:
        self.text = text
        self.what = what  # "filter" or "order_by clause"
        self.details_key = details_key

    def error(self, pos: int, message: str) -> InvalidFilter:
        prefix = f"invalid order_by clause {self.text!r}: " if self.what != "filter" else ""
        return InvalidFilter(
            f"{prefix}{message}\n{_caret(self.text, pos)}",
            details={"position": pos, self.details_key: self.text},
        )


def _caret(text: str, pos: int, width: int = 100) -> str:
    """The text on one line with a caret under ``pos``, cut to a window around it if long."""
    line = "".join(" " if c.isspace() else c for c in text)
    start = 0
    if len(line) > width:
        start = max(0, min(pos - width // 2, len(line) - width))
        end = start + width
        head = "..." if start > 0 else ""
        tail = "..." if end < len(line) else ""
        line = head + line[start:end] + tail
        start -= len(head)
    return f"  {line}\n  {' ' * (pos - start)}^"


class _Tokenizer:
    def __init__(self, src: _Source) -> None:
        self.src = src
        self.text = src.text
        self.i = 0

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        text = self.text
        while True:
            while self.i < len(text) and text[self.i].isspace():
                self.i += 1
            if self.i >= len(text):
                out.append(_Token("end", len(text), ""))
                return out
            out.append(self._token())

    def _token(self) -> _Token:
        text, start = self.text, self.i
        c = text[start]
        nxt = text[start + 1] if start + 1 < len(text) else ""
        if c in "(),":
            self.i += 1
            return _Token("punct", start, c, c)
        if c in "<>!=":
            two = text[start : start + 2]
            if two in ("<=", ">=", "<>", "!="):
                self.i += 2
                return _Token("op", start, two, "!=" if two == "<>" else two)
            if two == "==":
                raise self.src.error(
                    start, f"unexpected '==' at position {start}: use = to compare"
                )
            if c == "!":
                raise self.src.error(
                    start, f"unexpected '!' at position {start}: expected != or {_OPERATORS_HINT}"
                )
            self.i += 1
            return _Token("op", start, c, c)
        if c in "'\"":
            value = self._quoted(c)
            return _Token("string", start, text[start : self.i], value)
        if c.isdigit() or (c in "-+." and (nxt.isdigit() or (nxt == "." and c != "."))):
            return self._number()
        if c.isalpha() or c == "_":
            return self._word()
        if c == "`":
            raise self.src.error(
                start,
                f"unexpected '`' at position {start}: backticks quote a key after its prefix,"
                " e.g. metrics.`val loss`",
            )
        raise self.src.error(start, f"unexpected character {c!r} at position {start}")

    def _quoted(self, quote: str) -> str:
        """Read a quoted string or key starting at ``self.i``; return its value."""
        text, start = self.text, self.i
        i = start + 1
        chars: list[str] = []
        while i < len(text):
            c = text[i]
            if c == quote:
                if text[i + 1 : i + 2] == quote:  # doubled quote
                    chars.append(quote)
                    i += 2
                    continue
                self.i = i + 1
                return "".join(chars)
            if c == "\\" and quote != "`" and i + 1 < len(text) and text[i + 1] in "\\'\"":
                chars.append(text[i + 1])
                i += 2
                continue
            chars.append(c)
            i += 1
        kind = "key" if quote == "`" else "string"
        raise self.src.error(
            start, f"unterminated {kind} at position {start}: add the closing {quote}"
        )

    def _number(self) -> _Token:
        text, start = self.text, self.i
        i = start
        if text[i] in "+-":
            i += 1
        digits_start = i
        while i < len(text) and text[i].isdigit():
            i += 1
        is_float = False
        if i < len(text) and text[i] == ".":
            is_float = True
            i += 1
            while i < len(text) and text[i].isdigit():
                i += 1
        if i < len(text) and text[i] in "eE":
            j = i + 1
            if j < len(text) and text[j] in "+-":
                j += 1
            if j < len(text) and text[j].isdigit():
                is_float = True
                i = j
                while i < len(text) and text[i].isdigit():
                    i += 1
        if i < len(text) and (_is_key_char(text[i]) or text[i] in "'\"`"):
            while i < len(text) and _is_key_char(text[i]):
                i += 1
            raise self.src.error(start, f"malformed number {text[start:i]!r} at position {start}")
        raw = text[start:i]
        self.i = i
        if digits_start == i:  # only a sign
            raise self.src.error(start, f"malformed number {raw!r} at position {start}")
        value: int | float = float(raw) if is_float else int(raw)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.src.error(start, f"number {raw} at position {start} is out of range")
        return _Token("number", start, raw, value)

    def _word(self) -> _Token:
        text, start = self.text, self.i
        i = start
        while i < len(text) and _is_key_char(text[i]):
            i += 1
        word = text[start:i]
        self.i = i
        if "." not in word:
            return _Token("word", start, word, word.upper())
        prefix, key = word.split(".", 1)
        if not key:
            if i < len(text) and text[i] in '`"':
                key = self._quoted(text[i])
                if not key:
                    raise self.src.error(i, f"empty key at position {i}")
            else:
                raise self.src.error(
                    i,
                    f"expected a key after {word!r} at position {i}"
                    " (quote keys with spaces: metrics.`val loss`)",
                )
        return _Token("key", start, text[start : self.i], (prefix, key))


# -- the parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, what: str = "filter", details_key: str = "filter") -> None:
        self.src = _Source(text, what, details_key)
        self.tokens = _Tokenizer(self.src).tokens()
        self.i = 0
        self.depth = 0
        self.conditions = 0

    # helpers

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def at_end(self) -> bool:
        return self.tok.kind == "end"

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.value in words

    def unexpected(self, expected: str, tok: _Token | None = None) -> InvalidFilter:
        tok = tok or self.tok
        return self.src.error(
            tok.pos,
            f"unexpected {tok.describe(self.src.what)} at position {tok.pos}: expected {expected}",
        )

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.src.error(
                pos, f"the {self.src.what} nests deeper than {MAX_DEPTH} levels at position {pos}"
            )

    # grammar: or := and (OR and)* ; and := not (AND not)* ; not := NOT not | primary

    def parse_filter(self) -> Node | None:
        if self.at_end():
            return None
        node = self.parse_or()
        if not self.at_end():
            raise self.unexpected("AND, OR or the end of the filter")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.is_word("OR"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.is_word("AND"):
            self.advance()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Node:
        if self.is_word("NOT"):
            self.enter(self.advance().pos)
            node: Node = Not(self.parse_not())
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "punct" and tok.value == "(":
            self.enter(self.advance().pos)
            node = self.parse_or()
            if not (self.tok.kind == "punct" and self.tok.value == ")"):
                raise self.unexpected("AND, OR or ')'")
            self.advance()
            self.depth -= 1
            return node
        return self.parse_comparison()

    def parse_key(self) -> Key:
        tok = self.tok
        if tok.kind == "key":
            prefix, name = tok.value
            kind = _PREFIXES.get(prefix.lower())
            if kind is None:
                raise self.src.error(
                    tok.pos,
                    f"unknown prefix {prefix + '.'!r} at position {tok.pos}:"
                    " expected metrics., params., tags. or attributes.",
                )
            if kind == "attribute":
                name = self._attribute(name, tok)
            self.advance()
            return Key(kind, name, tok.pos)
        if tok.kind == "word" and tok.value not in _KEYWORDS:
            name = self._attribute(tok.text, tok)
            self.advance()
            return Key("attribute", name, tok.pos)
        raise self.unexpected(_KEY_HINT)

    def _attribute(self, name: str, tok: _Token) -> str:
        if name.lower() in _ATTRIBUTES:
            return name.lower()
        raise self.src.error(
            tok.pos,
            f"unknown attribute {name!r} at position {tok.pos}: expected one of "
            f"{', '.join(_ATTRIBUTES)}, or a key such as metrics.{name}",
        )

    def parse_comparison(self) -> Compare:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.src.error(
                self.tok.pos,
                f"the {self.src.what} has more than {MAX_CONDITIONS} comparisons"
                f" (at position {self.tok.pos}); use IN (...) for lists of values",
            )
        key = self.parse_key()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            return Compare(key, tok.value, self.parse_value(key, tok.value))
        if tok.kind != "word":
            raise self.unexpected(_OPERATORS_HINT)
        if tok.value == "IS":
            self.advance()
            negate = self.is_word("NOT")
            if negate:
                self.advance()
            if not self.is_word("NULL"):
                raise self.unexpected("NULL" if negate else "NULL or NOT NULL")
            self.advance()
            return Compare(key, "IS NOT NULL" if negate else "IS NULL", None)
        negate = tok.value == "NOT"
        if negate:
            self.advance()
            if not self.is_word("IN", "LIKE", "ILIKE"):
                raise self.unexpected("IN, LIKE or ILIKE after NOT")
        op_tok = self.tok
        prefix = "NOT " if negate else ""
        if op_tok.value in ("LIKE", "ILIKE"):
            if key.type != "string":
                raise self.src.error(
                    op_tok.pos,
                    f"{op_tok.value} at position {op_tok.pos} needs a string key,"
                    f" but {key} is numeric: compare it with =, <, > ...",
                )
            self.advance()
            return Compare(key, prefix + op_tok.value, self.parse_value(key, op_tok.value))
        if op_tok.value == "IN":
            self.advance()
            return Compare(key, prefix + "IN", self.parse_list(key))
        raise self.unexpected(_OPERATORS_HINT)

    def parse_list(self, key: Key) -> tuple[Value, ...]:
        if not (self.tok.kind == "punct" and self.tok.value == "("):
            raise self.unexpected("'(' after IN, e.g. IN ('a', 'b')")
        self.advance()
        values = [self.parse_value(key, "IN")]
        while self.tok.kind == "punct" and self.tok.value == ",":
            self.advance()
            values.append(self.parse_value(key, "IN"))
        if not (self.tok.kind == "punct" and self.tok.value == ")"):
            raise self.unexpected("',' or ')'")
        self.advance()
        return tuple(dict.fromkeys(values))

    def parse_value(self, key: Key, op: str) -> Value:
        tok = self.tok
        if tok.kind not in ("string", "number"):
            raise self.unexpected("a number" if key.type != "string" else "a quoted string")
        self.advance()
        if key.type == "string":
            if tok.kind == "number":
                raise self.src.error(tok.pos, self._quote_hint(key, tok))
            return self._enum(key, tok, op)
        if tok.kind == "string":
            if key.name == "experiment_id" and tok.value.strip().isdigit():
                return self._integer(key, tok, int(tok.value))  # ids are strings in the API
            example = f"{key} > 0.5" if key.type == "number" else f"{key} > 1700000000000"
            raise self.src.error(
                tok.pos,
                f"{key} is numeric: compare it with a number, e.g. {example};"
                f" got the string {tok.text} at position {tok.pos}",
            )
        if key.type == "integer":
            return self._integer(key, tok, tok.value)
        try:
            return float(tok.value)
        except OverflowError:
            raise self.src.error(tok.pos, f"number at position {tok.pos} is out of range") from None

    def _integer(self, key: Key, tok: _Token, value: int | float) -> int:
        if isinstance(value, float):
            if not value.is_integer():
                raise self.src.error(
                    tok.pos,
                    f"{key} is an integer{' (milliseconds)' if 'time' in key.name else ''}:"
                    f" got {tok.text} at position {tok.pos}",
                )
            value = int(value)
        if not _INT64[0] <= value <= _INT64[1]:
            raise self.src.error(tok.pos, f"number {tok.text} at position {tok.pos} is too large")
        return value

    def _quote_hint(self, key: Key, tok: _Token) -> str:
        example = f"{key} = '{tok.text}'"
        where = f" (at position {tok.pos})"
        if key.kind == "param":
            return f"params are strings: quote the value, e.g. {example}{where}"
        if key.kind == "tag":
            return f"tags are strings: quote the value, e.g. {example}{where}"
        return f"{key} is a string: quote the value, e.g. {example}{where}"

    def _enum(self, key: Key, tok: _Token, op: str) -> str:
        value: str = tok.value
        if key.kind != "attribute" or key.name not in _ENUMS or op in ("LIKE", "ILIKE"):
            return value
        allowed, upper = _ENUMS[key.name]
        normalized = value.upper() if upper else value.lower()
        if normalized not in allowed:
            raise self.src.error(
                tok.pos,
                f"{key} {tok.text} at position {tok.pos} is not one of {', '.join(allowed)}",
            )
        return normalized

    def parse_order_by(self) -> OrderBy:
        if self.at_end():
            raise self.src.error(0, "empty order_by clause: expected a key, e.g. metrics.auc DESC")
        key = self.parse_key()
        descending = False
        if self.is_word("ASC", "DESC"):
            descending = self.advance().value == "DESC"
        if not self.at_end():
            raise self.unexpected("ASC, DESC or the end of the clause")
        return OrderBy(key, descending)


def parse_filter(text: str) -> Node | None:
    """Parse a filter into its syntax tree; None when it is empty or only whitespace.

    Example::

        parse_filter("metrics.auc > 0.9 and params.model = 'lgbm'")
        # And((Compare(Key('metric', 'auc', 0), '>', 0.9), Compare(...)))

    Raises:
        InvalidFilter: the filter does not parse or compares a key with the wrong type; the
            message names the position and shows it under a caret, ``details`` holds
            ``{"position": i, "filter": text}``.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(
            f"the filter is {len(text):,} characters; at most {MAX_FILTER_LENGTH:,}",
            details={"position": MAX_FILTER_LENGTH, "filter": text[:MAX_FILTER_LENGTH]},
        )
    return _Parser(text).parse_filter()


def parse_order_by(clause: str) -> OrderBy:
    """Parse one order-by clause, ``<key> [ASC|DESC]`` (ascending by default).

    Raises:
        InvalidFilter: the clause does not parse; ``details`` holds the position and the clause.
    """
    if len(clause) > MAX_FILTER_LENGTH:
        raise InvalidFilter(
            f"an order_by clause is {len(clause):,} characters; at most {MAX_FILTER_LENGTH:,}",
            details={"position": MAX_FILTER_LENGTH, "order_by": clause[:MAX_FILTER_LENGTH]},
        )
    return _Parser(clause, "order_by clause", "order_by").parse_order_by()
