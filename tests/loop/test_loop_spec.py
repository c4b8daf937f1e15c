"""loop.yaml: what validates, and mistakes named by line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mloop.errors import InvalidLoop
from mloop.loop import load_loop, parse_duration

GOOD = """\
name: churn
model: churn
monitor:
  every: 10m
  window: 1h
  reference: training
  drift: {share: 0.3, method: psi}
  performance: {metric: roc_auc, min_labels: 200, max_drop: 0.05}
  estimated: true
retrain:
  pipeline: flows/churn.py:train
  params: {window_days: 7}
  on: [drift, performance, schedule]
  schedule: 7d
  cooldown: 6h
gate: {policy: gate.yaml}
rollout:
  steps: [10, 50, 100]
  hold: 15m
  analysis:
    - error_rate <= champion.error_rate + 0.01
    - p99_latency_ms <= 1.2 * champion.p99_latency_ms
  on_fail: rollback
alerts:
  - webhook: https://hooks.example/ml
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loop.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_example_validates(tmp_path: Path) -> None:
    spec = load_loop(_write(tmp_path, GOOD))
    assert spec.name == "churn"
    assert spec.monitor.every_ms == 600_000
    assert spec.monitor.window_ms == 3_600_000
    assert spec.monitor.drift == {"share": 0.3, "method": "psi"}
    assert spec.monitor.performance is not None and spec.monitor.performance.min_labels == 200
    assert spec.retrain is not None
    assert spec.retrain.on == ["drift", "performance", "schedule"]
    assert (spec.retrain.cooldown_ms, spec.retrain.schedule_ms) == (21_600_000, 604_800_000)
    assert spec.rollout.steps == [10, 50, 100]
    assert spec.rollout.hold_ms == 900_000
    assert spec.alerts[0].webhook == "https://hooks.example/ml"
    assert spec.path("gate.yaml") == tmp_path / "gate.yaml"
    # What is stored with the loop's state reads back as the same spec.
    assert load_loop(spec.to_json()).rollout == spec.rollout


def test_mistakes_are_named_by_line_and_column(tmp_path: Path) -> None:
    text = GOOD.replace("  hold: 15m", "  hold: soon\n  colour: red").replace(
        "  window: 1h", "  window: 1h\n  drift_share: 0.3"
    )
    with pytest.raises(InvalidLoop) as err:
        load_loop(_write(tmp_path, text))
    message = str(err.value)
    assert "line 6 column 3: monitor.drift_share: unknown key" in message
    assert "line 20 column 3: rollout.hold: expected a duration such as 30s" in message
    assert "line 21 column 3: rollout.colour: unknown key" in message
    lines = [e["line"] for e in err.value.details["errors"]]
    assert lines == sorted(lines) or len(lines) == 3


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("  steps: [10, 50, 100]", "  steps: [50, 10, 100]"), "steps must increase"),
        (("  steps: [10, 50, 100]", "  steps: [10, 50]"), "the last step must be 100"),
        (("gate: {policy: gate.yaml}\n", ""), "'retrain' needs a 'gate'"),
        (("  schedule: 7d\n", ""), "'on' lists schedule"),
        (("pipeline: flows/churn.py:train", "pipeline: flows/churn.py"), "<file.py or module>"),
        (("{share: 0.3, method: psi}", "{share: 0.3, bins: 9}"), "unknown drift option(s) 'bins'"),
        (("webhook: https://hooks.example/ml", "webhook: hooks.example"), "http(s):// URL"),
        (("  on: [drift, performance, schedule]", "  on: [drift, moon]"), "monitor.on"),
        (("name: churn", "name: 'no spaces'"), "a loop name"),
        (("  window: 1h", "  window: 1h\n  retention: 30m"), "retention must be at least"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    text = GOOD.replace(old, new)
    if expected == "monitor.on":
        expected = "retrain.on[1]"
    with pytest.raises(InvalidLoop, match=re.escape(expected)):
        load_loop(_write(tmp_path, text))


def test_not_yaml_and_missing_files_and_repeated_keys(tmp_path: Path) -> None:
    with pytest.raises(InvalidLoop, match="does not exist"):
        load_loop(tmp_path / "nope.yaml")
    with pytest.raises(InvalidLoop, match="line 3 column 1: not valid YAML"):
        load_loop(_write(tmp_path, "name: a\nmodel: [b\n"))
    with pytest.raises(InvalidLoop, match="key 'name' is given twice"):
        load_loop(_write(tmp_path, "name: a\nname: b\n"))
    with pytest.raises(InvalidLoop, match="a required key is missing"):
        load_loop(_write(tmp_path, "name: a\n"))


def test_durations() -> None:
    assert parse_duration("250ms") == 250
    assert parse_duration("1.5h") == 5_400_000
    assert parse_duration(30) == 30_000
    for bad in ("soon", "-1m", 0, True):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_retrain_runs_land_in_the_loop_experiment_by_default(tmp_path: Path) -> None:
    assert load_loop(_write(tmp_path, GOOD)).experiment_name == "churn"
    named = load_loop(
        _write(tmp_path, GOOD.replace("model: churn\n", "model: churn\nexperiment: x\n"))
    )
    assert (named.experiment, named.experiment_name) == ("x", "x")
    with pytest.raises(InvalidLoop, match="experiment"):
        load_loop(
            _write(tmp_path, GOOD.replace("model: churn\n", "model: churn\nexperiment: ''\n"))
        )


def test_engines_default_to_local_and_the_cli_sets_both(tmp_path: Path) -> None:
    spec = load_loop(_write(tmp_path, GOOD))
    assert spec.retrain is not None
    assert (spec.monitor.engine, spec.retrain.engine) == ("local", "local")
    on_ray = spec.with_engine("ray")
    assert on_ray.retrain is not None
    assert (on_ray.monitor.engine, on_ray.retrain.engine) == ("ray", "ray")
    assert spec.monitor.engine == "local"  # a copy
    assert load_loop(on_ray.to_json()).monitor.engine == "ray"
    text = GOOD.replace("  estimated: true", "  estimated: true\n  engine: spark")
    with pytest.raises(InvalidLoop, match=re.escape("line 10 column 3: monitor.engine: Input")):
        load_loop(_write(tmp_path, text))
