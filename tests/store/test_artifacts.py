"""The artifact store contract, run on a local folder, on fsspec's local filesystem and on
fsspec's ``memory://``; plus the path rules and the symlink defences of the local store."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from mloop.errors import (
    ArtifactNotFound,
    InvalidArgument,
    NotFound,
    StoreError,
    UnsafeArtifactPath,
)
from mloop.store._artifacts import (
    CHUNK_SIZE,
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    safe_relpath,
)
from mloop.store._objectstore import open_artifact_store

UNSAFE_PATHS = [
    "../x",
    "a/../../x",
    "a/..",
    "..",
    "/etc/passwd",
    "C:\\x",
    "C:x",
    "\\\\server\\share\\x",
    "a\\b",
    "a\x00b",
    "a\nb",
    "a\x7fb",
    "x" * 1025,
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tmp_leftovers(store: ArtifactStore) -> list[str]:
    """Temporary files of unfinished writes, looked up behind the store's back."""
    if isinstance(store, LocalArtifactStore):
        return [str(p) for p in Path(store.root).rglob("*") if p.name.startswith(".mloop-tmp-")]
    assert isinstance(store, FsspecArtifactStore)
    return [p for p in store.fs.find(store._top) if p.rsplit("/", 1)[-1].startswith(".mloop-")]


@pytest.fixture(
    params=["local", "fsspec-file", "fsspec-memory", pytest.param("s3", marks=pytest.mark.slow)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield LocalArtifactStore(tmp_path / "root")
    elif request.param == "fsspec-file":
        yield FsspecArtifactStore((tmp_path / "root").as_uri())
    elif request.param == "s3":  # a real S3 server (moto's, in a subprocess)
        from mloop._core import Settings
        from mloop.store import storage_options

        server = request.getfixturevalue("s3_server")
        settings = Settings(
            s3_endpoint_url=server.endpoint,
            aws_access_key_id=server.key,
            aws_secret_access_key=server.secret,
        )
        yield open_artifact_store(f"s3://{server.new_bucket()}/root", storage_options(settings))
    else:
        memory = FsspecArtifactStore(f"memory://mloop-test-{uuid.uuid4().hex}")
        yield memory
        if memory.fs.exists(memory._top):
            memory.fs.rm(memory._top, recursive=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (src / "sub" / "deeper" / "c.json").write_bytes(b'{"c": 1}')
    return src


class FailingStream(io.RawIOBase):
    """Yields ``size`` bytes, then fails: a network stream dropped halfway."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("the client went away")
        chunk = b"z" * min(n, self.left)
        self.left -= len(chunk)
        return chunk


class CountingStream(io.BytesIO):
    """Records the size of every read, to prove the store reads in chunks."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, n: int | None = -1) -> bytes:
        self.asked.append(-1 if n is None else n)
        return super().read(n)


# -- safe_relpath ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a", "a"),
        ("./a/b.txt", "a/b.txt"),
        ("a/b/", "a/b"),
        ("a//b", "a/b"),
        ("a/./b", "a/b"),
        ("dir.with.dots/...", "dir.with.dots/..."),
        ("2024-01-01T10:00/m.json", "2024-01-01T10:00/m.json"),
        ("ünïcode/файл", "ünïcode/файл"),
        ("x" * 1024, "x" * 1024),
    ],
)
def test_safe_relpath_normalizes(raw: str, expected: str) -> None:
    assert safe_relpath(raw) == expected


@pytest.mark.parametrize("raw", UNSAFE_PATHS)
def test_safe_relpath_refuses(raw: str) -> None:
    with pytest.raises(UnsafeArtifactPath) as caught:
        safe_relpath(raw)
    assert isinstance(caught.value, InvalidArgument)
    assert "unsafe artifact path" in str(caught.value)
    assert caught.value.details["reason"] in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("../x", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:\\x", "backslash"),
        ("C:x", "drive"),
        ("\\\\srv\\share", "network"),
        ("a\x00b", "control character"),
        ("y" * 2000, "longer than 1024"),
    ],
)
def test_safe_relpath_says_why(raw: str, why: str) -> None:
    with pytest.raises(UnsafeArtifactPath, match=why):
        safe_relpath(raw)


def test_safe_relpath_needs_a_string() -> None:
    with pytest.raises(InvalidArgument, match="must be a string"):
        safe_relpath(b"a")  # type: ignore[arg-type]


# -- the contract, on every store --------------------------------------------------------------


