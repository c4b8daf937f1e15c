"""The gate policy language: rules such as ``accuracy >= champion.accuracy - 0.01``.

A policy is YAML with a ``rules`` list; each rule is a string, or a mapping with ``rule`` and an
optional ``name``::

    rules:
      - accuracy >= 0.85
      - slice[region=eu].recall >= 0.7
      - rule: roc_auc >= champion.roc_auc
        name: no AUC regression

A rule is ``<expression> <op> <expression>`` with ``op`` one of ``>= > <= < == !=``. Expressions
are numbers, metric names of the challenger (``accuracy``, ``slice[region=eu].recall``,
``fairness[sex].demographic_parity_difference``, ``class[1].f1``) or of the champion
(``champion.accuracy``), ``+ - * /`` and parentheses. Rules are parsed by a small tokenizer and
a recursive-descent parser: nothing is ever passed to ``eval``.

A rule whose value cannot be computed (an empty slice, a metric the model does not have, a
division by zero) fails with the reason: a gate never passes silently.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mloop._core._yaml import load_yaml_with_lines
from mloop.errors import PolicyError
from mloop.evaluate._result import FAIRNESS_NAMES

__all__ = [
    "GatePolicy",
    "MetricSource",
    "Rule",
    "RuleResult",
    "load_gate_policy",
    "load_policy",
]

CHAMPION_PREFIX = "champion."
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
#: Names that read as bracketed groups: ``slice[col=value].metric`` and the like.
GROUPS = ("slice", "fairness", "class")
_GROUP = re.compile(r"^(slice|fairness|class)\[(.*)\]\.(.+)$", re.DOTALL)
_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NAME_START = re.compile(r"[A-Za-z_]")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.]")
_RULE_KEYS = ("rule", "name")


def _scalar_text(value: Any) -> str:
    """A YAML scalar as the text it was written as (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


#: What ``class[<label>].<metric>`` may name.
CLASS_METRICS = ("precision", "recall", "f1", "support")


class MetricSource(Protocol):
    """What rules read values from: an ``EvaluationResult`` (or anything shaped like one)."""

    @property
    def metrics(self) -> Mapping[str, Any]: ...

    def lookup(self, name: str) -> float | None: ...


# -- syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: float
    col: int


@dataclass(frozen=True)
class Ref:
    """A metric of the challenger, or of the champion when ``champion`` is true."""

    name: str
    champion: bool
    col: int

    @property
    def text(self) -> str:
        return f"{CHAMPION_PREFIX}{self.name}" if self.champion else self.name


@dataclass(frozen=True)
class Neg:
    operand: Expr
    col: int


@dataclass(frozen=True)
class Bin:
    op: str
    left: Expr
    right: Expr
    col: int


Expr = Num | Ref | Neg | Bin


def refs(expr: Expr) -> Iterator[Ref]:
    """Every metric reference in ``expr``, left to right."""
    if isinstance(expr, Ref):
        yield expr
    elif isinstance(expr, Neg):
        yield from refs(expr.operand)
    elif isinstance(expr, Bin):
        yield from refs(expr.left)
        yield from refs(expr.right)


# -- tokenizer and parser ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "name", "op", "cmp", "(", ")", "end"
    text: str
    col: int  # 1-based column in the rule


class _Where:
    """Where a rule came from, to put the YAML line and the rule's column into errors."""

    def __init__(self, source: str, line: int | None, rule: str) -> None:
        self.source, self.line, self.rule = source, line, rule

    def error(self, col: int | None, message: str) -> PolicyError:
        at = self.source
        if self.line is not None:
            at += f" line {self.line}"
        if col is not None:
            at += f", column {col}"
        text = f"{at}: {message}"
        if col is None:
            text += f" (rule {self.rule!r})"
        else:
            text += f"\n  {self.rule}\n  {' ' * (col - 1)}^"
        return PolicyError(
            text,
            details={"source": self.source, "line": self.line, "column": col, "rule": self.rule},
        )


def _tokenize(text: str, where: _Where) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        col = i + 1
        two = text[i : i + 2]
        if two in (">=", "<=", "==", "!="):
            tokens.append(_Token("cmp", two, col))
            i += 2
        elif ch in "<>":
            tokens.append(_Token("cmp", ch, col))
            i += 1
        elif ch == "=":
            raise where.error(col, "'=' is not a comparison; use '==' or '>='")
        elif ch in "+-*/":
            tokens.append(_Token("op", ch, col))
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch, col))
            i += 1
        elif ch.isdigit() or (ch == "." and text[i + 1 : i + 2].isdigit()):
            match = _NUMBER.match(text, i)
            assert match is not None
            tokens.append(_Token("num", match.group(), col))
            i = match.end()
        elif _NAME_START.match(ch):
            j = i
            while j < n:
                if _NAME_CHAR.match(text[j]):
                    j += 1
                elif text[j] == "[":
                    close = text.find("]", j)
                    if close < 0:
                        raise where.error(j + 1, "'[' is never closed")
                    j = close + 1
                else:
                    break
            tokens.append(_Token("name", text[i:j].rstrip("."), col))
            i = j
        else:
            raise where.error(col, f"unexpected character {ch!r}")
    tokens.append(_Token("end", "", n + 1))
    return tokens


