"""``mloop data``: register, list, show, check, infer; and dataset inputs in ``runs show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

CHECKS = """
columns:
  age: {type: int64, min: 0, max: 120}
  country: {allowed: [DE, FR, US]}
table:
  row_count: {min: 1}
"""


def _ok(cli: Any, *args: str) -> Any:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.csv"
    pd.DataFrame({"age": [30, 40, 50], "country": ["DE", "FR", "US"]}).to_csv(good, index=False)
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"age": [30, -4, 500], "country": ["DE", "XX", "US"]}).to_parquet(bad)
    checks = tmp_path / "checks.yaml"
    checks.write_text(CHECKS)
    broken = tmp_path / "broken.yaml"
    broken.write_text("columns:\n  age: {mni: 0}\n")
    return {"good": good, "bad": bad, "checks": checks, "broken": broken}


def test_register_list_show(cli: Any, files: dict[str, Path]) -> None:
    assert "no datasets" in _ok(cli, "data", "list").stdout
    assert json.loads(_ok(cli, "data", "list", "--json").stdout) == {"datasets": []}
    out = _ok(cli, "data", "register", str(files["good"]), "--name", "people").stdout
    assert out.startswith("registered people version 1 (datasets:/people/1, 3 rows, digest ")
    again = _ok(cli, "data", "register", str(files["good"]), "--name", "people").stdout
    assert again.startswith("unchanged: the content is people version 1")
    body = json.loads(
        _ok(
            cli,
            "data",
            "register",
            str(files["bad"]),
            "--name",
            "people",
            "--description",
            "with errors",
            "--tag",
            "source=test",
            "--json",
        ).stdout
    )
    assert body["version"] == 2
    assert body["created"] is True
    assert body["uri"] == "datasets:/people/2"
    assert body["description"] == "with errors"
    assert body["tags"] == {"source": "test"}
    assert body["schema"] == {"age": "int64", "country": "string"}

    listed = _ok(cli, "data", "list").stdout
    assert "people" in listed
    assert body["digest"][:12] in listed
    assert [
        d["version"] for d in json.loads(_ok(cli, "data", "list", "--json").stdout)["datasets"]
    ] == [2]
    shown = _ok(cli, "data", "show", "people").stdout
    assert "dataset people" in shown
    assert "with errors" in shown
    assert "source=test" in shown
    assert "columns of version 2" in shown
    versions = json.loads(_ok(cli, "data", "show", "people", "--json").stdout)["versions"]
    assert [v["version"] for v in versions] == [2, 1]


def test_errors_are_one_line(cli: Any, files: dict[str, Path]) -> None:
    result = cli("data", "show", "ghost")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no dataset named 'ghost'")
    result = cli("data", "register", str(files["good"]), "--name", "bad name")
    assert result.exit_code == 1
    assert "dataset name" in result.stderr


def test_check_exit_codes(cli: Any, files: dict[str, Path]) -> None:
    passed = cli("data", "check", str(files["good"]), "--checks", str(files["checks"]))
    assert passed.exit_code == 0, passed.output
    assert passed.stdout.startswith("PASSED: checks.yaml on good.csv (3 rows, 2 columns)")

    failed = cli("data", "check", str(files["bad"]), "--checks", str(files["checks"]))
    assert failed.exit_code == 1
    assert failed.stdout.startswith("FAILED: checks.yaml on bad.parquet")
    assert "column 'age': 1 of 3 rows are below the minimum 0 (first at row 1: -4)" in failed.stdout
    assert "column 'country': 1 of 3 rows are not one of DE, FR, US" in failed.stdout

    body = json.loads(
        cli("data", "check", str(files["bad"]), "-c", str(files["checks"]), "--json").stdout
    )
    assert body["passed"] is False
    assert [(f["column"], f["check"]) for f in body["failures"]] == [
        ("age", "min"),
        ("age", "max"),
        ("country", "allowed"),
    ]
    assert body["failures"][0]["examples"] == [{"row": 1, "value": -4}]

    malformed = cli("data", "check", str(files["good"]), "--checks", str(files["broken"]))
    assert malformed.exit_code == 2
    assert malformed.stderr.startswith("error: broken.yaml line 2: column 'age', key 'mni'")
    missing = cli("data", "check", "nope.csv", "--checks", str(files["checks"]))
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr
    no_checks = cli("data", "check", str(files["good"]))
    assert no_checks.exit_code == 2  # usage error from the command line parser


def test_check_a_registered_dataset(cli: Any, files: dict[str, Path]) -> None:
    _ok(cli, "data", "register", str(files["bad"]), "--name", "people")
    result = cli("data", "check", "datasets:/people@latest", "--checks", str(files["checks"]))
    assert result.exit_code == 1
    assert "on datasets:/people/1" in result.stdout  # @latest resolved: the version checked
    from mloop.store import SqlStore

    store = SqlStore(cli.db_uri, cli.artifacts)  # the result is kept with the version
    (stored,) = store.list_dataset_checks("people", 1)
    store.close()
    assert (stored.passed, stored.num_checks, stored.num_failed) == (False, 5, 3)
    assert stored.checks == files["checks"].name
    gone = cli("data", "check", "datasets:/nobody/1", "--checks", str(files["checks"]))
    assert gone.exit_code == 2
    assert "no dataset named 'nobody'" in gone.stderr


def test_infer_writes_yaml_that_checks_pass(
    cli: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    text = _ok(cli, "data", "infer", str(files["good"])).stdout
    assert text.startswith("# Checks drafted by `mloop data infer` from 3 rows of good.csv.")
    drafted = tmp_path / "drafted.yaml"
    drafted.write_text(text)
    assert yaml.safe_load(text)["columns"]["age"]["type"] == "int64"
    _ok(cli, "data", "check", str(files["good"]), "--checks", str(drafted))
    body = json.loads(_ok(cli, "data", "infer", str(files["good"]), "--json").stdout)
    assert body == yaml.safe_load(text)


def test_runs_show_lists_inputs(cli: Any, mloop_home: Path, files: dict[str, Path]) -> None:
    import mloop
    from mloop.data import register
    from mloop.tracking._inputs import log_input

    ds = register(files["good"], "people")
    with mloop.start_run() as run:
        log_input(ds, context="train")
    shown = _ok(cli, "runs", "show", run.run_id).stdout
    assert "inputs" in shown
    assert "datasets:/people/1" in shown
    assert ds.digest[:16] in shown
    body = json.loads(_ok(cli, "runs", "show", run.run_id, "--json").stdout)
    assert [(i["dataset_uri"], i["context"]) for i in body["inputs"]] == [
        ("datasets:/people/1", "train")
    ]