def test_put_file_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    local = tmp_path / "model.pkl"
    data = os.urandom(5000)
    local.write_bytes(data)

    info = store.put_file(local, "model/model.pkl")

    assert info.path == "model/model.pkl"
    assert not info.is_dir
    assert info.size == len(data)
    assert info.sha256 == _sha(data)
    assert store.exists("model/model.pkl")
    assert store.exists("model")
    assert store.exists("")
    with store.open("model/model.pkl") as f:
        assert f.read() == data
    assert store.sha256("model/model.pkl") == _sha(data)
    assert store.sha256("./model//model.pkl") == _sha(data)


def test_put_replaces_an_existing_file(store: ArtifactStore) -> None:
    store.put_stream(io.BytesIO(b"first version, longer"), "f.txt")
    info = store.put_stream(io.BytesIO(b"second"), "f.txt")
    assert info.size == 6
    with store.open("f.txt") as f:
        assert f.read() == b"second"
    assert [i.path for i in store.list()] == ["f.txt"]


def test_put_stream_bigger_than_a_chunk(store: ArtifactStore) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 123)
    stream = CountingStream(data)

    info = store.put_stream(stream, "big/blob.bin")

    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert store.sha256("big/blob.bin") == info.sha256
    assert len(stream.asked) >= 3
    assert all(0 < n <= CHUNK_SIZE for n in stream.asked)
    with store.open("big/blob.bin") as f:
        assert f.read() == data


def test_put_empty_stream(store: ArtifactStore) -> None:
    info = store.put_stream(io.BytesIO(b""), "empty")
    assert (info.size, info.sha256) == (0, _sha(b""))
    with store.open("empty") as f:
        assert f.read() == b""


def test_put_dir_nested(store: ArtifactStore, tree: Path) -> None:
    infos = store.put_dir(tree, "data")

    assert [i.path for i in infos] == ["data/a.txt", "data/sub/b.bin", "data/sub/deeper/c.json"]
    for info in infos:
        local = tree / Path(info.path).relative_to("data")
        assert info.sha256 == _sha(local.read_bytes())
        assert info.size == local.stat().st_size
        assert store.sha256(info.path) == info.sha256


def test_put_dir_into_the_root(store: ArtifactStore, tree: Path) -> None:
    infos = store.put_dir(tree, "")
    assert [i.path for i in infos] == ["a.txt", "sub/b.bin", "sub/deeper/c.json"]


def test_list_gives_direct_children_sorted(store: ArtifactStore, tree: Path) -> None:
    store.put_dir(tree, "data")
    store.put_stream(io.BytesIO(b"0123456789"), "z.txt")
    store.put_stream(io.BytesIO(b"m"), "data/m.txt")

    root = store.list()
    assert [(i.path, i.is_dir) for i in root] == [("data", True), ("z.txt", False)]
    assert root[1].size == 10
    assert root[0].size is None

    data = store.list("data")
    assert [(i.path, i.is_dir, i.size) for i in data] == [
        ("data/a.txt", False, 5),
        ("data/m.txt", False, 1),
        ("data/sub", True, None),
    ]
    assert [i.path for i in store.list("data/sub/")] == ["data/sub/b.bin", "data/sub/deeper"]


def test_list_edges(store: ArtifactStore) -> None:
    assert store.list() == []
    assert store.walk_files() == []
    assert not store.exists("")
    store.put_stream(io.BytesIO(b"x"), "f")
    assert store.list("f") == []
    with pytest.raises(ArtifactNotFound, match="'missing'"):
        store.list("missing")
    with pytest.raises(ArtifactNotFound):
        store.walk_files("missing")


def test_walk_files(store: ArtifactStore, tree: Path) -> None:
    store.put_dir(tree, "data")
    store.put_stream(io.BytesIO(b"top"), "top.txt")

    assert [i.path for i in store.walk_files()] == [
        "data/a.txt",
        "data/sub/b.bin",
        "data/sub/deeper/c.json",
        "top.txt",
    ]
    sub = store.walk_files("data/sub")
    assert [(i.path, i.size, i.is_dir) for i in sub] == [
        ("data/sub/b.bin", 2560, False),
        ("data/sub/deeper/c.json", 8, False),
    ]
    assert [i.path for i in store.walk_files("top.txt")] == ["top.txt"]


def test_delete_a_file_and_a_folder(store: ArtifactStore, tree: Path) -> None:
    store.put_dir(tree, "data")
    store.put_stream(io.BytesIO(b"top"), "top.txt")

    assert store.delete("data/sub") is True
    assert [i.path for i in store.walk_files()] == ["data/a.txt", "top.txt"]
    assert store.delete("data/a.txt") is True
    assert not store.exists("data/a.txt")
    assert store.delete("data/a.txt") is False
    assert store.delete("nothing/here") is False
    with pytest.raises(InvalidArgument, match="root itself"):
        store.delete("")
    assert [i.path for i in store.walk_files()] == ["top.txt"]


