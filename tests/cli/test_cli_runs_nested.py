"""``runs list`` folds nested runs under their parents, prints bare ids for scripts; every
command that takes a run id takes a unique prefix of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

Cli = Any  # the `cli` fixture of tests/cli/conftest.py


@pytest.fixture
def family(cli: Cli, seeded: Any) -> dict[str, str]:
    """Under ``beta`` (exp-a): three trials, and a fold under the first trial."""
    from mloop.store import SqlStore

    store = SqlStore(cli.db_uri, cli.artifacts)
    try:
        parent = seeded.runs["beta"]
        ids = {"beta": parent}
        for i in range(3):
            trial = store.create_run(
                seeded.exp_a,
                run_name=f"trial-{i}",
                parent_run_id=parent,
                start_time=1_700_000_100_000 + i,
            )
            store.log_batch(trial.run_id, metrics=[("acc", 0.5 + i / 10, 0, 1_700_000_100_500)])
            ids[f"trial-{i}"] = trial.run_id
        fold = store.create_run(seeded.exp_a, run_name="fold", parent_run_id=ids["trial-0"])
        ids["fold"] = fold.run_id
        return ids
    finally:
        store.close()


def test_nested_runs_are_folded_and_counted(cli: Cli, family: dict[str, str]) -> None:
    r = cli("runs", "list", "-e", "exp-a")
    assert r.exit_code == 0, r.output
    assert "trial-0" not in r.stdout and "fold" not in r.stdout.replace("folded", "")
    beta = next(line for line in r.stdout.splitlines() if "beta" in line)
    assert " 3 " in f" {beta} "  # the nested column counts beta's direct children
    assert "3 nested runs folded under their parents (--all)" in r.stdout

    r = cli("runs", "list", "-e", "exp-a", "--all")
    assert all(name in r.stdout for name in ("trial-0", "trial-1", "trial-2", "fold"))
    assert "folded" not in r.stdout


def test_a_filter_applies_to_top_level_runs_unless_all(
    cli: Cli, seeded: Any, family: dict[str, str]
) -> None:
    query = "metrics.acc >= 0.55 and metrics.acc < 0.8"
    ids = cli("runs", "list", "-e", "exp-a", "-f", query, "--ids").stdout.split()
    assert ids == [seeded.runs["gamma"]]
    ids = cli("runs", "list", "-e", "exp-a", "-f", query, "--all", "--ids").stdout.split()
    assert set(ids) == {seeded.runs["gamma"], family["trial-1"], family["trial-2"]}


def test_ids_print_one_full_id_a_line(cli: Cli, seeded: Any) -> None:
    r = cli("runs", "list", "-e", "exp-a", "-o", "metrics.acc desc", "--ids")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [seeded.runs[n] for n in ("beta", "alpha", "gamma")]
    # the JSON keeps its shape
    assert len(json.loads(cli("runs", "list", "-e", "exp-a", "--json").stdout)["runs"]) == 3


def test_reproduce_takes_a_prefix_and_lists_ambiguous_ones(cli: Cli, seeded: Any) -> None:
    run_id = seeded.runs["alpha"]
    r = cli("reproduce", run_id[:10], "--no-rerun", "--json")
    assert r.exit_code in (0, 1), r.output
    assert json.loads(r.stdout)["run_id"] == run_id
    r = cli("reproduce", "0000", "--no-rerun")
    assert r.exit_code == 1
    assert "no run with id '0000'" in r.stderr


def _header(stdout: str) -> list[str]:
    return stdout.splitlines()[0].replace("┃", " ").split()


def test_columns_are_chosen_in_order(cli: Cli, seeded: Any) -> None:
    r = cli("runs", "list", "-e", "exp-a", "--columns", "metrics.loss,depth", "-c", "acc")
    assert r.exit_code == 0, r.output
    header = _header(r.stdout)
    assert header[-3:] == ["depth", "loss", "acc"]  # params first, then metrics, as asked
    assert "model" not in header and "hidden" not in r.stdout


def test_the_keys_a_filter_or_order_names_are_always_shown(
    cli: Cli, seeded: Any, family: dict[str, str]
) -> None:
    # so narrow that only two extra columns fit: the three named keys are shown all the same
    r = cli(
        "runs",
        "list",
        "-e",
        "exp-a",
        "-f",
        "params.model = 'lgbm' and params.depth = '6'",
        "-o",
        "metrics.loss asc",
        env={"COLUMNS": "100"},
    )
    assert r.exit_code == 0, r.output
    header = _header(r.stdout)
    assert {"model", "depth", "loss"} <= set(header), header
