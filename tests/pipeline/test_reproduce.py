"""``mloop reproduce``: what a run records, what differs since, the re-run and its metrics.

Every test works in a real git repository made in ``tmp_path``, with runs made by real child
processes (``python src/train.py ...``), as a user would make them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mloop.tracking import Client
from mloop.tracking import _context as ctx

pytestmark = pytest.mark.slow  # git repositories and subprocesses in every test

TRAIN = """\
import os
import sys
from pathlib import Path

import mloop

args = sys.argv[1:]
lr = float(args[args.index("--lr") + 1]) if "--lr" in args else 0.1
mloop.set_experiment("repro")
with mloop.start_run(run_name="train"):
    mloop.log_param("lr", lr)
    if "--data" in args:
        mloop.log_input(args[args.index("--data") + 1], context="train")
    if os.environ.get("TRAIN_FAIL"):
        raise SystemExit("told to fail")
    # The bias file is read from the working folder: the re-run must start in the same one.
    bias = float(Path("bias.txt").read_text()) if Path("bias.txt").exists() else 0.0
    bias += float(os.environ.get("TRAIN_BIAS", "0"))
    for step in range(3):
        mloop.log_metric("loss", 1.0 / (1.0 + lr * (step + 1)) + bias)
    mloop.log_metric("acc", 0.75)
    if "--child" in args:
        with mloop.start_run(run_name="child", nested=True):
            mloop.log_metric("inner", 1.0)
