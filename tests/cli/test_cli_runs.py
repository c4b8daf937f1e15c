"""``mloop runs``: list with the search language, show, compare."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any


def _ids(result: Any) -> list[str]:
    assert result.exit_code == 0, result.output
    return [r["info"]["run_id"] for r in json.loads(result.stdout)["runs"]]


# -- list --------------------------------------------------------------------------------------


def test_list_table(cli: Any, seeded: Any) -> None:
    result = cli("runs", "list")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name, run_id in seeded.runs.items():
        assert name in out
        assert run_id[:8] in out
        assert run_id not in out  # short ids in the table
    header = out.splitlines()[0]
    for column in ("run", "name", "experiment", "status", "start", "duration", "model", "acc"):
        assert column in header
    assert "FINISHED" in out
    assert "RUNNING" in out
    beta = next(line for line in out.splitlines() if "beta" in line)
    assert "0.93" in beta
    assert "lgbm" in beta
    assert "2.5s" in beta


def test_list_one_experiment_by_name_or_id(cli: Any, seeded: Any) -> None:
    by_name = set(_ids(cli("runs", "list", "--experiment", "exp-a", "--json")))
    by_id = set(_ids(cli("runs", "list", "-e", seeded.exp_a, "--json")))
    assert by_name == by_id == {seeded.runs[n] for n in ("alpha", "beta", "gamma")}
    both = _ids(cli("runs", "list", "-e", "exp-a", "-e", "exp-b", "--json"))
    assert set(both) == set(seeded.runs.values())
    table = cli("runs", "list", "-e", "exp-a").stdout
    assert "experiment" not in table.splitlines()[0]  # one experiment: no column for it


def test_list_unknown_experiment(cli: Any, seeded: Any) -> None:
    result = cli("runs", "list", "--experiment", "nope")
    assert result.exit_code == 1
    assert "'nope'" in result.stderr


def test_list_filter_and_order(cli: Any, seeded: Any) -> None:
    ids = _ids(
        cli(
            "runs",
            "list",
            "--filter",
            "metrics.acc > 0.7",
            "--order-by",
            "metrics.acc desc",
            "--json",
        )
    )
    assert ids == [seeded.runs[n] for n in ("beta", "alpha", "gamma")]
    ids = _ids(
        cli("runs", "list", "-f", "params.model = 'lgbm'", "-o", "params.depth asc", "--json")
    )
    assert ids == [seeded.runs["alpha"], seeded.runs["beta"]]
    table = cli("runs", "list", "-f", "metrics.acc > 0.9").stdout
    assert "beta" in table
    assert "alpha" not in table
    assert "no runs match the filter" in cli("runs", "list", "-f", "metrics.acc > 2").stdout


def test_list_default_order_is_newest_first(cli: Any, seeded: Any) -> None:
    assert _ids(cli("runs", "list", "--json")) == [
        seeded.runs[n] for n in ("delta", "gamma", "beta", "alpha")
    ]


def test_list_max_results(cli: Any, seeded: Any) -> None:
    result = cli("runs", "list", "--max-results", "1")
    assert result.exit_code == 0
    assert "delta" in result.stdout
    assert "beta" not in result.stdout
    assert "showing the first 1 runs" in result.stdout
    body = json.loads(cli("runs", "list", "-n", "2", "--json").stdout)
    assert len(body["runs"]) == 2
    assert body["next_page_token"]


def test_list_json_is_the_full_runs_and_nothing_else(cli: Any, seeded: Any) -> None:
    result = cli("runs", "list", "-e", "exp-a", "-o", "metrics.acc desc", "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)  # the whole of stdout is one document
    assert result.stderr == ""
    gamma = body["runs"][-1]
    assert gamma["info"]["run_name"] == "gamma"
    assert gamma["info"]["status"] == "RUNNING"
    assert gamma["data"]["params"] == {"model": "linear", "depth": "3"}
    assert gamma["data"]["metrics"]["loss"]["value"] == "NaN"  # strict JSON, as the API writes
    assert gamma["data"]["metrics"]["acc"] == {
        "value": 0.75,
        "step": 5,
        "timestamp": 1_700_000_000_502,
    }
    assert gamma["data"]["tags"]["team"] == "ranking"


def test_list_hides_columns_past_the_width(cli: Any, seeded: Any) -> None:
    result = cli("runs", "list", "-o", "metrics.loss desc", env={"COLUMNS": "90"})
    assert result.exit_code == 0
    header = result.stdout.splitlines()[0]
    assert "loss" in header  # the key the order-by names comes first
    assert "more param/metric columns hidden" in result.stdout


def test_malformed_filter_names_the_position(cli: Any, seeded: Any) -> None:
    result = cli("runs", "list", "--filter", "metrics.acc >> 0.5")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert "position 13" in lines[0]
    assert lines[1].strip() == "metrics.acc >> 0.5"
    assert lines[2].index("^") == lines[1].index("metrics") + 13


def test_malformed_order_by(cli: Any, seeded: Any) -> None:
    result = cli("runs", "list", "--order-by", "metrics.acc sideways")
    assert result.exit_code == 1
    assert "order_by" in result.stderr
    assert "position" in result.stderr


def test_list_empty_store(cli: Any) -> None:
    result = cli("runs", "list")
    assert result.exit_code == 0
    assert "no runs" in result.stdout


# -- show --------------------------------------------------------------------------------------


def test_show(cli: Any, seeded: Any) -> None:
    run_id = seeded.runs["beta"]
    result = cli("runs", "show", run_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert run_id in out
    assert "exp-a" in out
    assert "FINISHED" in out
    assert "2.5s" in out
    assert "depth" in out
    assert "lgbm" in out
    acc = next(line for line in out.splitlines() if line.strip().startswith("acc "))
    assert "0.93" in acc
    assert " 5 " in acc  # the step of the latest point
    # User tags and system tags are listed apart.
    tags_at, system_at = out.index("\ntags"), out.index("system tags")
    assert tags_at < out.index("team") < system_at < out.index("mloop.user")
    assert "model/model.txt" in out
    assert "7 B" in out


def test_show_by_prefix(cli: Any, seeded: Any) -> None:
    run_id = seeded.runs["alpha"]
    result = cli("runs", "show", run_id[:8])
    assert result.exit_code == 0, result.output
    assert run_id in result.stdout


def test_show_unknown_run(cli: Any, seeded: Any) -> None:
    result = cli("runs", "show", "feedfacefeedfacefeedfacefeedface")
    assert result.exit_code == 1
    assert "feedfacefeedfacefeedfacefeedface" in result.stderr
    assert result.stdout == ""
    result = cli("runs", "show", "not-a-run")
    assert result.exit_code == 1
    assert "error: no run with id 'not-a-run'" in result.stderr


def test_show_json(cli: Any, seeded: Any) -> None:
    result = cli("runs", "show", seeded.runs["beta"], "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["info"]["run_id"] == seeded.runs["beta"]
    assert body["data"]["metrics"]["acc"]["value"] == 0.93
    files = [a for a in body["artifacts"] if not a["is_dir"]]
    assert [a["path"] for a in files] == ["model/model.txt"]
    assert files[0]["size"] == 7
    assert len(files[0]["sha256"]) == 64
    assert body["artifacts_truncated"] is False


# -- compare -----------------------------------------------------------------------------------


def test_compare_table(cli: Any, seeded: Any) -> None:
    alpha, beta = seeded.runs["alpha"], seeded.runs["beta"]
    result = cli("runs", "compare", alpha, beta[:8])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert alpha[:8] in lines[0]
    assert beta[:8] in lines[0]

    def row(key: str) -> str:
        return next(line for line in lines if f" {key} " in line)

    assert row("params.depth").startswith("≠")  # 3 vs 6
    assert not row("params.model").startswith("≠")  # lgbm both
    acc, loss = row("metrics.acc"), row("metrics.loss")
    assert acc.index("0.93 ★") > acc.index("0.81")  # higher accuracy is better
    assert "0.4 " in loss
    assert "0.21 ★" in loss  # lower loss is better


def test_compare_json(cli: Any, seeded: Any) -> None:
    names = ("alpha", "beta", "gamma")
    result = cli("runs", "compare", *(seeded.runs[n] for n in names), "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert [r["run_name"] for r in body["runs"]] == list(names)
    rows = {(r["section"], r["key"]): r for r in body["rows"]}
    assert rows["params", "model"]["values"] == ["lgbm", "lgbm", "linear"]
    assert rows["params", "model"]["differs"] is True
    assert rows["attributes", "experiment_id"]["differs"] is False
    assert rows["metrics", "acc"] | {"values": None} == {
        "section": "metrics",
        "key": "acc",
        "values": None,
        "differs": True,
        "goal": "max",
        "best": [1],
    }
    assert rows["metrics", "loss"]["values"] == [0.4, 0.21, "NaN"]
    assert rows["metrics", "loss"]["goal"] == "min"
    assert rows["metrics", "loss"]["best"] == [1]


def test_compare_needs_two_runs(cli: Any, seeded: Any) -> None:
    result = cli("runs", "compare", seeded.runs["alpha"])
    assert result.exit_code == 2
    assert "at least two" in result.stderr


def test_compare_unknown_run(cli: Any, seeded: Any) -> None:
    result = cli("runs", "compare", seeded.runs["alpha"], "0badc0de0badc0de0badc0de0badc0de")
    assert result.exit_code == 1
    assert "0badc0de0badc0de0badc0de0badc0de" in result.stderr


def test_metric_goal() -> None:
    from mloop.cli._runs import metric_goal

    lower = ("loss", "val_loss", "rmse", "test_mae", "latency_ms", "fit_time_s", "mean_err")
    higher = ("acc", "roc_auc", "f1", "precision", "power", "answer_rate", "samples")
    assert {k: metric_goal(k) for k in lower} == dict.fromkeys(lower, "min")
    assert {k: metric_goal(k) for k in higher} == dict.fromkeys(higher, "max")


def test_sweep_marks_silent_runs_killed(cli: Any) -> None:
    from datetime import datetime

    import time_machine

    from mloop.store import SqlStore

    store = SqlStore(cli.db_uri, cli.artifacts)
    try:
        exp = store.create_experiment("sweep").experiment_id
        run_id = store.create_run(exp).info.run_id
        with time_machine.travel(datetime(2020, 1, 1, tzinfo=UTC), tick=False):
            store.heartbeat(run_id)
    finally:
        store.close()
    result = cli("runs", "sweep", "--timeout", "10m", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"killed": [run_id]}
    assert "no dead runs" in cli("runs", "sweep").stdout


def test_the_server_sweeper_marks_silent_runs_killed(cli: Any) -> None:
    import time
    from datetime import datetime

    import time_machine

    from mloop.cli._server import start_sweeper
    from mloop.store import RunStatus, SqlStore

    store = SqlStore(cli.db_uri, cli.artifacts)
    try:
        run_id = store.create_run(store.create_experiment("bg").experiment_id).info.run_id
        with time_machine.travel(datetime(2020, 1, 1, tzinfo=UTC), tick=False):
            store.heartbeat(run_id)
        start_sweeper(cli.db_uri, cli.artifacts, 60_000)  # sweeps at once, then every minute
        deadline = time.monotonic() + 60  # bounds a hang only
        while store.get_run(run_id).info.status is RunStatus.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert store.get_run(run_id).info.status is RunStatus.KILLED
    finally:
        store.close()
