"""``mloop gate`` and ``mloop promote``: exit codes for CI, reports, the registry afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

Cli = Any  # the `cli` fixture of tests/cli/conftest.py

POLICY = """\
rules:
  - accuracy >= 0.8
  - rule: accuracy >= champion.accuracy - 0.01
    name: no accuracy regression
"""


@dataclass
class Setup:
    data: Path
    good: str
    bad: str
    policy: Path


@pytest.fixture
def setup(cli: Cli, tmp_path: Path) -> Setup:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    frame["y"] = (frame["x1"] > 0).astype(int)
    x = frame[["x1", "x2"]]
    good = mloop.models.save(
        LogisticRegression().fit(x, frame["y"]), tmp_path / "good", input_example=x.head(3)
    )
    inverted = 1 - frame["y"]
    bad = mloop.models.save(
        LogisticRegression().fit(x, inverted), tmp_path / "bad", input_example=x.head(3)
    )
    data = tmp_path / "test.csv"
    frame.to_csv(data, index=False)
    policy = tmp_path / "gate.yaml"
    policy.write_text(POLICY)
    return Setup(data, str(good.model_uri), str(bad.model_uri), policy)


def gate_args(setup: Setup, challenger: str, champion: str, *extra: str) -> list[str]:
    return [
        "gate",
        "--challenger",
        challenger,
        "--champion",
        champion,
        "--data",
        str(setup.data),
        "--target",
        "y",
        "--policy",
        str(setup.policy),
        *extra,
    ]


def test_gate_exits_0_on_pass_and_writes_reports(cli: Cli, setup: Setup, tmp_path: Path) -> None:
    md, page = tmp_path / "gate.md", tmp_path / "gate.html"
    r = cli(*gate_args(setup, setup.good, setup.bad, "--markdown", str(md), "--html", str(page)))
    assert r.exit_code == 0, r.output
    assert "gate passed: 2 of 2 rules passed" in r.stdout
    assert "no accuracy regression" in r.stdout
    assert "✅ Model gate passed" in md.read_text()
    assert page.read_text().startswith("<!doctype html>")


def test_gate_exits_1_on_fail_with_json(cli: Cli, setup: Setup) -> None:
    r = cli(*gate_args(setup, setup.bad, setup.good, "--json"))
    assert r.exit_code == 1, r.output
    body = json.loads(r.stdout)
    assert body["passed"] is False
    assert [rule["passed"] for rule in body["rules"]] == [False, False]


def test_gate_exits_2_on_errors(cli: Cli, setup: Setup, tmp_path: Path) -> None:
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text("rules:\n  - accuracy >= (0.8\n")
    r = cli(*gate_args(setup, setup.good, setup.bad)[:-1], str(bad_policy))
    assert r.exit_code == 2
    assert "line 2, column 17: expected ')'" in r.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("rules:\n  - acuracy >= 0.8\n")
    r = cli(*gate_args(setup, setup.good, setup.bad)[:-1], str(unknown))
    assert r.exit_code == 2 and "did you mean 'accuracy'" in r.stderr
    r = cli(*gate_args(setup, str(tmp_path / "nope"), setup.bad))
    assert r.exit_code == 2 and "error:" in r.stderr
    r = cli(*gate_args(setup, setup.good, setup.bad, "--data", str(tmp_path / "none.csv")))
    assert r.exit_code == 2 and "no such file" in r.stderr


def promote_args(setup: Setup, *extra: str) -> list[str]:
    return [
        "promote",
        "churn",
        "--data",
        str(setup.data),
        "--target",
        "y",
        "--policy",
        str(setup.policy),
        *extra,
    ]


def register(cli: Cli, champion: str, challenger: str) -> None:
    for source in (champion, challenger):
        r = cli("models", "register", source, "churn")
        assert r.exit_code == 0, r.output
    for alias, version in (("champion", "1"), ("challenger", "2")):
        r = cli("models", "alias", "churn", alias, version)
        assert r.exit_code == 0, r.output


def champion_version(cli: Cli) -> int:
    r = cli("models", "show", "churn", "--json")
    return int(json.loads(r.stdout)["aliases"]["champion"])


def test_promote_moves_a_better_challenger(cli: Cli, setup: Setup) -> None:
    register(cli, setup.bad, setup.good)
    r = cli(*promote_args(setup))
    assert r.exit_code == 0, r.output
    assert "churn@champion moved to v2" in r.stdout
    assert champion_version(cli) == 2


def test_promote_refuses_a_worse_one_and_force_needs_a_reason(cli: Cli, setup: Setup) -> None:
    register(cli, setup.good, setup.bad)
    r = cli(*promote_args(setup, "--json"))
    assert r.exit_code == 1, r.output
    assert json.loads(r.stdout)["promotion"]["moved"] is False
    assert champion_version(cli) == 1
    r = cli(*promote_args(setup, "--force"))
    assert r.exit_code == 2 and "--force needs a --reason" in r.stderr
    r = cli(*promote_args(setup, "--force", "--reason", "incident 42"))
    assert r.exit_code == 0, r.output
    assert "FORCED" in r.stdout
    assert champion_version(cli) == 2
    history = cli("models", "history", "churn", "--json")
    entries = json.loads(history.stdout)
    entries = entries["entries"] if isinstance(entries, dict) else entries
    assert any(e["reason"].startswith("FORCED: incident 42") for e in entries)
