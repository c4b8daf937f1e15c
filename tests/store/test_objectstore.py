"""Artifacts, models, datasets and the prediction log on S3, against a real S3-compatible server
(moto's standalone server in a subprocess, spoken to over HTTP): multipart uploads, listings
past a page, conditional publish, credentials read once from the environment, and the errors of
a missing bucket or refused credentials."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.s3server import S3Server, moto_server

import mloop
from mloop._core import Settings
from mloop._core._config import settings_from_json, settings_to_json
from mloop.errors import ArtifactNotFound, ModelIntegrityError, StoreUnavailable
from mloop.store import open_artifact_store, storage_options
from mloop.store._context import load_default_settings
from mloop.store._objectstore import ObjectArtifactStore

pytestmark = pytest.mark.slow  # a server in a subprocess

MiB = 1024 * 1024


def s3_settings(server: S3Server, **extra: Any) -> Settings:
    return Settings(
        s3_endpoint_url=server.endpoint,
        aws_access_key_id=server.key,
        aws_secret_access_key=server.secret,
        aws_region=server.region,
        **extra,
    )


def s3_store(server: S3Server, root: str, **extra: Any) -> ObjectArtifactStore:
    store = open_artifact_store(root, storage_options(s3_settings(server, **extra)))
    assert isinstance(store, ObjectArtifactStore)
    return store


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


class FailingStream(io.RawIOBase):
    """Yields ``size`` bytes, then fails: a network stream dropped halfway."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("the client went away")
        chunk = os.urandom(min(n, self.left))
        self.left -= len(chunk)
        return chunk


# -- the artifact store ------------------------------------------------------------------------


def test_a_file_above_the_threshold_goes_up_in_parts(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    store = s3_store(s3_server, f"s3://{bucket}/root", upload_part_size=5 * MiB)
    big = tmp_path / "big.bin"
    data = os.urandom(12 * MiB + 123)
    big.write_bytes(data)
    info = store.put_file(big, "weights/big.bin")
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    head = s3_server.client().head_object(Bucket=bucket, Key="root/weights/big.bin")
    # S3's ETag of a multipart object is "<md5 of the parts' md5s>-<number of parts>"
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == len(data)
    assert store.sha256("weights/big.bin") == info.sha256
    out = store.download("weights", tmp_path / "out")
    assert (out / "big.bin").read_bytes() == data

    small = store.put_stream(io.BytesIO(b"tiny"), "tiny.txt")
    head = s3_server.client().head_object(Bucket=bucket, Key="root/tiny.txt")
    assert "-" not in head["ETag"] and small.size == 4  # one PUT below the threshold


def test_a_failed_upload_publishes_nothing_and_aborts_its_parts(
    s3_server: S3Server, bucket: str
) -> None:
    store = s3_store(s3_server, f"s3://{bucket}/root", upload_part_size=5 * MiB)
    store.put_stream(io.BytesIO(b"before"), "model.bin")
    with pytest.raises(ConnectionResetError):
        store.put_stream(FailingStream(11 * MiB), "model.bin")  # two parts sent, then a failure
    with pytest.raises(ConnectionResetError):
        store.put_stream(FailingStream(1000), "fresh.bin")
    client = s3_server.client()
    assert client.get_object(Bucket=bucket, Key="root/model.bin")["Body"].read() == b"before"
    assert not store.exists("fresh.bin")
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["root/model.bin"]  # no temporary key, no partial object


def test_listing_goes_past_a_page(s3_server: S3Server, bucket: str) -> None:
    client = s3_server.client()
    names = [f"root/many/f{i:04d}.txt" for i in range(1_050)]  # ListObjectsV2 pages hold 1000
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"x"), names))
    client.put_object(Bucket=bucket, Key="root/many/sub/deep.txt", Body=b"deeper")
    store = s3_store(s3_server, f"s3://{bucket}/root")
    listed = store.list("many")
    assert len(listed) == 1_051
    assert listed[-1].path == "many/sub" and listed[-1].is_dir
    assert {i.size for i in listed[:-1]} == {1}
    files = store.walk_files("many")
    assert len(files) == 1_051 and files[-1].path == "many/sub/deep.txt" and files[-1].size == 6
    assert store.list("") == [store.list("")[0]] and store.list("")[0].path == "many"


