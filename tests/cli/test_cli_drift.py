"""``mloop drift``: exit codes for CI, the table, JSON, HTML, profiles as references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

Cli = Any  # the `cli` fixture of tests/cli/conftest.py


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    n = 2000
    ref = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.choice(list("xyz"), n),
            "c": rng.integers(0, 100, n),
        }
    )
    drifted = ref.assign(a=rng.normal(1, size=n), b=rng.choice(list("xyz"), n, p=[0.7, 0.2, 0.1]))
    calm = ref.assign(a=rng.normal(size=n))
    out = {
        "ref": tmp_path / "ref.csv",
        "drifted": tmp_path / "drifted.parquet",
        "calm": tmp_path / "calm.parquet",
    }
    ref.to_csv(out["ref"], index=False)
    drifted.to_parquet(out["drifted"])
    calm.to_parquet(out["calm"])
    return out


def test_exit_0_without_drift_and_1_with_it(cli: Cli, files: dict[str, Path]) -> None:
    calm = cli("drift", str(files["ref"]), str(files["calm"]))
    assert calm.exit_code == 0, calm.output
    assert "no dataset drift: 0 of 3 tested columns drifted" in calm.stdout
    drifted = cli("drift", str(files["ref"]), str(files["drifted"]))
    assert drifted.exit_code == 1, drifted.output
    assert "DATASET DRIFT: 2 of 3 tested columns drifted (67%, threshold 50%)" in drifted.stdout
    lines = drifted.stdout.splitlines()
    first_rows = [ln.split()[0] for ln in lines[2:4]]
    assert first_rows == ["a", "b"]  # drifted first
    assert "wasserstein" in drifted.stdout
    assert "jensenshannon" in drifted.stdout


def test_json_output(cli: Cli, files: dict[str, Path]) -> None:
    r = cli("drift", str(files["ref"]), str(files["drifted"]), "--json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["dataset_drift"] is True
    assert data["drifted_columns"] == ["a", "b"]
    assert {c["name"]: c["method"] for c in data["columns"]} == {
        "a": "wasserstein",
        "b": "jensenshannon",
        "c": "wasserstein",
    }


def test_options_methods_columns_threshold_share(cli: Cli, files: dict[str, Path]) -> None:
    ref, cur = str(files["ref"]), str(files["drifted"])
    r = cli("drift", ref, cur, "--json", "-m", "psi", "-m", "b=chisquare", "-c", "a", "-c", "b")
    data = json.loads(r.stdout)
    assert [c["name"] for c in data["columns"]] == ["a", "b"]
    assert {c["name"]: c["method"] for c in data["columns"]} == {"a": "psi", "b": "chisquare"}
    high = cli("drift", ref, cur, "--threshold", "100", "-m", "psi")
    assert high.exit_code == 0
    share = cli("drift", ref, cur, "--share", "0.9")
    assert share.exit_code == 0


def test_html_report_and_saved_profile(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    html, prof = tmp_path / "report.html", tmp_path / "ref.profile"
    r = cli(
        "drift",
        str(files["ref"]),
        str(files["drifted"]),
        "--html",
        str(html),
        "--save-reference-profile",
        str(prof),
        "--multivariate",
    )
    assert r.exit_code == 1
    assert "<svg" in html.read_text(encoding="utf-8")
    assert "multivariate (PCA" in r.stdout
    from_profile = cli("drift", str(prof), str(files["drifted"]), "--json")
    assert from_profile.exit_code == 1
    data = json.loads(from_profile.stdout)
    assert data["reference_source"] == "profile"
    assert data["drifted_columns"] == ["a", "b"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "{calm}"], "missing.csv: no such file"),
        (["{ref}", "{ref}", "-m", "nope"], "unknown drift method 'nope'"),
        (["{ref}", "{calm}", "-c", "zzz"], "neither table: zzz"),
        (["{ref}", "{txt}"], "unknown file type .txt"),
        (["{bad}", "{calm}"], "not an mloop profile"),
        (["{ref}", "{calm}", "--share", "0"], "share must be in (0, 1]"),
    ],
)
def test_errors_exit_2(
    cli: Cli, files: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    txt = tmp_path / "data.txt"
    txt.write_text("a\n1\n")
    bad = tmp_path / "bad.profile"
    bad.write_bytes(b"garbage")
    paths = {"ref": files["ref"], "calm": files["calm"], "txt": txt, "bad": bad}
    r = cli("drift", *[a.format(**{k: str(v) for k, v in paths.items()}) for a in args])
    assert r.exit_code == 2, r.output
    assert message in r.stderr


def test_nothing_comparable_is_an_error(cli: Cli, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"x": [1.0, 2.0]}).to_csv(a, index=False)
    pd.DataFrame({"y": [1.0, 2.0]}).to_csv(b, index=False)
    r = cli("drift", str(a), str(b))
    assert r.exit_code == 2
    assert "no column could be compared" in r.stderr


@pytest.mark.slow
def test_help_lists_drift(run_mloop: Any) -> None:
    r = run_mloop("--help")
    assert r.returncode == 0
    assert "drift" in r.stdout
    sub = run_mloop("drift", "--help")
    assert sub.returncode == 0
    assert "--multivariate" in sub.stdout