def test_open_and_sha256_refuse_missing_and_folders(store: ArtifactStore) -> None:
    store.put_stream(io.BytesIO(b"x"), "dir/f")
    for path in ("nope", "dir/nope", "dir/f/below"):
        with pytest.raises(ArtifactNotFound, match=repr(path)) as caught:
            store.open(path)
        assert isinstance(caught.value, NotFound | FileNotFoundError)
        with pytest.raises(ArtifactNotFound):
            store.sha256(path)
        assert not store.exists(path)
    with pytest.raises(ArtifactNotFound, match="'dir'"):
        store.open("dir")
    with pytest.raises(ArtifactNotFound):
        store.sha256("")


def test_download_file(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_stream(io.BytesIO(b"weights"), "model/w.bin")
    dst = tmp_path / "dst"

    out = store.download("model/w.bin", dst)

    assert out == dst / "model" / "w.bin"
    assert out.read_bytes() == b"weights"
    assert sorted(p.name for p in dst.rglob("*")) == ["model", "w.bin"]


def test_download_folder(store: ArtifactStore, tree: Path, tmp_path: Path) -> None:
    store.put_dir(tree, "data")
    store.put_stream(io.BytesIO(b"other"), "other.txt")
    dst = tmp_path / "dst"

    out = store.download("data/sub", dst)

    assert out == dst / "data" / "sub"
    assert (out / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    assert (out / "deeper" / "c.json").read_bytes() == b'{"c": 1}'
    assert not (dst / "other.txt").exists()
    assert not (dst / "data" / "a.txt").exists()


def test_download_root_and_overwrite(store: ArtifactStore, tree: Path, tmp_path: Path) -> None:
    store.put_dir(tree, "")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "a.txt").write_bytes(b"stale")

    assert store.download("", dst) == dst
    assert (dst / "a.txt").read_bytes() == b"alpha"
    assert (dst / "sub" / "deeper" / "c.json").read_bytes() == b'{"c": 1}'
    assert not [p for p in dst.rglob("*") if p.name.startswith(".mloop-tmp-")]


def test_download_missing(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound, match="'nope/x'"):
        store.download("nope/x", tmp_path / "dst")
    assert store.download("", tmp_path / "empty") == tmp_path / "empty"
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_unsafe_paths_refused_everywhere(store: ArtifactStore, tmp_path: Path, path: str) -> None:
    local = tmp_path / "f"
    local.write_bytes(b"x")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "g").write_bytes(b"y")
    calls: dict[str, Any] = {
        "put_stream": lambda: store.put_stream(io.BytesIO(b"x"), path),
        "put_file": lambda: store.put_file(local, path),
        "put_dir": lambda: store.put_dir(folder, path),
        "open": lambda: store.open(path),
        "list": lambda: store.list(path),
        "walk_files": lambda: store.walk_files(path),
        "download": lambda: store.download(path, tmp_path / "dst"),
        "exists": lambda: store.exists(path),
        "sha256": lambda: store.sha256(path),
        "delete": lambda: store.delete(path),
    }
    for name, call in calls.items():
        with pytest.raises(UnsafeArtifactPath):
            call()
        assert not (tmp_path / "x").exists(), name
    assert store.walk_files() == []
    assert not (tmp_path / "dst").exists()


def test_failing_stream_leaves_no_partial_file(store: ArtifactStore) -> None:
    with pytest.raises(ConnectionResetError, match="went away"):
        store.put_stream(FailingStream(CHUNK_SIZE + 10), "out/partial.bin")
    assert not store.exists("out/partial.bin")
    assert [i.path for i in store.walk_files()] == []
    assert _tmp_leftovers(store) == []


def test_failing_stream_keeps_the_previous_version(store: ArtifactStore) -> None:
    store.put_stream(io.BytesIO(b"good"), "f.bin")
    with pytest.raises(ConnectionResetError):
        store.put_stream(FailingStream(3 * CHUNK_SIZE), "f.bin")
    with store.open("f.bin") as f:
        assert f.read() == b"good"
    assert [i.path for i in store.list()] == ["f.bin"]
    assert _tmp_leftovers(store) == []