class _MeetingStore(ObjectArtifactStore):
    """An S3 store whose first two file downloads wait for each other before fetching: a
    download that fetched one file at a time would never let them meet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meeting = threading.Barrier(2)
        self.threads: set[int] = set()
        self._calls = 0
        self._lock = threading.Lock()

    def _download_one(self, dst_real: str, rel: str) -> None:
        with self._lock:
            self._calls += 1
            first_two = self._calls <= 2
            self.threads.add(threading.get_ident())
        if first_two:
            # a serial download never brings the second call: the barrier times out and breaks
            with contextlib.suppress(threading.BrokenBarrierError):
                self.meeting.wait(timeout=30)
        super()._download_one(dst_real, rel)


def test_a_folder_comes_down_several_files_at_once_and_whole(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    client = s3_server.client()
    blobs = {
        f"model/{'sub/' if i % 3 == 0 else ''}f{i:02d}.bin": os.urandom(1 + i * 997)
        for i in range(24)
    }
    blobs["model/big/weights.bin"] = os.urandom(6 * MiB + 17)  # read in several blocks
    for name, data in blobs.items():
        client.put_object(Bucket=bucket, Key=f"root/{name}", Body=data)
    plain = s3_store(s3_server, f"s3://{bucket}/root")
    store = _MeetingStore(plain.root, plain.fs)
    out = store.download("model", tmp_path / "out")
    assert not store.meeting.broken  # two files were in flight together
    assert len(store.threads) > 1
    written = {
        p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }
    assert out == tmp_path / "out" / "model"
    assert {k: hashlib.sha256(v).hexdigest() for k, v in written.items()} == {
        k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()
    }


def test_a_file_missing_from_a_folder_download_fails_it(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    """A file listed but gone when fetched (deleted meanwhile) fails the download by its name,
    and no temporary file is left behind."""
    client = s3_server.client()
    for i in range(6):
        client.put_object(Bucket=bucket, Key=f"root/m/f{i}.txt", Body=b"x" * i)
    store = s3_store(s3_server, f"s3://{bucket}/root")
    dst = str(tmp_path / "out")
    os.makedirs(dst)
    with pytest.raises(FileNotFoundError):
        store._download_files(dst, [f"m/f{i}.txt" for i in range(6)] + ["m/gone.txt"])
    left = sorted(p.name for p in (tmp_path / "out" / "m").iterdir())
    assert all(name.startswith("f") for name in left), left  # no temporary file
    with pytest.raises(ArtifactNotFound, match="gone"):
        store.download("m/gone.txt", tmp_path / "again")


def test_publish_writes_once(s3_server: S3Server, bucket: str) -> None:
    store = s3_store(s3_server, f"s3://{bucket}/p")
    assert store.publish(b"first", "seg/1.parquet") is True
    assert store.publish(b"second", "seg/1.parquet") is False
    with store.open("seg/1.parquet") as f:
        assert f.read() == b"first"


def test_a_missing_bucket_is_named(s3_server: S3Server, tmp_path: Path) -> None:
    store = s3_store(s3_server, "s3://no-such-bucket-here/root")
    with pytest.raises(StoreUnavailable, match=r"bucket 'no-such-bucket-here' does not exist"):
        store.list("")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(StoreUnavailable, match="does not exist") as caught:
        store.put_file(tmp_path / "f.txt", "f.txt")
    assert "MLOOP_ARTIFACTS" in str(caught.value)
    names = [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]
    assert "no-such-bucket-here" not in names  # a write never creates a bucket


def test_a_missing_key_is_not_found(s3_server: S3Server, bucket: str) -> None:
    store = s3_store(s3_server, f"s3://{bucket}/root")
    assert store.list("") == []
    with pytest.raises(ArtifactNotFound, match=r"no artifact file at 'nope\.txt'"):
        store.open("nope.txt")


# -- credentials -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server() -> Iterator[S3Server]:
    """A moto server that checks signatures: an IAM user with an access key and a policy is
    made by the first three requests, after which every request must be signed by a known key."""
    pytest.importorskip("s3fs")
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "3"}) as server:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=server.endpoint,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            region_name=server.region,
        )
        iam.create_user(UserName="mloop")
        iam.put_user_policy(
            UserName="mloop",
            PolicyName="all",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="mloop")["AccessKey"]
        server.key, server.secret = key["AccessKeyId"], key["SecretAccessKey"]
        yield server


def test_credentials_come_from_the_aws_environment_once(
    auth_server: S3Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = auth_server.new_bucket()
    for name, value in auth_server.env().items():
        monkeypatch.setenv(name, value)
    settings = load_default_settings(artifacts=f"s3://{bucket}/root")
    assert settings.s3_endpoint_url == auth_server.endpoint
    assert settings.aws_access_key_id == auth_server.key
    assert auth_server.secret not in repr(settings)
    # a worker gets the secrets in its settings, not from its own environment
    assert settings_from_json(settings_to_json(settings)) == settings
    for name in auth_server.env():
        monkeypatch.delenv(name)  # read once: the stores get them as arguments from here on
    caplog.set_level(logging.DEBUG)
    with mloop.store.use(settings):
        artifacts = mloop.store.current().artifacts
        artifacts.put_stream(io.BytesIO(b"signed"), "hello.txt")
        assert artifacts.list("")[0].path == "hello.txt"
    body = auth_server.client().get_object(Bucket=bucket, Key="root/hello.txt")["Body"].read()
    assert body == b"signed"
    assert auth_server.secret not in caplog.text


def test_refused_credentials_are_named_and_never_shown(auth_server: S3Server) -> None:
    bucket = auth_server.new_bucket()
    bad = Settings(
        s3_endpoint_url=auth_server.endpoint,
        aws_access_key_id=auth_server.key,
        aws_secret_access_key="wrong-secret-0123456789",
    )
    store = open_artifact_store(f"s3://{bucket}/root", storage_options(bad))
    with pytest.raises(StoreUnavailable, match="refused the credentials") as caught:
        store.put_stream(io.BytesIO(b"x"), "x.txt")
    message = str(caught.value)
    assert "AWS_ACCESS_KEY_ID" in message and "wrong-secret" not in message
    unknown = bad.model_copy(update={"aws_access_key_id": "AKIANOSUCHKEY"})
    store = open_artifact_store(f"s3://{bucket}/root", storage_options(unknown))
    with pytest.raises(StoreUnavailable, match="refused the credentials"):
        store.list("")


# -- the domains on S3 -------------------------------------------------------------------------


@pytest.fixture
def on_s3(
    s3_server: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Settings]]:
    """The current store: a SQLite database, artifacts under ``s3://<bucket>/mlruns``."""
    from mloop.store import _context
    from mloop.tracking import _client, _fluent

    monkeypatch.chdir(tmp_path)
    settings = s3_settings(
        s3_server,
        home=tmp_path / "home",
        tracking_uri=f"sqlite:///{tmp_path / 'mloop.db'}",
        artifacts=f"s3://{bucket}/mlruns",
    )
    _fluent.reset()
    _context.set_default(settings)
    yield bucket, settings
    _fluent.reset()
    _client.close_writers()
    _context.close_stores()


