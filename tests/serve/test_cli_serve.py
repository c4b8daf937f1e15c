"""``mloop serve``: a real process on a free port answering a predict, drained by SIGTERM."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from mloop_serve_testlib import MLOOP, mloop_serve, terminate

pytestmark = pytest.mark.slow  # a subprocess, a server or Ray in every test


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--workers", "2", "--no-batching"]], ids=["1", "2"])
def test_serve_answers_a_predict(tmp_path: Path, models_dir: Path, extra: list[str]) -> None:
    models = [f"churn={models_dir / 'reg'}", str(models_dir / "iris")]
    with mloop_serve(*models, *extra, env={"MLOOP_HOME": str(tmp_path)}) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        body = {"records": [{"a": 1.0, "b": 2}]}
        r = httpx.post(f"{url}/v1/models/churn:predict", json=body, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == [pytest.approx(21.0)]
        assert r.json()["model"] == {"name": "churn", "version": "1"}
        r = httpx.post(f"{url}/v1/models/iris:predict", json=body, timeout=10)
        assert r.json()["predictions"] == [1]
        err = terminate(proc)
    # SIGTERM is the orderly stop: drained, then exit 0 (with one worker or several).
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"listening on http://127.0.0.1:{port}" in err
    assert f"POST http://127.0.0.1:{port}/v1/models/churn:predict" in err
    assert f"http://127.0.0.1:{port}/metrics" in err
    # The prediction log is on by default; the drain flushed it to the artifact store.
    from mloop.serve import read_predictions
    from mloop.store import open_artifact_store

    logged = read_predictions(open_artifact_store(tmp_path / "artifacts"), "churn")
    assert logged["input.a"].tolist() == [1.0]
    assert logged["output"].tolist() == [pytest.approx(21.0)]


def test_serve_bad_uri_fails_clearly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(MLOOP), "serve", str(tmp_path / "nothing"), "--port", "0"],
        env={**os.environ, "MLOOP_HOME": str(tmp_path), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "error:" in proc.stderr
    assert "nothing" in proc.stderr