print("trained")
"""


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip()


@pytest.fixture
def repo(mloop_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with ``src/train.py`` committed, and the current folder in it."""
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{var}_NAME", "Test")
        monkeypatch.setenv(f"{var}_EMAIL", "test@example.com")
    monkeypatch.delenv(ctx.ENV_REPRODUCE_OF, raising=False)
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "train.py").write_text(TRAIN)
    (root / "bias.txt").write_text("0.0\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "train")
    monkeypatch.chdir(root)
    return root


def train(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python src/train.py ARGS`` from the repository's root; return its run's id."""
    proc = subprocess.run(
        [sys.executable, "src/train.py", *args],
        cwd=repo,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    runs = (
        Client()
        .search_runs(None, "attributes.run_name = 'train'", order_by="attributes.start_time DESC")
        .runs
    )
    return runs[0].info.run_id


def cli(*args: str) -> Any:
    """``mloop reproduce ARGS`` through the real CLI (its error handling included)."""
    from mloop.cli._main import app

    return CliRunner().invoke(app, ["reproduce", *args])


def cli_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = cli(*args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _differences(report: dict[str, Any], category: str) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in report["differences"] if d["category"] == category}


# -- what a run records -------------------------------------------------------------------------


def test_a_run_records_its_command_line_folder_and_packages(repo: Path) -> None:
    run_id = train(repo, "--lr", "0.5", "--api-key", "s3cr3t", "--token=abc")
    tags = Client().get_run(run_id).data.tags
    assert json.loads(tags[ctx.TAG_ARGV]) == [
        "src/train.py",
        "--lr",
        "0.5",
        "--api-key",
        "***",
        "--token=***",
    ]
    assert tags[ctx.TAG_GIT_CWD] == "."
    assert tags[ctx.TAG_GIT_ENTRY_POINT] == "src/train.py"
    assert Path(tags[ctx.TAG_CWD]).resolve() == repo.resolve()
    assert tags[ctx.TAG_GIT_COMMIT] == _git(repo, "rev-parse", "HEAD")
    assert ctx.decode_packages(tags) == ctx.parse_requirements(ctx.installed_packages())
    assert ctx.TAG_REPRODUCES not in tags


def test_secret_values_are_redacted() -> None:
    argv = ["x.py", "--password", "p", "--lr", "1", "db.secret_key=v", "--verbose", "--key"]
    assert ctx.redact_argv(argv) == [
        "x.py",
        "--password",
        "***",
        "--lr",
        "1",
        "db.secret_key=***",
        "--verbose",
        "--key",
    ]
    # A password inside a URL, under any option; a secret value that starts with '-'.
    argv = ["mloop", "--tracking-uri", "postgresql://u:pw@db/x", "--token", "-abc", "http://h:1/"]
    assert ctx.redact_argv(argv) == [
        "mloop",
        "--tracking-uri",
        "postgresql://u:***@db/x",
        "--token",
        "***",
        "http://h:1/",
    ]


def test_a_long_package_list_spans_several_tags() -> None:
    packages = [f"package-number-{i:05d}=={i}.0.{i * 7 % 13}" for i in range(3000)]
    tags = ctx.encode_packages(packages)
    assert len(tags) > 1 and all(len(v) <= 8000 for v in tags.values())
    assert ctx.decode_packages(tags) == ctx.parse_requirements(packages)


# -- reproducing a script run -------------------------------------------------------------------


def test_a_deterministic_run_reproduces(repo: Path) -> None:
    run_id = train(repo, "--lr", "0.5")
    code, report = cli_json(run_id)
    assert code == 0, report
    assert report["kind"] == "script"
    assert report["differences"] == [] and report["warnings"] == []
    assert report["rerun_error"] is None
    assert {m["key"]: m["status"] for m in report["metrics"]} == {"acc": "match", "loss": "match"}
    loss = next(m for m in report["metrics"] if m["key"] == "loss")
    assert loss["old"] == pytest.approx(1 / (1 + 0.5 * 3))
    new = Client().get_run(report["new_run_id"])
    assert new.data.tags[ctx.TAG_REPRODUCES] == run_id
    assert new.data.params == {"lr": "0.5"}
    assert new.info.run_id != run_id


def test_a_module_run_reproduces_with_dash_m(repo: Path) -> None:
    (repo / "src" / "__init__.py").write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "src.train", "--lr", "0.25"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (old,) = Client().search_runs(None, "attributes.run_name = 'train'").runs
    assert old.data.tags[ctx.TAG_ENTRY_POINT] == "-m src.train"
    code, report = cli_json(old.info.run_id)
    assert code == 0, report
    assert report["target"].split()[1:] == ["-m", "src.train", "--lr", "0.25"]
    assert Client().get_run(report["new_run_id"]).data.params == {"lr": "0.25"}


def test_the_command_runs_as_a_process_with_a_table(repo: Path) -> None:
    run_id = train(repo)
    code = (
        "import typer; from mloop.cli._reproduce import reproduce; "
        "app = typer.Typer(); app.command()(reproduce); app()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, run_id],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduced: every metric matches" in proc.stdout
    assert "trained" in proc.stderr  # the re-run's own output, beside the result


def test_a_metric_that_changed_fails_and_is_named(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = train(repo)
    monkeypatch.setenv("TRAIN_BIAS", "0.25")
    result = cli(run_id)
    assert result.exit_code == 1, result.output
    assert "DIFFERS" in result.stdout and "loss" in result.stdout
    assert "1 metric(s) differ: loss" in result.stdout
    code, report = cli_json(run_id)
    assert code == 1
    loss = next(m for m in report["metrics"] if m["key"] == "loss")
    assert loss["status"] == "differs"
    assert loss["new"] - loss["old"] == pytest.approx(0.25)
    assert next(m for m in report["metrics"] if m["key"] == "acc")["within"] is True
    # A tolerance wide enough for the change passes.
    assert cli(run_id, "--metric-tolerance", "loss=0.5").exit_code == 0


def test_the_rerun_starts_in_the_recorded_folder(repo: Path) -> None:
    run_id = train(repo)
    (repo / "bias.txt").write_text("1.5\n")  # read from the working folder by the script
    code, report = cli_json(run_id)
    assert code == 1
    loss = next(m for m in report["metrics"] if m["key"] == "loss")
    assert loss["new"] - loss["old"] == pytest.approx(1.5)


def test_an_uncommitted_change_to_the_entry_file_is_reported(repo: Path) -> None:
    run_id = train(repo)
    entry = repo / "src" / "train.py"
    entry.write_text(entry.read_text() + "# tweaked\n")
    code, report = cli_json(run_id)
    assert code == 0, report  # same metrics: a warning, not a failure
    code_diffs = _differences(report, "code")
    assert set(code_diffs) == {"dirty", "entry file"}
    assert "src/train.py differs from its version" in code_diffs["entry file"]["message"]
    assert cli(run_id, "--strict", "--no-rerun").exit_code == 1


def test_a_new_commit_is_reported(repo: Path) -> None:
    run_id = train(repo)
    old_head = _git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("hello\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "docs")
    code, report = cli_json(run_id, "--no-rerun")
    assert code == 0
    commit = _differences(report, "code")["commit"]
    assert commit["recorded"] == old_head and commit["current"] == _git(repo, "rev-parse", "HEAD")
    assert "entry file" not in _differences(report, "code")  # train.py itself did not change


def test_a_package_that_changed_since_is_reported(repo: Path) -> None:
    run_id = train(repo)
    client = Client()
    recorded = ctx.decode_packages(client.get_run(run_id).data.tags)
    assert recorded is not None and "numpy" in recorded and "typer" in recorded
    # Simulate an older environment: another numpy, no typer, a package since uninstalled.
    older = {**recorded, "numpy": "1.0.0", "gone-package": "0.1"}
    del older["typer"]
    client.set_tags(run_id, ctx.encode_packages([f"{n}=={v}" for n, v in older.items()]))
    client.flush()
    code, report = cli_json(run_id, "--no-rerun")
    assert code == 0
    packages = _differences(report, "packages")
    assert set(packages) == {"numpy", "typer", "gone-package"}
    assert packages["numpy"]["recorded"] == "1.0.0"
    assert packages["numpy"]["current"] == recorded["numpy"]
    assert packages["typer"]["recorded"] is None and packages["typer"]["current"]
    assert packages["gone-package"]["current"] is None
    result = cli(run_id, "--no-rerun", "--strict")
    assert result.exit_code == 1
    assert "numpy" in result.stdout and "1.0.0" in result.stdout


def test_a_tampered_dataset_is_reported(repo: Path, mloop_home: Path) -> None:
    import pandas as pd

    import mloop.data

    ds = mloop.data.register(pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]}), "churn")
    run_id = train(repo, "--data", ds.uri)
    code, report = cli_json(run_id, "--no-rerun")
    assert code == 0 and report["differences"] == []
    (stored,) = list(mloop_home.rglob(f"{ds.digest}.parquet"))
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    code, report = cli_json(run_id, "--no-rerun")
    datasets = _differences(report, "datasets")
    assert set(datasets) == {"datasets:/churn/1"}
    assert "changed or damaged" in datasets["datasets:/churn/1"]["message"]
    assert cli(run_id, "--no-rerun", "--strict").exit_code == 1


def test_a_failed_rerun_exits_1_with_its_output(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = train(repo)
    monkeypatch.setenv("TRAIN_FAIL", "1")
    code, report = cli_json(run_id)
    assert code == 1
    assert report["rerun_error"].startswith("the re-run exited with status 1")
    assert "told to fail" in report["rerun_output"]


def test_a_redacted_command_line_is_not_rerun(repo: Path) -> None:
    run_id = train(repo, "--password", "hunter2")
    code, report = cli_json(run_id)
    assert code == 1
    assert "secret values that were not recorded" in report["rerun_error"]
    assert report["new_run_id"] is None


def test_an_unknown_run_exits_1_with_a_clear_message(repo: Path) -> None:
    result = cli("0123456789abcdef0123456789abcdef")
    assert result.exit_code == 1
    assert "0123456789abcdef0123456789abcdef" in result.stderr
    assert "error: no run with id '0123456789abcdef0123456789abcdef'" in result.stderr


def test_a_child_run_of_a_script_points_to_its_parent(repo: Path) -> None:
    run_id = train(repo, "--child")
    (child,) = Client().search_runs(None, f"attributes.parent_run_id = '{run_id}'").runs
    result = cli(child.info.run_id)
    assert result.exit_code == 1
    assert f"mloop reproduce {run_id}" in result.stderr
    # The parent reproduces, its child's metrics compared as child/<key>.
    code, report = cli_json(run_id)
    assert code == 0, report
    assert "child/inner" in {m["key"] for m in report["metrics"]}


def test_a_bad_tolerance_is_a_usage_error(repo: Path) -> None:
    result = cli("abc", "--metric-tolerance", "loss")
    assert result.exit_code == 2
    assert "NAME=TOLERANCE" in result.output


def test_tolerances_are_relative_with_an_absolute_floor() -> None:
    from mloop.pipeline._reproduce_checks import compare_metrics

    got = {
        m.key: m.status
        for m in compare_metrics(
            {"a": 100.0, "b": 0.0, "c": 1.0, "d": float("nan"), "old_only": 1.0},
            {"a": 100.5, "b": 1e-12, "c": 1.1, "d": float("nan"), "new_only": 1.0},
            {"*": 1e-6, "a": 0.01},
        )
    }
    assert got == {
        "a": "match",
        "b": "match",
        "c": "differs",
        "d": "match",
        "old_only": "missing_in_new",
        "new_only": "missing_in_old",
    }


# -- reproducing a pipeline run -----------------------------------------------------------------

FLOW = """\
import os

import mloop
from mloop.pipeline import pipeline, step


@step
def make(n: int) -> list[int]:
    return list(range(n))


@step
def score(values: list[int], scale: float, label: str) -> float:
    assert isinstance(label, str), label
    value = sum(values) * scale + float(os.environ.get("FLOW_BIAS", "0"))
    mloop.log_metric("score", value)
    return value


@pipeline
def train(n: int = 4, scale: float = 0.5, label: str = "a"):
    return score(make(n), scale, label)
"""


def test_a_pipeline_run_reproduces_through_pipeline_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "flows").mkdir()
    (repo / "flows" / "train.py").write_text(FLOW)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "flow")
    # Run from the repository, as a user's process would; "7" is a str param that reads as
    # JSON: the re-run must still get the text.
    code = (
        "import mloop.pipeline; r = mloop.pipeline.run('flows/train.py:train', "
        "{'n': 5, 'scale': 2.0, 'label': '7'}, experiment='flows'); print(r.run_id, r.output)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    run_id, output = proc.stdout.split()
    assert float(output) == 20.0
    old = Client().get_run(run_id)
    assert old.data.tags["mloop.pipeline.target"] == "flows/train.py:train"

    status, report = cli_json(run_id)
    assert status == 0, report
    assert report["kind"] == "pipeline" and report["differences"] == []
    assert [(m["key"], m["status"]) for m in report["metrics"]] == [("score/score", "match")]
    new = Client().get_run(report["new_run_id"])
    assert new.data.tags[ctx.TAG_REPRODUCES] == run_id
    assert new.data.params == old.data.params
    assert new.info.experiment_id == old.info.experiment_id
    steps = Client().search_runs(None, f"attributes.parent_run_id = '{new.info.run_id}'").runs
    # cache=False: every step ran again rather than being reused from the first run.
    assert sorted(r.data.tags["mloop.step.cached"] for r in steps) == ["false", "false"]

    monkeypatch.setenv("FLOW_BIAS", "1")
    result = cli(run_id)
    assert result.exit_code == 1
    assert "score/score" in result.stdout and "DIFFERS" in result.stdout


def _mloop_has_pipeline_command() -> bool:
    exe = Path(sys.executable).parent / "mloop"
    probe = subprocess.run(
        [str(exe), "pipeline", "--help"], capture_output=True, text=True, timeout=60
    )
    return probe.returncode == 0


def test_a_run_of_the_mloop_command_records_the_working_folders_repository(
    repo: Path,
) -> None:
    if not _mloop_has_pipeline_command():
        pytest.skip("`mloop pipeline` is not registered in mloop.cli._main yet")
    (repo / "flows").mkdir()
    (repo / "flows" / "train.py").write_text(FLOW)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "flow")
    mloop_exe = str(Path(sys.executable).parent / "mloop")
    proc = subprocess.run(
        [mloop_exe, "pipeline", "run", "flows/train.py:train", "--param", "n=3", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    tags = Client().get_run(run_id).data.tags
    # The command is installed in the environment: the code is the pipeline file's repository.
    assert tags[ctx.TAG_GIT_COMMIT] == _git(repo, "rev-parse", "HEAD")
    assert tags[ctx.TAG_GIT_ENTRY_POINT] == "flows/train.py"
    status, report = cli_json(run_id)
    assert status == 0, report
    assert report["differences"] == []
    assert [m["key"] for m in report["metrics"]] == ["score/score"]
