"""What the CLI prints is what the data says: rule names with brackets, slice headers, data
file names, folded audit reasons, flags without a type."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

Cli = Any  # the `cli` fixture of tests/cli/conftest.py

POLICY = """\
rules:
  - accuracy >= 0.6
  - slice[region=eu].recall >= 0.5
  - fairness[gender].demographic_parity_difference <= 0.5
"""


@dataclass
class Models:
    data: Path
    policy: Path
    weak: str
    strong: str


@pytest.fixture
def models(cli: Cli, tmp_path: Path) -> Models:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "region": rng.choice(["eu", "us"], size=n),
            "gender": rng.choice(["f", "m"], size=n),
        }
    )
    frame["y"] = (frame["x1"] + rng.normal(scale=0.3, size=n) > 0).astype(int)
    x = frame[["x1", "x2"]]
    strong = mloop.models.save(
        LogisticRegression().fit(x, frame["y"]), tmp_path / "strong", input_example=x.head(3)
    )
    weak = mloop.models.save(
        LogisticRegression().fit(x[["x2", "x1"]].set_axis(["x1", "x2"], axis=1), frame["y"]),
        tmp_path / "weak",
        input_example=x.head(3),
    )
    data = tmp_path / "holdout.parquet"
    frame.to_parquet(data, index=False)
    policy = tmp_path / "gate.yaml"
    policy.write_text(POLICY)
    return Models(data, policy, str(weak.model_uri), str(strong.model_uri))


def test_gate_prints_rules_as_written_and_names_the_data_file(
    cli: Cli, models: Models, tmp_path: Path
) -> None:
    md, page = tmp_path / "gate.md", tmp_path / "gate.html"
    r = cli(
        "gate",
        "--challenger",
        models.strong,
        "--data",
        str(models.data),
        "--target",
        "y",
        "--policy",
        str(models.policy),
        "--markdown",
        str(md),
        "--html",
        str(page),
    )
    assert r.exit_code == 0, r.output
    # Rich markup would eat "[region=eu]" and "[gender]"
    assert "slice[region=eu].recall >= 0.5" in r.stdout
    assert "fairness[gender].demographic_parity_difference" in r.stdout
    assert f"of {models.data}" in md.read_text()
    html = page.read_text()
    assert f"rows of <code>{models.data}</code>" in html
    assert "DataFrame" not in md.read_text() + html


def test_promote_html_has_no_markdown_backticks_and_history_folds_the_report(
    cli: Cli, models: Models, tmp_path: Path
) -> None:
    for source in (models.weak, models.strong):
        assert cli("models", "register", source, "churn").exit_code == 0
    for alias, version in (("champion", "1"), ("challenger", "2")):
        assert cli("models", "alias", "churn", alias, version).exit_code == 0
    page = tmp_path / "promote.html"
    r = cli(
        "promote",
        "churn",
        "--data",
        str(models.data),
        "--target",
        "y",
        "--policy",
        str(models.policy),
        "--reason",
        "better on x1",
        "--html",
        str(page),
    )
    assert r.exit_code == 0, r.output
    assert "slice[region=eu].recall" in r.stdout
    html = page.read_text()
    assert "`" not in html.split("<iframe")[0]
    assert "<code>churn@champion</code> moved to v2" in html

    r = cli("models", "history", "churn")
    assert r.exit_code == 0, r.output
    moved = [line for line in r.stdout.splitlines() if "@champion: 1 -> 2" in line]
    assert moved and "better on x1" in moved[0] and "(+ report," in moved[0]
    # the gate report's table stays in --json, out of the table
    assert "| Rule |" not in r.stdout and "Challenger" not in r.stdout
    entries = json.loads(cli("models", "history", "churn", "--json").stdout)["entries"]
    assert any("| Rule |" in (e["reason"] or "") for e in entries)


def test_slice_tables_keep_every_metric_name_whole(cli: Cli, models: Models) -> None:
    r = cli(
        "evaluate",
        models.strong,
        "--data",
        str(models.data),
        "--target",
        "y",
        "--slice",
        "region",
        "--no-log",
        env={"COLUMNS": "80"},
    )
    assert r.exit_code == 0, r.output
    table = r.stdout.split("slices by region")[1]
    names = set(re.findall(r"[\w\[\]=.]+", table))
    assert {"precision", "precision_macro", "recall", "recall_macro", "n_rows"} <= names
    assert "…" not in table


@pytest.mark.parametrize("command", [("runs", "list"), ("data", "check"), ("promote",)])
def test_flags_show_no_type_in_help(cli: Cli, command: tuple[str, ...]) -> None:
    r = cli(*command, "--help")
    assert r.exit_code == 0, r.output
    line = next(line for line in r.stdout.splitlines() if "--json" in line)
    assert "<bool>" not in line and not re.search(r"--json\s+\S+\s+Print", line)
    assert "<bool>" not in r.stdout
