"""Artifacts on Azure Blob Storage through adlfs, against Azurite (Microsoft's emulator, a Node
program) on 127.0.0.1: a folder up, listed, down (several files at once, every byte checked),
and a write-once publish.

Azurite is found at ``MLOOP_AZURITE`` (the ``azurite-blob`` program), on the ``PATH``, or in
``.cache/azurite`` where ``make azurite`` installs it (``npm install``). Without it, or without
adlfs, the tests skip with the command that installs it (and fail under ``CI=true``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mloop.store import open_artifact_store
from mloop.store._objectstore import ObjectArtifactStore

pytestmark = pytest.mark.slow  # a server in a subprocess

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "make azurite (npm install --prefix .cache/azurite azurite@3.35.0)"
# Azurite's published development account (the same for every Azurite; not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _azurite() -> str | None:
    for candidate in (
        os.environ.get("MLOOP_AZURITE"),
        shutil.which("azurite-blob"),
        str(ROOT / ".cache" / "azurite" / "node_modules" / ".bin" / "azurite-blob"),
    ):
        if candidate and os.access(candidate, os.X_OK) and shutil.which("node"):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Azurite blob service; yields its connection string."""
    pytest.importorskip("adlfs", reason="adlfs is not installed: pip install -e '.[dev]'")
    exe = _azurite()
    if exe is None:
        pytest.skip(f"Azurite is not installed (needs Node and npm): {INSTALL}")
    port = _free_port()
    data = tmp_path_factory.mktemp("azurite")
    args = ["--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data)]
    args += ["--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"]
    proc = subprocess.Popen([exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):  # until it listens (a loaded machine may take a while)
            if proc.poll() is not None:
                raise RuntimeError(f"Azurite exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def _container(conn: str, name: str) -> None:
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(conn).create_container(name)


def test_a_model_folder_goes_up_and_comes_down_whole(azurite: str, tmp_path: Path) -> None:
    _container(azurite, "models")
    store = open_artifact_store("az://models/root", {"az": {"connection_string": azurite}})
    assert isinstance(store, ObjectArtifactStore)
    src = tmp_path / "model"
    blobs = {
        f"{'sub/' if i % 4 == 0 else ''}w{i:02d}.bin": os.urandom(10 + i * 501) for i in range(12)
    }
    for name, data in blobs.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    infos = store.put_dir(src, "model")
    assert len(infos) == len(blobs)
    assert {i.path for i in store.walk_files("model")} == {f"model/{n}" for n in blobs}
    out = store.download("model", tmp_path / "out")
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == blobs


def test_publish_writes_once_on_azure(azurite: str) -> None:
    _container(azurite, "segments")
    store = open_artifact_store("az://segments/log", {"az": {"connection_string": azurite}})
    assert store.publish(b"first", "seg/1.parquet") is True
    assert store.publish(b"second", "seg/1.parquet") is False
    with store.open("seg/1.parquet") as f:
        assert f.read() == b"first"