def _keys(server: S3Server, bucket: str, prefix: str = "") -> list[str]:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_run_artifacts_on_s3(
    on_s3: tuple[str, Settings], s3_server: S3Server, tmp_path: Path
) -> None:
    bucket, _ = on_s3
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "a.txt").write_text("alpha")
    (tmp_path / "report" / "b.json").write_text('{"b": 1}')
    with mloop.start_run() as run:
        mloop.log_artifacts(tmp_path / "report", "report")
    client = mloop.Client()
    listed = client.list_artifacts(run.run_id, "report")
    assert [a.path for a in listed] == ["report/a.txt", "report/b.json"]
    stored = _keys(s3_server, bucket, "mlruns/")
    assert any(k.endswith(f"{run.run_id}/artifacts/report/a.txt") for k in stored), stored
    local = client.download_artifacts(run.run_id, "report", tmp_path / "down")
    assert (local / "a.txt").read_text() == "alpha"
    assert (local / "b.json").read_text() == '{"b": 1}'


def test_models_on_s3_are_verified(on_s3: tuple[str, Settings], s3_server: S3Server) -> None:
    from sklearn.linear_model import LogisticRegression

    import mloop.models

    bucket, settings = on_s3
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.9, 0.3]})
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    with mloop.start_run():
        info = mloop.models.log_model(model, input_example=x, registered_model_name="churn")
    for uri in (info.model_uri, "models:/churn/1"):  # runs:/ and models:/
        np.testing.assert_array_equal(mloop.models.load(uri).predict(x), model.predict(x))
    # damage the stored copy behind mloop's back: a fresh load refuses it
    key = next(k for k in _keys(s3_server, bucket) if k.endswith("/model/model.skops"))
    client = s3_server.client()
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    client.put_object(Bucket=bucket, Key=key, Body=body[:-10])
    import shutil

    shutil.rmtree(settings.home / "cache", ignore_errors=True)
    with pytest.raises(ModelIntegrityError, match="does not match its sha256"):
        mloop.models.load("models:/churn/1")


