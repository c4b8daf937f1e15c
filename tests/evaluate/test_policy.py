"""The gate rule language: parsing, precedence, errors with line and column, evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from mloop.errors import InvalidArgument, PolicyError
from mloop.evaluate._policy import Bin, GatePolicy, Neg, Num, Ref, Rule, load_policy


class Metrics:
    """A stand-in for ``EvaluationResult``: only ``metrics`` and ``lookup``, for unit tests."""

    def __init__(self, metrics: Mapping[str, float], extra: Mapping[str, float | None] = {}):
        self.metrics = dict(metrics)
        self.extra = dict(extra)

    def lookup(self, name: str) -> float | None:
        if name in self.extra:
            return self.extra[name]
        return self.metrics.get(name)


POLICY = """\
rules:
  - accuracy >= 0.85
  - accuracy >= champion.accuracy - 0.01
  - p99_latency_ms <= 20
  - slice[region=eu].recall >= 0.7
  - rule: roc_auc >= champion.roc_auc
    name: no AUC regression
"""


def test_parses_a_policy_with_lines_names_and_slices() -> None:
    policy = GatePolicy.from_yaml(POLICY, source="gate.yaml")
    assert [r.line for r in policy.rules] == [2, 3, 4, 5, 6]
    assert policy.rules[4].name == "no AUC regression"
    assert policy.rules[0].name == "accuracy >= 0.85"
    assert policy.uses_champion
    assert policy.slice_columns() == ["region"]
    assert policy.rules[1].right == Bin("-", Ref("accuracy", True, 13), Num(0.01, 33), 31)


def test_precedence_and_parentheses() -> None:
    rule = Rule.parse("a + b * 2 >= -(c - 1) / 4")
    assert rule.left == Bin("+", Ref("a", False, 1), Bin("*", Ref("b", False, 5), Num(2, 9), 7), 3)
    assert isinstance(rule.right, Bin) and rule.right.op == "/"
    assert isinstance(rule.right.left, Neg)
    values = Metrics({"a": 1, "b": 2, "c": 5})
    result = rule.apply(values)
    assert result.challenger == 5 and result.threshold == -1 and result.passed
    # Left-associative: 8 - 2 - 1 is 5, not 7; 8 / 2 / 2 is 2.
    assert Rule.parse("8 - 2 - 1 == 5").apply(values).passed
    assert Rule.parse("8 / 2 / 2 == 2").apply(values).passed


@pytest.mark.parametrize(
    ("text", "passes"),
    [
        ("accuracy >= 0.9", True),
        ("accuracy > 0.9", False),
        ("accuracy <= 0.9", True),
        ("accuracy < 0.9", False),
        ("accuracy == 0.9", True),
        ("accuracy != 0.9", False),
        ("accuracy >= champion.accuracy - 0.01", True),
        ("accuracy >= champion.accuracy + 0.01", False),
        ("1e-1 * 9 == .9", True),
    ],
)
def test_comparisons(text: str, passes: bool) -> None:
    result = Rule.parse(text).apply(Metrics({"accuracy": 0.9}), Metrics({"accuracy": 0.895}))
    assert result.passed is passes, result.reason


def test_rule_result_has_values_and_reason() -> None:
    rule = Rule.parse("accuracy >= champion.accuracy - 0.01", name="no regression")
    result = rule.apply(Metrics({"accuracy": 0.8}), Metrics({"accuracy": 0.9}))
    assert not result.passed
    assert result.challenger == 0.8 and result.champion == 0.9
    assert result.threshold == pytest.approx(0.89)
    assert result.values == {"accuracy": 0.8, "champion.accuracy": 0.9}
    assert result.reason == "0.8 >= 0.89 is false"
    assert result.to_dict()["name"] == "no regression"


def test_an_empty_slice_fails_with_no_rows() -> None:
    challenger = Metrics({"recall": 0.9}, {"slice[region=eu].recall": None})
    result = Rule.parse("slice[region=eu].recall >= 0.7").apply(challenger)
    assert not result.passed
    assert "no rows" in result.reason and "region=eu" in result.reason


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("roc_auc >= 0.5", "roc_auc: not available for the challenger"),
        ("accuracy >= champion.roc_auc", "champion.roc_auc: not available for the champion"),
        ("accuracy / (accuracy - accuracy) >= 1", "division by zero"),
        ("nan_metric >= 0", "not available"),
    ],
)
def test_unavailable_values_fail(text: str, needle: str) -> None:
    values = Metrics({"accuracy": 0.9, "nan_metric": float("nan")})
    result = Rule.parse(text).apply(values, Metrics({"accuracy": 0.9}))
    assert not result.passed
    assert needle in result.reason


@pytest.mark.parametrize(
    ("rule", "col", "message"),
    [
        ("accuracy >= (0.85", 18, "expected ')', got the end of the rule"),
        ("accuracy 0.85", 10, "expected a comparison"),
        ("accuracy = 0.85", 10, "'=' is not a comparison"),
        ("accuracy >= 0.85 >= 0.1", 18, "only one comparison"),
        ("accuracy >= ", 13, "expected a number, a metric name or '('"),
        ("accuracy >= 0.8 $", 17, "unexpected character '$'"),
        ("accuracy >= 0.8 0.9", 17, "expected an operator or the end of the rule"),
        ("slice[region=eu.recall >= 1", 6, "'[' is never closed"),
        ("slice[region].recall >= 1", 1, "slice[<column>=<value>]"),
        ("champion >= 1", 1, "champion.<metric>"),
    ],
)
def test_syntax_errors_name_the_line_and_column(rule: str, col: int, message: str) -> None:
    text = f"# policy\nrules:\n  - accuracy >= 0.5\n  - '{rule}'\n"
    with pytest.raises(PolicyError) as info:
        GatePolicy.from_yaml(text, source="gate.yaml")
    assert isinstance(info.value, InvalidArgument)
    assert message in info.value.message
    assert info.value.message.startswith(f"gate.yaml line 4, column {col}:")
    assert info.value.details["line"] == 4 and info.value.details["column"] == col
    # The rule and a caret under the column follow on the next lines.
    _, shown, caret = info.value.message.splitlines()
    assert shown.strip() == rule.strip() and caret.index("^") - 2 == col - 1


@pytest.mark.parametrize(
    ("rule", "col", "message"),
    [
        ("acuracy >= 0.8", 1, "unknown metric 'acuracy'; did you mean 'accuracy'?"),
        ("accuracy >= champion.acuracy", 22, "unknown metric 'acuracy'; did you mean"),
        ("slice[region=eu].recal >= 0.7", 18, "unknown metric 'recal'; did you mean 'recall'?"),
        ("fairness[sex].dpd >= 0", 15, "unknown metric 'dpd'"),
        ("class[1].f2 >= 0", 10, "unknown metric 'f2'"),
    ],
)
def test_unknown_metrics_are_errors_with_a_suggestion(rule: str, col: int, message: str) -> None:
    policy = GatePolicy.from_yaml(f"rules:\n  - accuracy >= 0\n  - {rule}\n", source="g.yaml")
    with pytest.raises(PolicyError, match=rf"^g\.yaml line 3, column {col}: {message}"):
        policy.check_names(Metrics({"accuracy": 1.0, "recall": 1.0}))


def test_known_group_metrics_pass_the_name_check() -> None:
    policy = GatePolicy.from_rules(
        [
            "slice[region=eu].recall >= 0.7",
            "slice[region=eu].n_rows >= 10",
            "fairness[sex].demographic_parity_difference <= 0.1",
            "fairness[sex].selection_rate[F] >= 0.2",
            "demographic_parity_difference <= 0.1",
            "class[yes].f1 >= 0.5",
        ]
    )
    policy.check_names(Metrics({"recall": 1.0}), ["accuracy"])
    assert policy.sensitive_columns() == ["sex"]
    assert policy.slice_columns() == ["region"]


def test_champion_rules_need_a_champion() -> None:
    policy = GatePolicy.from_yaml("rules:\n  - a >= 1\n  - a >= champion.a\n", source="g.yaml")
    policy.require_champion(True)
    with pytest.raises(PolicyError, match=r"line 3, column 6: 'champion.a' needs a champion"):
        policy.require_champion(False)
    GatePolicy.from_rules(["a >= 1"]).require_champion(False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [\n", "not valid YAML"),
        ("- a >= 1\n", "expected a mapping with a 'rules' list"),
        ("rules: []\n", "'rules' must be a non-empty list"),
        ("rule:\n  - a >= 1\n", "line 1: unknown key 'rule'"),
        ("rules:\n  - a >= 1\n  - name: x\n", "line 3: a rule mapping needs 'rule: <text>'"),
        ("rules:\n  - rule: a >= 1\n    when: x\n", "line 3: unknown key 'when'"),
        ("rules:\n  - a >= 1\n  - [a]\n", "line 3: expected a rule string or a mapping"),
        ("rules:\n  - a >= 1\n  - a >= 1\n", "the rule name 'a >= 1' is used twice"),
        ("rules:\n  - ''\n", "empty rule"),
        # the shared YAML loader: a key given twice names both lines
        (
            "rules:\n  - a >= 1\nrules:\n  - b >= 1\n",
            "line 3: key 'rules' is given twice \\(first on line 1\\)",
        ),
        ("rules:\n  - rule: a >= 1\n    rule: b >= 1\n", "line 3: key 'rule' is given twice"),
    ],
)
def test_malformed_policies(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        GatePolicy.from_yaml(text, source="g.yaml")


def test_load_policy_from_a_file_a_list_or_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(POLICY)
    policy = load_policy(path)
    assert policy.source == str(path) and len(policy.rules) == 5
    assert load_policy(policy) is policy
    listed = load_policy(["a >= 1", {"rule": "b >= 2", "name": "bee"}])
    assert [r.name for r in listed.rules] == ["a >= 1", "bee"]
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="rule 1, column 4"):
        load_policy(["a >"])


def test_load_gate_policy_and_its_former_name() -> None:
    import mloop.evaluate

    assert mloop.evaluate.load_policy is mloop.evaluate.load_gate_policy
    policy = mloop.evaluate.load_gate_policy(["accuracy >= 0.5"])
    assert [r.name for r in policy.rules] == ["accuracy >= 0.5"]
