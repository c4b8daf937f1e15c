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


def _mixed(n: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1, n),
            "skew": rng.lognormal(1 + shift / 2, 0.5, n),
            "count": rng.poisson(30 * (1 + shift / 5), n),
            "few": rng.choice([0.5, 1.5, 2.5], n),
            "cat": pd.array(rng.choice(["u", "v", "w", "z"], n, p=[0.4, 0.3, 0.2, 0.1]), "str"),
            "cat2": pd.array(
                rng.choice(["p", "q"], n, p=[0.5 + shift / 4, 0.5 - shift / 4]), dtype="str"
            ),
        }
    )


def test_chunked_reading_gives_the_same_verdicts(cli: Cli, tmp_path: Path) -> None:
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    _mixed(6000, 1, 0.0).to_parquet(ref, row_group_size=1000)
    _mixed(6000, 2, 1.0).to_parquet(cur, row_group_size=1000)
    whole = cli("drift", str(ref), str(cur), "--json")
    chunked = cli("drift", str(ref), str(cur), "--json", "--chunk-rows", "1500")
    assert whole.exit_code == chunked.exit_code == 1, chunked.output
    w, c = json.loads(whole.stdout), json.loads(chunked.stdout)
    assert c["reference_source"] == "profile"
    assert c["drifted_columns"] == w["drifted_columns"]
    assert set(w["drifted_columns"]) == {"x", "skew", "count", "cat2"}
    assert c["reference_rows"] == c["current_rows"] == 6000


def test_csv_and_parquet_of_one_table_give_the_same_result(cli: Cli, tmp_path: Path) -> None:
    ref_pq, cur_pq = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    ref_csv, cur_tsv = tmp_path / "ref.csv", tmp_path / "cur.tsv"
    ref, cur = _mixed(3000, 1, 0.0), _mixed(3000, 2, 0.6)
    ref.to_parquet(ref_pq)
    cur.to_parquet(cur_pq)
    ref.to_csv(ref_csv, index=False)
    cur.to_csv(cur_tsv, index=False, sep="\t")
    a = json.loads(cli("drift", str(ref_pq), str(cur_pq), "--json").stdout)
    b = json.loads(cli("drift", str(ref_csv), str(cur_tsv), "--json").stdout)
    assert a["drifted_columns"] == b["drifted_columns"]
    stats = {c["name"]: (c["method"], c["statistic"]) for c in a["columns"]}
    assert {c["name"]: c["method"] for c in b["columns"]} == {k: v[0] for k, v in stats.items()}
    for col in b["columns"]:
        assert col["statistic"] == pytest.approx(stats[col["name"]][1], rel=1e-9)


def test_chunk_rows_must_be_positive(cli: Cli, files: dict[str, Path]) -> None:
    r = cli("drift", str(files["ref"]), str(files["calm"]), "--chunk-rows", "0")
    assert r.exit_code == 2
    assert "--chunk-rows" in r.output


@pytest.mark.slow
def test_a_table_drift_imports_neither_pandas_nor_scipy(tmp_path: Path) -> None:
    import subprocess
    import sys

    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    _mixed(20_000, 1, 0.0).to_parquet(ref)
    _mixed(20_000, 2, 1.0).to_parquet(cur)
    code = (
        "import sys\n"
        "from mloop.cli import main\n"
        f"sys.argv = ['mloop', 'drift', {str(ref)!r}, {str(cur)!r}, '--json']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    assert e.code == 1, e.code\n"
        "heavy = sorted(m for m in ('pandas', 'scipy') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "MLOOP_HOME": str(tmp_path / "home")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["dataset_drift"] is True


def test_parquet_by_column_and_whole_give_the_same_json(cli: Cli, tmp_path: Path) -> None:
    # Two Parquet files are compared a column at a time; --multivariate reads them whole.
    ref_pq, cur_pq = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    _mixed(3000, 1, 0.0).to_parquet(ref_pq)
    _mixed(3000, 2, 0.6).to_parquet(cur_pq)
    a = json.loads(cli("drift", str(ref_pq), str(cur_pq), "--json").stdout)
    b = json.loads(cli("drift", str(ref_pq), str(cur_pq), "--json", "--multivariate").stdout)
    for out in (a, b):
        out.pop("elapsed_s")
        out.pop("multivariate")
    assert a == b


def test_the_command_uses_a_pool_that_reuses_memory() -> None:
    import pyarrow as pa

    from mloop.cli._drift import use_lean_memory_pool

    name = use_lean_memory_pool()
    assert name == pa.default_memory_pool().backend_name
    assert name in ("jemalloc", "system", "mimalloc")  # mimalloc only when the env names it