def test_datasets_on_s3(on_s3: tuple[str, Settings], s3_server: S3Server) -> None:
    import mloop.data

    bucket, _ = on_s3
    frame = pd.DataFrame({"id": np.arange(1_000), "age": np.arange(1_000) % 90})
    ds = mloop.data.register(frame, "people")
    assert ds.source.startswith(f"s3://{bucket}/mlruns/datasets/people/")
    assert f"mlruns/datasets/people/{ds.digest}.parquet" in _keys(s3_server, bucket)
    back = mloop.data.load("datasets:/people/1")
    pd.testing.assert_frame_equal(back.reset_index(drop=True), frame, check_dtype=False)


def test_the_prediction_log_on_s3(on_s3: tuple[str, Settings], s3_server: S3Server) -> None:
    from mloop.monitor import PredictionLog, RequestRows, read_predictions

    bucket, _ = on_s3
    artifacts = mloop.store.current().artifacts
    now = 1_796_000_000.0  # a fixed clock: 2026-11-29
    log = PredictionLog(artifacts, clock=lambda: now, max_rows_per_segment=50)
    log.start()
    for i in range(120):
        log.record(f"r{i}", now + i, "churn", "1", RequestRows(1, {"a": [i]}), [i % 2], 0.001)
    assert log.close(timeout=30)
    assert log.segments_written == 3 and log.rows_written == 120
    keys = _keys(s3_server, bucket, "mlruns/predictions/churn/")
    assert len(keys) == 3 and all(k.endswith(".parquet") for k in keys)
    frame = read_predictions(artifacts, "churn")
    assert len(frame) == 120 and sorted(frame["request_id"]) == sorted(f"r{i}" for i in range(120))


def test_pipeline_results_on_s3(on_s3: tuple[str, Settings], s3_server: S3Server) -> None:
    from mloop.pipeline._cache import CacheStore

    bucket, settings = on_s3
    cache = CacheStore(settings.artifacts)  # credentials from the current settings
    cache.write("pipeline-cache/k1/result.pkl", b"pickled")
    cache.write_json("pipeline-cache/k1/meta.json", {"sha256": "x"})
    assert cache.read("pipeline-cache/k1/result.pkl") == b"pickled"
    assert cache.read_json("pipeline-cache/k1/meta.json") == {"sha256": "x"}
    assert cache.read("pipeline-cache/nothing") is None
    assert "mlruns/pipeline-cache/k1/result.pkl" in _keys(s3_server, bucket)


def test_no_credentials_at_all_is_named(
    s3_server: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore's own chain finds nothing: no variables, no ~/.aws, no instance metadata
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = Settings(s3_endpoint_url=s3_server.endpoint, aws_region="eu-north-1")
    store = open_artifact_store(f"s3://{bucket}/root", storage_options(settings))
    with pytest.raises(StoreUnavailable, match="NoCredentialsError: Unable to locate credentials"):
        store.put_stream(io.BytesIO(b"x"), "a.txt")