class _Parser:
    """rule := expr CMP expr; expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*;
    unary := '-' unary | atom; atom := NUMBER | NAME | '(' expr ')'."""

    def __init__(self, tokens: list[_Token], where: _Where) -> None:
        self.tokens, self.where, self.pos = tokens, where, 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def _next(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _unexpected(self, wanted: str) -> PolicyError:
        tok = self.tok
        got = "the end of the rule" if tok.kind == "end" else repr(tok.text)
        return self.where.error(tok.col, f"expected {wanted}, got {got}")

    def rule(self) -> tuple[Expr, str, Expr]:
        left = self.expr()
        if self.tok.kind != "cmp":
            raise self._unexpected("a comparison (>=, >, <=, <, ==, !=)")
        op = self._next().text
        right = self.expr()
        if self.tok.kind == "cmp":
            raise self.where.error(self.tok.col, "only one comparison is allowed per rule")
        if self.tok.kind != "end":
            raise self._unexpected("an operator or the end of the rule")
        return left, op, right

    def expr(self) -> Expr:
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            tok = self._next()
            node = Bin(tok.text, node, self.term(), tok.col)
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            tok = self._next()
            node = Bin(tok.text, node, self.unary(), tok.col)
        return node

    def unary(self) -> Expr:
        if self.tok.kind == "op" and self.tok.text == "-":
            tok = self._next()
            return Neg(self.unary(), tok.col)
        return self.atom()

    def atom(self) -> Expr:
        tok = self.tok
        if tok.kind == "num":
            self._next()
            return Num(float(tok.text), tok.col)
        if tok.kind == "name":
            self._next()
            return self._ref(tok)
        if tok.kind == "(":
            self._next()
            node = self.expr()
            if self.tok.kind != ")":
                raise self._unexpected("')'")
            self._next()
            return node
        raise self._unexpected("a number, a metric name or '('")

    def _ref(self, tok: _Token) -> Ref:
        name, champion = tok.text, False
        if name.startswith(CHAMPION_PREFIX):
            name, champion = name[len(CHAMPION_PREFIX) :], True
        elif name == "champion":
            raise self.where.error(tok.col, "'champion' needs a metric: champion.<metric>")
        if not name:
            raise self.where.error(tok.col, "empty metric name")
        group = _GROUP.match(name)
        if name.split("[", 1)[0] in GROUPS and group is None:
            raise self.where.error(
                tok.col, f"{name!r} should read {name.split('[', 1)[0]}[...].<metric>"
            )
        if group is not None and group.group(1) == "slice" and "=" not in group.group(2):
            raise self.where.error(tok.col, f"{name!r}: a slice reads slice[<column>=<value>]")
        return Ref(name, champion, tok.col)


# -- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    """One rule applied: its values, whether it passed, and why.

    ``challenger`` is the value of the left side, ``threshold`` of the right side, ``champion``
    the champion's value of the first ``champion.`` metric in the rule (None when it has none).
    """

    name: str
    rule: str
    passed: bool
    reason: str
    challenger: float | None
    champion: float | None
    threshold: float | None
    values: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rule": self.rule,
            "passed": self.passed,
            "reason": self.reason,
            "challenger": self.challenger,
            "champion": self.champion,
            "threshold": self.threshold,
            "values": dict(self.values),
        }


class _Unavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rule:
    """One parsed rule, with where it came from."""

    text: str
    name: str
    left: Expr
    op: str
    right: Expr
    line: int | None = None
    source: str = "<policy>"

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        name: str | None = None,
        line: int | None = None,
        source: str = "<policy>",
    ) -> Rule:
        """Parse one rule.

        Raises:
            PolicyError: a syntax error, with the line and the column in the rule.
        """
        where = _Where(source, line, text)
        if not text.strip():
            raise where.error(None, "empty rule")
        left, op, right = _Parser(_tokenize(text, where), where).rule()
        return cls(text.strip(), name or text.strip(), left, op, right, line, source)

    @property
    def refs(self) -> list[Ref]:
        return [*refs(self.left), *refs(self.right)]

    @property
    def uses_champion(self) -> bool:
        return any(r.champion for r in self.refs)

    def error(self, col: int | None, message: str) -> PolicyError:
        return _Where(self.source, self.line, self.text).error(col, message)

    def apply(self, challenger: MetricSource, champion: MetricSource | None = None) -> RuleResult:
        """Evaluate the rule; a value that cannot be computed makes it fail with the reason."""
        values: dict[str, float | None] = {}
        for ref in self.refs:
            source = champion if ref.champion else challenger
            values[ref.text] = None if source is None else _clean(source.lookup(ref.name))
        champ = next((values[r.text] for r in self.refs if r.champion), None)
        left = right = None
        try:
            left = _value(self.left, values)
            right = _value(self.right, values)
        except _Unavailable as exc:
            return RuleResult(self.name, self.text, False, exc.reason, left, champ, right, values)
        passed = COMPARISONS[self.op](left, right)
        shown = f"{_fmt(left)} {self.op} {_fmt(right)}"
        reason = shown if passed else f"{shown} is false"
        return RuleResult(self.name, self.text, passed, reason, left, champ, right, values)


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _missing_reason(ref: Ref) -> str:
    owner = "the champion" if ref.champion else "the challenger"
    group = _GROUP.match(ref.name)
    if group is not None and group.group(1) == "slice":
        return f"{ref.text}: no rows in slice [{group.group(2)}] for {owner}"
    return f"{ref.text}: not available for {owner}"


def _value(expr: Expr, values: Mapping[str, float | None]) -> float:
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        found = values.get(expr.text)
        if found is None:
            raise _Unavailable(_missing_reason(expr))
        return found
    if isinstance(expr, Neg):
        return -_value(expr.operand, values)
    left, right = _value(expr.left, values), _value(expr.right, values)
    if expr.op == "+":
        return left + right
    if expr.op == "-":
        return left - right
    if expr.op == "*":
        return left * right
    if right == 0:
        raise _Unavailable("division by zero")
    return left / right


# -- policies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatePolicy:
    """A list of rules, all of which must pass.

    Example::

        policy = GatePolicy.from_rules(["accuracy >= 0.85", "accuracy >= champion.accuracy"])
        policy.uses_champion  # True
    """

    rules: tuple[Rule, ...]
    source: str = "<policy>"

    @classmethod
    def from_rules(
        cls, rules: Sequence[str | Mapping[str, Any]], *, source: str = "<policy>"
    ) -> GatePolicy:
        """A policy from rule strings or ``{"rule": ..., "name": ...}`` mappings."""
        parsed: list[Rule] = []
        for i, item in enumerate(rules, start=1):
            if isinstance(item, str):
                parsed.append(Rule.parse(item, source=f"{source} rule {i}"))
            elif isinstance(item, Mapping):
                text, name = item.get("rule"), item.get("name")
                if not isinstance(text, str) or (name is not None and not isinstance(name, str)):
                    raise PolicyError(f"{source} rule {i}: expected rule: <text> and name: <text>")
                parsed.append(Rule.parse(text, name=name, source=f"{source} rule {i}"))
            else:
                raise PolicyError(f"{source} rule {i}: expected a string, got {item!r}")
        return cls._checked(tuple(parsed), source)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<policy>") -> GatePolicy:
        """Parse a policy's YAML; errors name the line and the column in the rule.

        Read with the shared YAML-with-lines loader (:mod:`mloop._core._yaml`), so a key given
        twice is refused too.

        Raises:
            PolicyError: malformed YAML, a missing ``rules`` list, a rule that does not parse.
        """
        data, lines = load_yaml_with_lines(text, source=source, error=PolicyError)
        if not isinstance(data, dict):
            raise PolicyError(f"{source}: expected a mapping with a 'rules' list")
        for key in data:
            if key != "rules":
                raise PolicyError(
                    f"{source} line {lines[(key,)]}: unknown key {key!r}; a policy has only 'rules'"
                )
        items = data.get("rules")
        if not isinstance(items, list) or not items:
            at = f" line {lines[('rules',)]}" if "rules" in data else ""
            raise PolicyError(f"{source}{at}: 'rules' must be a non-empty list of rules")
        rules: list[Rule] = []
        for i, item in enumerate(items):
            line = lines[("rules", i)]
            if not isinstance(item, dict | list):
                rules.append(Rule.parse(_scalar_text(item), line=line, source=source))
                continue
            if not isinstance(item, dict):
                raise PolicyError(f"{source} line {line}: expected a rule string or a mapping")
            fields: dict[str, tuple[str, int]] = {}
            for key, value in item.items():
                key_line = lines[("rules", i, key)]
                if key not in _RULE_KEYS:
                    raise PolicyError(
                        f"{source} line {key_line}: unknown key {key!r} "
                        f"in a rule; expected {', '.join(_RULE_KEYS)}"
                    )
                if isinstance(value, dict | list):
                    raise PolicyError(f"{source} line {key_line}: {key!r} must be text")
                fields[key] = (_scalar_text(value), key_line)
            if "rule" not in fields:
                raise PolicyError(f"{source} line {line}: a rule mapping needs 'rule: <text>'")
            text, rule_line = fields["rule"]
            name = fields["name"][0] if "name" in fields else None
            rules.append(Rule.parse(text, name=name, line=rule_line, source=source))
        return cls._checked(tuple(rules), source)

    @classmethod
    def _checked(cls, rules: tuple[Rule, ...], source: str) -> GatePolicy:
        if not rules:
            raise PolicyError(f"{source}: the policy has no rules")
        seen: dict[str, Rule] = {}
        for rule in rules:
            if rule.name in seen:
                raise rule.error(None, f"the rule name {rule.name!r} is used twice")
            seen[rule.name] = rule
        return cls(rules, source)

    @property
    def uses_champion(self) -> bool:
        return any(rule.uses_champion for rule in self.rules)

    @property
    def needs_latency(self) -> bool:
        """A rule names a latency metric (``p99_latency_ms``): worth measuring it."""
        return any("latency" in ref.name for rule in self.rules for ref in rule.refs)

    def slice_columns(self) -> list[str]:
        """The columns named by ``slice[col=value]`` references, in order of first use."""
        return self._group_columns("slice")

    def sensitive_columns(self) -> list[str]:
        """The columns named by ``fairness[col]`` references, in order of first use."""
        return self._group_columns("fairness")

    def _group_columns(self, kind: str) -> list[str]:
        found: dict[str, None] = {}
        for rule in self.rules:
            for ref in rule.refs:
                group = _GROUP.match(ref.name)
                if group is not None and group.group(1) == kind:
                    found[group.group(2).split("=", 1)[0].strip()] = None
        return list(found)

    def require_champion(self, available: bool, *, why: str = "no champion was given") -> None:
        """Raise unless a champion is available for rules that use ``champion.``.

        Raises:
            PolicyError: pointing at the first ``champion.`` reference.
        """
        if available:
            return
        for rule in self.rules:
            for ref in rule.refs:
                if ref.champion:
                    raise rule.error(ref.col, f"{ref.text!r} needs a champion, but {why}")

    def check_names(self, *sources: MetricSource | Collection[str]) -> None:
        """Raise for a metric name no evaluation offers, with a "did you mean".

        ``sources`` are evaluation results (their ``metrics`` keys count as known) or
        collections of metric names. Within a group the known names are: for ``slice[...]``
        the metrics and ``n_rows``; for ``fairness[...]`` the fairness names and
        ``selection_rate[<group>]``; for ``class[...]`` precision, recall, f1 and support. A
        known name whose value is missing (an empty slice) is no error here: the rule fails.

        Raises:
            PolicyError: with the line and the column of the unknown name.
        """
        metrics: set[str] = set()
        for source in sources:
            if hasattr(source, "metrics"):
                metrics.update(str(k) for k in source.metrics)
            else:
                metrics.update(str(k) for k in source)
        known = {
            None: metrics | set(FAIRNESS_NAMES),
            "slice": metrics | {"n_rows"},
            "fairness": set(FAIRNESS_NAMES) | {"selection_rate"},
            "class": set(CLASS_METRICS),
        }
        for rule in self.rules:
            for ref in rule.refs:
                group = _GROUP.match(ref.name)
                kind = group.group(1) if group is not None else None
                tail = group.group(3) if group is not None else ref.name
                base = tail.split("[", 1)[0] if kind == "fairness" else tail
                if base in known[kind]:
                    continue
                close = difflib.get_close_matches(base, sorted(known[kind]), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                col = ref.col + (len(ref.text) - len(tail))
                raise rule.error(col, f"unknown metric {base!r}{hint}")

    def apply(
        self, challenger: MetricSource, champion: MetricSource | None = None
    ) -> list[RuleResult]:
        """Every rule applied, in order."""
        return [rule.apply(challenger, champion) for rule in self.rules]


def load_gate_policy(
    policy: GatePolicy | str | Path | Sequence[str | Mapping[str, Any]],
) -> GatePolicy:
    """A :class:`GatePolicy` from a YAML file, a list of rules, or a policy (returned as is).

    Example::

        policy = load_gate_policy("gate.yaml")

    Raises:
        PolicyError: the file is missing, not valid YAML, or a rule does not parse.
    """
    if isinstance(policy, GatePolicy):
        return policy
    if isinstance(policy, str | Path):
        path = Path(policy)
        if not path.is_file():
            raise PolicyError(f"{path}: no such policy file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path}: cannot read it: {exc}") from exc
        return GatePolicy.from_yaml(text, source=str(path))
    return GatePolicy.from_rules(policy)


#: The former name of :func:`load_gate_policy`, kept as an alias (``mloop.serve`` has a
#: ``load_policy`` of its own, for deploy policies: :func:`mloop.serve.load_deploy_policy`).
load_policy = load_gate_policy
