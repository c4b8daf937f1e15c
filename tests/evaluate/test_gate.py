"""``gate`` and ``promote`` end to end: real scikit-learn models in a real registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from mloop.errors import InvalidArgument, PolicyError
from mloop.evaluate import gate, promote
from mloop.evaluate._promote import GATE_TAG
from mloop.registry import Registry

if TYPE_CHECKING:
    from conftest import BrowserPage

POLICY = """\
rules:
  - accuracy >= 0.8
  - rule: accuracy >= champion.accuracy - 0.01
    name: no accuracy regression
  - slice[region=eu].recall_macro >= 0.7
"""


def gate_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "region": rng.choice(["eu", "us"], size=n),
            "gender": rng.choice(["f", "m"], size=n),
        }
    )
    frame["y"] = (frame["x1"] + 0.2 * frame["x2"] > 0).astype(int)
    return frame


@dataclass
class Models:
    data: pd.DataFrame
    good: str  # a model folder that learned the labels
    bad: str  # one fitted on shuffled labels
    policy: Path
    home: Path


@pytest.fixture
def models(mloop_home: Path, tmp_path: Path) -> Models:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    data = gate_frame()
    x = data[["x1", "x2"]]
    shuffled = np.random.default_rng(1).permutation(data["y"].to_numpy())
    good = mloop.models.save(
        LogisticRegression().fit(x, data["y"]), tmp_path / "good", input_example=x.head(3)
    )
    bad = mloop.models.save(
        LogisticRegression().fit(x, shuffled), tmp_path / "bad", input_example=x.head(3)
    )
    policy = tmp_path / "gate.yaml"
    policy.write_text(POLICY)
    return Models(data, good.model_uri, bad.model_uri, policy, mloop_home)


def registered(models: Models, champion: str | None, challenger: str) -> Registry:
    registry = Registry()
    if champion is not None:
        v = registry.register_model(champion, "churn")
        registry.set_alias("churn", "champion", v.version)
    v = registry.register_model(challenger, "churn")
    registry.set_alias("churn", "challenger", v.version)
    return registry


def test_gate_passes_a_better_challenger(models: Models) -> None:
    result = gate(
        models.good, models.data, models.policy, champion_uri=models.bad, target="y", log=False
    )
    assert result.passed, result.to_markdown()
    assert [r.passed for r in result.rules] == [True, True, True]
    rule = result.rules[1]
    assert rule.name == "no accuracy regression"
    assert rule.challenger == result.challenger.metrics["accuracy"]
    assert rule.champion == result.champion.metrics["accuracy"]  # type: ignore[union-attr]
    assert rule.threshold == pytest.approx(rule.champion - 0.01)  # type: ignore[operator]
    # The slice the rules name was evaluated without being asked for.
    assert "region" in result.challenger.slices
    body = result.to_dict()
    assert body["passed"] is True and len(body["rules"]) == 3
    markdown = result.to_markdown()
    assert "✅ Model gate passed: 3 of 3 rules passed" in markdown
    assert "| ✅ | **no accuracy regression**: `accuracy >= champion.accuracy - 0.01` |" in markdown


def test_gate_fails_a_worse_challenger_and_reports_each_rule(models: Models) -> None:
    result = gate(
        models.bad, models.data, models.policy, champion_uri=models.good, target="y", log=False
    )
    assert not result.passed
    assert [r.passed for r in result.rules][:2] == [False, False]
    assert "is false" in result.rules[0].reason
    assert "❌ Model gate failed" in result.to_markdown()


def test_an_empty_slice_fails_the_gate(models: Models) -> None:
    result = gate(
        models.good, models.data, ["slice[region=apac].accuracy >= 0"], target="y", log=False
    )
    assert not result.passed
    assert "no rows" in result.rules[0].reason


def test_policy_errors_come_before_any_evaluation(models: Models) -> None:
    with pytest.raises(PolicyError, match="needs a champion, but no champion was given"):
        gate("/no/such/model", models.data, models.policy, target="y", log=False)
    with pytest.raises(PolicyError, match="unknown metric 'acuracy'; did you mean 'accuracy'"):
        gate(models.good, models.data, ["acuracy >= 0.5"], target="y", log=False)


def test_html_report_embeds_both_evaluations(models: Models) -> None:
    result = gate(
        models.good, models.data, models.policy, champion_uri=models.bad, target="y", log=False
    )
    page = result.to_html()
    assert page.startswith("<!doctype html>")
    assert "Model gate passed" in page and "no accuracy regression" in page
    assert page.count("<iframe") == 2


@pytest.mark.slow
def test_html_report_renders_in_chromium(
    models: Models, tmp_path: Path, browser_page: BrowserPage
) -> None:
    result = gate(
        models.bad, models.data, models.policy, champion_uri=models.good, target="y", log=False
    )
    assert not result.passed
    path = tmp_path / "gate.html"
    path.write_text(result.to_html(), encoding="utf-8")
    page = browser_page.open(path)

    assert page.title() == f"Model gate: {models.bad}"
    headline = page.locator("h1")
    passed = sum(r.passed for r in result.rules)
    assert headline.inner_text() == f"❌ Model gate failed: {passed} of 3 rules passed"
    assert headline.get_attribute("class") == "fail"
    # One row per rule, marked as the result says, in the result's order.
    rows = page.locator("table").first.locator("tr.pass, tr.fail")
    assert rows.count() == len(result.rules)
    for row, rule in zip(rows.all(), result.rules, strict=True):
        assert row.get_attribute("class") == ("pass" if rule.passed else "fail")
        assert row.locator("td").nth(1).inner_text() == rule.name
    failed = page.locator("tr.fail td:nth-child(2)").all_inner_texts()
    assert "no accuracy regression" in failed
    # Both evaluations render inside their frames, each naming its model and its metrics.
    for title, uri in (("Challenger", models.bad), ("Champion", models.good)):
        frame = page.frame_locator(f'iframe[title="{title} evaluation"]')
        assert uri in frame.locator("h1").inner_text()
        assert frame.locator("h2", has_text="Metrics").count() == 1
        assert frame.locator("td", has_text="accuracy").count() >= 1
    assert browser_page.requests == [path.resolve().as_uri()]
    assert browser_page.console == []


def history(registry: Registry) -> list[tuple[str, object, str]]:
    return [(e.action, e.after, e.reason) for e in registry.history("churn")]


def test_promote_moves_the_alias_when_the_gate_passes(models: Models) -> None:
    registry = registered(models, champion=models.bad, challenger=models.good)
    result = promote(
        "churn", data=models.data, target="y", policy=models.policy, registry=registry, log=False
    )
    assert result.passed
    assert result.promotion is not None and result.promotion.moved and not result.promotion.forced
    assert registry.resolve("models:/churn@champion").version == 2
    action, after, reason = history(registry)[-1]
    assert action == "set_alias" and after == {"alias": "champion", "version": 2}
    assert reason.startswith("gate passed") and "Model gate passed" in reason
    assert "Model gate passed" in registry.resolve("models:/churn/2").tags[GATE_TAG]


def test_promote_refuses_a_worse_challenger_and_audits_the_failed_gate(models: Models) -> None:
    registry = registered(models, champion=models.good, challenger=models.bad)
    result = promote(
        "churn", data=models.data, target="y", policy=models.policy, registry=registry, log=False
    )
    assert not result.passed
    assert result.promotion is not None and not result.promotion.moved
    assert registry.resolve("models:/churn@champion").version == 1
    action, after, _ = history(registry)[-1]
    assert action == "set_version_tag"
    assert isinstance(after, dict) and "Model gate failed" in after[GATE_TAG]


def test_force_moves_the_alias_with_the_override_audited(models: Models) -> None:
    registry = registered(models, champion=models.good, challenger=models.bad)
    with pytest.raises(InvalidArgument, match="--force needs a --reason"):
        promote("churn", data=models.data, target="y", policy=models.policy, force=True)
    result = promote(
        "churn",
        data=models.data,
        target="y",
        policy=models.policy,
        force=True,
        reason="hotfix for incident 42",
        registry=registry,
        log=False,
    )
    assert not result.passed
    assert result.promotion is not None and result.promotion.moved and result.promotion.forced
    assert registry.resolve("models:/churn@champion").version == 2
    action, _, reason = history(registry)[-1]
    assert action == "set_alias"
    assert reason.startswith("FORCED: hotfix for incident 42") and "Model gate failed" in reason


def test_promote_without_a_champion_yet(models: Models) -> None:
    registry = registered(models, champion=None, challenger=models.good)
    with pytest.raises(PolicyError, match="churn@champion does not exist yet"):
        promote("churn", data=models.data, target="y", policy=models.policy, registry=registry)
    # Rules without champion references promote the first champion.
    result = promote(
        "churn",
        data=models.data,
        target="y",
        policy=["accuracy >= 0.8"],
        registry=registry,
        log=False,
    )
    assert result.promotion is not None and result.promotion.moved
    assert registry.resolve("models:/churn@champion").version == 1


@pytest.mark.slow
def test_the_example_policy_runs(models: Models) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "ci" / "gate.yaml"
    result = gate(models.good, models.data, example, champion_uri=models.bad, target="y", log=False)
    assert len(result.rules) == 6
    assert "gender" in result.challenger.fairness
    assert all(r.challenger is not None for r in result.rules), result.to_markdown()
