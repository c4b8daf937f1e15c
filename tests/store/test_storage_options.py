"""Object-storage configuration: which variables set what, in which order, the options each
filesystem is opened with, and the stores chosen per URL (the S3 server tests themselves are in
test_objectstore.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mloop._core import Settings
from mloop.errors import InvalidArgument
from mloop.store import ObjectArtifactStore, open_artifact_store, storage_options
from mloop.store._artifacts import FsspecArtifactStore, LocalArtifactStore
from mloop.store._context import load_default_settings

AWS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no mloop.toml
    for name in AWS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_usual_aws_variables_are_read(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    clean_env.setenv("AWS_SESSION_TOKEN", "t0ken-value")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://minio:9000")
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    settings = load_default_settings()
    s3 = storage_options(settings)["s3"]
    assert s3["key"] == "AKIAEXAMPLE" and s3["secret"] == "s3cr3t-value"
    assert s3["token"] == "t0ken-value" and s3["endpoint_url"] == "http://minio:9000"
    assert s3["client_kwargs"] == {"region_name": "eu-west-3"}
    assert s3["default_block_size"] == 50 * 1024 * 1024 and s3["use_listings_cache"] is False
    shown = repr(settings) + str(settings)
    assert "s3cr3t-value" not in shown and "t0ken-value" not in shown


def test_mloop_variables_win_over_aws_ones(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    clean_env.setenv("AWS_ENDPOINT_URL_S3", "http://s3-specific:2")
    clean_env.setenv("AWS_REGION", "us-west-2")
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert load_default_settings().s3_endpoint_url == "http://s3-specific:2"
    assert load_default_settings().aws_region == "us-west-2"
    clean_env.setenv("MLOOP_S3_ENDPOINT_URL", "http://mloop:3")
    clean_env.setenv("MLOOP_AWS_ACCESS_KEY_ID", "mine")
    clean_env.setenv("AWS_ACCESS_KEY_ID", "theirs")
    settings = load_default_settings()
    assert settings.s3_endpoint_url == "http://mloop:3" and settings.aws_access_key_id == "mine"
    # arguments win over everything
    assert load_default_settings(s3_endpoint_url="http://arg:4").s3_endpoint_url == "http://arg:4"


def test_storage_options_per_protocol(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(
        "MLOOP_STORAGE_OPTIONS",
        json.dumps({"gs": {"project": "p1"}, "s3": {"requester_pays": True, "key": "override"}}),
    )
    clean_env.setenv("MLOOP_UPLOAD_PART_SIZE", str(8 * 1024 * 1024))
    settings = load_default_settings(aws_access_key_id="from-settings")
    options = storage_options(settings)
    assert options["gs"] == {"use_listings_cache": False, "project": "p1"}
    assert options["s3"]["requester_pays"] is True and options["s3"]["key"] == "override"
    assert options["s3"]["default_block_size"] == 8 * 1024 * 1024
    assert options["az"] == {"use_listings_cache": False}
    assert "p1" not in repr(settings)  # storage options may hold secrets: not in the repr
    assert hash(settings) == hash(settings.model_copy())  # still hashable, with a dict inside


def test_a_part_size_below_s3s_minimum_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MLOOP_UPLOAD_PART_SIZE", "1024")
    with pytest.raises(InvalidArgument, match="upload_part_size"):
        load_default_settings()


def test_the_store_chosen_for_each_url(tmp_path: Path) -> None:
    assert isinstance(open_artifact_store(str(tmp_path / "a")), LocalArtifactStore)
    assert isinstance(open_artifact_store((tmp_path / "b").as_uri()), LocalArtifactStore)
    memory = open_artifact_store("memory://some/prefix")
    assert type(memory) is FsspecArtifactStore
    secret = Settings(aws_access_key_id="k", aws_secret_access_key="very-secret")
    s3 = open_artifact_store("s3://bucket/prefix", storage_options(secret))
    assert isinstance(s3, ObjectArtifactStore) and s3.bucket == "bucket"
    assert repr(s3) == "ObjectArtifactStore('s3://bucket/prefix')"
    # a chained URL takes each protocol's options under its name, and is a plain fsspec store
    cached = open_artifact_store(
        "simplecache::s3://bucket/prefix", {"s3": {"anon": True}, "simplecache": {}}
    )
    assert type(cached) is FsspecArtifactStore


def test_a_missing_filesystem_package_is_named() -> None:
    pytest.importorskip("s3fs")
    for uri, package in (("gs://bucket/x", "gcsfs"), ("az://container/x", "adlfs")):
        try:
            __import__(package)
        except ImportError:
            with pytest.raises(InvalidArgument, match=f"the package {package} is missing"):
                open_artifact_store(uri)


def test_mloop_toml_configures_object_storage(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "mloop.toml").write_text(
        'artifacts = "s3://mloop/artifacts"\n'
        's3_endpoint_url = "http://minio:9000"\n'
        'aws_region = "us-east-1"\n'
        "[storage_options.gs]\n"
        'project = "p"\n'
    )
    clean_env.setenv("AWS_ENDPOINT_URL", "http://from-env:1")  # mloop.toml wins over it
    settings = load_default_settings()
    assert settings.artifacts == "s3://mloop/artifacts"
    assert settings.s3_endpoint_url == "http://minio:9000" and settings.aws_region == "us-east-1"
    assert storage_options(settings)["gs"]["project"] == "p"


def test_one_shared_artifact_store_per_root_and_credentials() -> None:
    from mloop.store._context import close_stores, shared_artifacts

    alice = Settings(artifacts="s3://shared/root", aws_access_key_id="alice")
    bob = alice.model_copy(update={"aws_access_key_id": "bob"})
    assert shared_artifacts(alice) is shared_artifacts(alice.model_copy())
    assert shared_artifacts(alice) is not shared_artifacts(bob)
    close_stores()