def test_bad_destinations(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not the root"):
        store.put_stream(io.BytesIO(b"x"), "")
    with pytest.raises(InvalidArgument, match="reserved"):
        store.put_stream(io.BytesIO(b"x"), "a/.mloop-tmp-123")
    with pytest.raises(InvalidArgument, match="binary stream"):
        store.put_stream(io.StringIO("text"), "t.txt")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="not a file"):
        store.put_file(tmp_path, "x")
    with pytest.raises(InvalidArgument, match="not a folder"):
        store.put_dir(tmp_path / "missing", "x")
    assert store.walk_files() == []


def test_put_dir_refuses_unsafe_names_before_writing(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    (src / "back\\slash").write_bytes(b"b")
    with pytest.raises(UnsafeArtifactPath, match="backslash"):
        store.put_dir(src, "d")
    assert store.walk_files() == []


def test_no_move_filesystem_still_writes_whole_files(tmp_path: Path) -> None:
    class NoMoveFileSystem(MemoryFileSystem):
        protocol = "nomove"

        def mv(self, *args: Any, **kwargs: Any) -> None:
            raise NotImplementedError

    fs = NoMoveFileSystem()
    store = FsspecArtifactStore(f"/nomove-{uuid.uuid4().hex}", fs=fs)
    try:
        data = os.urandom(CHUNK_SIZE + 5)
        assert store.put_stream(io.BytesIO(data), "a/b").sha256 == _sha(data)
        assert store.sha256("a/b") == _sha(data)
        with pytest.raises(ConnectionResetError):
            store.put_stream(FailingStream(CHUNK_SIZE + 1), "a/c")
        assert [i.path for i in store.walk_files()] == ["a/b"]
        assert _tmp_leftovers(store) == []
    finally:
        fs.rm(store._top, recursive=True)


# -- local store: links and OS errors ----------------------------------------------------------


@pytest.fixture
def planted(tmp_path: Path) -> tuple[LocalArtifactStore, Path]:
    """A local store whose root holds links planted by someone else: ``evil_file`` and
    ``evil_dir`` point outside the root, ``good_link`` to a file inside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root = tmp_path / "root"
    store = LocalArtifactStore(root)
    store.put_stream(io.BytesIO(b"inside"), "ok/file.txt")
    (root / "ok" / "evil_file").symlink_to(outside / "secret.txt")
    (root / "evil_dir").symlink_to(outside, target_is_directory=True)
    (root / "good_link").symlink_to(root / "ok" / "file.txt")
    return store, outside


@pytest.mark.parametrize(
    "path", ["ok/evil_file", "evil_dir", "evil_dir/secret.txt", "evil_dir/new/deep.txt"]
)
def test_links_out_of_the_root_are_refused(
    planted: tuple[LocalArtifactStore, Path], tmp_path: Path, path: str
) -> None:
    store, outside = planted
    before = sorted(p.name for p in outside.rglob("*"))
    dst = tmp_path / "dst"
    src = tmp_path / "src"
    src.mkdir()
    (src / "pwned.txt").write_bytes(b"pwned")
    calls: dict[str, Any] = {
        "put_stream": lambda: store.put_stream(io.BytesIO(b"pwned"), path),
        "put_dir": lambda: store.put_dir(src, path),
        "open": lambda: store.open(path),
        "list": lambda: store.list(path),
        "walk_files": lambda: store.walk_files(path),
        "download": lambda: store.download(path, dst),
        "exists": lambda: store.exists(path),
        "sha256": lambda: store.sha256(path),
        "delete": lambda: store.delete(path),
    }
    for name, call in calls.items():
        with pytest.raises(UnsafeArtifactPath, match="outside the root"):
            call()
        assert (outside / "secret.txt").read_bytes() == b"secret", name
        assert sorted(p.name for p in outside.rglob("*")) == before, name
    assert not dst.exists()  # the refused download created nothing


def test_listing_a_folder_that_holds_an_escaping_link(
    planted: tuple[LocalArtifactStore, Path], tmp_path: Path
) -> None:
    store, _ = planted
    for call in (
        lambda: store.list("ok"),
        lambda: store.list(""),
        lambda: store.walk_files(""),
        lambda: store.walk_files("ok"),
        lambda: store.download("ok", tmp_path / "dst"),
        lambda: store.download("", tmp_path / "dst2"),
    ):
        with pytest.raises(UnsafeArtifactPath, match="outside the root"):
            call()
    assert not [p for p in tmp_path.rglob("secret.txt") if "outside" not in p.parts]


def test_links_inside_the_root_are_followed(planted: tuple[LocalArtifactStore, Path]) -> None:
    store, _ = planted
    with store.open("good_link") as f:
        assert f.read() == b"inside"
    assert store.sha256("good_link") == _sha(b"inside")


def test_a_root_reached_through_a_link_works(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    store = LocalArtifactStore(tmp_path / "alias")
    store.put_stream(io.BytesIO(b"x"), "a/b")
    assert (tmp_path / "real" / "a" / "b").read_bytes() == b"x"
    assert [i.path for i in store.walk_files()] == ["a/b"]


def test_download_refuses_links_in_the_destination(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_stream(io.BytesIO(b"payload"), "a/f.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "a").symlink_to(outside, target_is_directory=True)

    with pytest.raises(UnsafeArtifactPath, match="outside the root"):
        store.download("a/f.txt", dst)
    with pytest.raises(UnsafeArtifactPath):
        store.download("", dst)
    assert list(outside.iterdir()) == []


def test_download_replaces_a_link_file_instead_of_writing_through_it(
    store: ArtifactStore, tmp_path: Path
) -> None:
    store.put_stream(io.BytesIO(b"payload"), "f.txt")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"untouched")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "f.txt").symlink_to(victim)

    out = store.download("f.txt", dst)

    assert victim.read_bytes() == b"untouched"
    assert not out.is_symlink()
    assert out.read_bytes() == b"payload"


def test_put_dir_refuses_links_out_of_the_source(store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_bytes(b"secret")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    (src / "leak").symlink_to(tmp_path / "secret.txt")

    with pytest.raises(UnsafeArtifactPath, match=r"'leak'.*outside .*src'"):
        store.put_dir(src, "d")
    assert store.walk_files() == []


def test_put_dir_follows_links_inside_the_source_and_refuses_loops(
    store: ArtifactStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "real").mkdir(parents=True)
    (src / "real" / "f").write_bytes(b"f")
    (src / "alias").symlink_to(src / "real", target_is_directory=True)
    assert [i.path for i in store.put_dir(src, "")] == ["alias/f", "real/f"]

    (src / "real" / "loop").symlink_to(src, target_is_directory=True)
    with pytest.raises(InvalidArgument, match="loop"):
        store.put_dir(src, "again")


def test_a_file_where_a_folder_should_be(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    store.put_stream(io.BytesIO(b"x"), "f")
    store.put_stream(io.BytesIO(b"y"), "d/inner")
    with pytest.raises(InvalidArgument, match="'f' is a file, not a folder"):
        store.put_stream(io.BytesIO(b"z"), "f/g")
    with pytest.raises(InvalidArgument, match="a folder exists"):
        store.put_stream(io.BytesIO(b"z"), "d")
    assert [i.path for i in store.walk_files()] == ["d/inner", "f"]
    assert _tmp_leftovers(store) == []


def test_os_errors_become_store_errors(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    too_long = "n" * 300  # under the 1024-character path limit, over a file name's 255
    with pytest.raises(StoreError, match="could not write artifact") as caught:
        store.put_stream(io.BytesIO(b"x"), too_long)
    assert isinstance(caught.value.__cause__, OSError)
    assert "too long" in str(caught.value).lower()
    with pytest.raises(StoreError, match="could not read artifact") as caught:
        store.open(too_long)
    assert isinstance(caught.value.__cause__, OSError)
    assert not isinstance(caught.value, ArtifactNotFound)


def test_files_written_respect_the_umask(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    store.put_stream(io.BytesIO(b"x"), "f")
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "root" / "f").stat().st_mode & 0o777 == 0o666 & ~umask


# -- open_artifact_store -----------------------------------------------------------------------


def test_open_artifact_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = open_artifact_store(str(tmp_path / "a"))
    assert isinstance(local, LocalArtifactStore)
    assert local.root == str(tmp_path / "a")

    by_url = open_artifact_store((tmp_path / "b").as_uri())
    assert isinstance(by_url, LocalArtifactStore)
    assert by_url.root == str(tmp_path / "b")

    monkeypatch.chdir(tmp_path)
    relative = open_artifact_store("mlruns")
    assert isinstance(relative, LocalArtifactStore)
    assert relative.root == str(tmp_path / "mlruns")

    memory = open_artifact_store("memory://some/prefix")
    assert isinstance(memory, FsspecArtifactStore)
    assert memory.root == "memory://some/prefix"


@pytest.mark.parametrize("uri", ["", "nosuchprotocol://bucket/x"])
def test_open_artifact_store_refuses(uri: str) -> None:
    with pytest.raises(InvalidArgument):
        open_artifact_store(uri)
