"""``mloop --artifacts s3://... server``: a real server process whose artifact root is a bucket of
a real S3 server (moto's), credentials from the usual AWS variables of its environment; clients
send and fetch artifacts and models through its API and hold no cloud credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.cli.test_cli_server import Server
from tests.s3server import S3Server

import mloop

pytestmark = pytest.mark.slow  # two servers in subprocesses

MLOOP = Path(sys.executable).with_name("mloop")


class S3BackedServer(Server):
    def __init__(self, home: Path, port: int, s3: S3Server, bucket: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        args = ["--artifacts", f"s3://{bucket}/mloop", "server", "--port", str(port)]
        self.proc = subprocess.Popen(
            [str(MLOOP), *args, "--log-level", "warning"],
            env={**os.environ, **s3.env(), "MLOOP_HOME": str(home), "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def s3_backed(
    mloop_home: Path, free_port: int, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    started: list[S3BackedServer] = []

    def start(bucket: str) -> S3BackedServer:
        server = S3BackedServer(mloop_home / "server", free_port, s3_server, bucket)
        started.append(server)
        server.wait_healthy()
        return server

    # the client side has no cloud credentials at all
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    yield start
    for server in started:
        server.stop()


def test_the_server_keeps_artifacts_and_models_in_the_bucket(
    s3_backed: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    bucket = s3_server.new_bucket()
    server = s3_backed(bucket)
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "roc.csv").write_text("fpr,tpr\n0,0\n1,1\n")
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.9, 0.3]})
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    with mloop.store.use(server.url, artifacts=str(tmp_path / "unused-locally")):
        with mloop.start_run() as run:
            mloop.log_artifacts(tmp_path / "plots", "plots")
            mloop.models.log_model(model, input_example=x, registered_model_name="churn")
        client = mloop.Client()
        assert [a.path for a in client.list_artifacts(run.run_id, "plots")] == ["plots/roc.csv"]
        local = client.download_artifacts(run.run_id, "plots/roc.csv", tmp_path / "down")
        assert local.read_text() == "fpr,tpr\n0,0\n1,1\n"
        loaded = mloop.models.load("models:/churn/1")
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))

    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert f"mloop/1/{run.run_id}/artifacts/plots/roc.csv" in keys
    assert f"mloop/1/{run.run_id}/artifacts/model/mloop-model.yaml" in keys
    assert not (tmp_path / "unused-locally").exists()
    # the REST API streams a file from the bucket
    got = httpx.get(f"{server.url}/api/v1/runs/{run.run_id}/artifacts/plots/roc.csv", timeout=30)
    assert got.status_code == 200 and got.text.startswith("fpr,tpr")


def test_a_missing_bucket_is_a_clear_503(s3_backed: Any) -> None:
    server = s3_backed("mloop-no-such-bucket")
    with mloop.store.use(server.url), mloop.start_run() as run:
        pass
    put = httpx.put(
        f"{server.url}/api/v1/runs/{run.run_id}/artifacts/a.txt", content=b"alpha", timeout=30
    )
    assert put.status_code == 503, put.text
    error = put.json()["error"]
    assert "bucket 'mloop-no-such-bucket' does not exist" in error["message"]
    assert "MLOOP_ARTIFACTS" in error["message"]
