"""``mloop export docker``: the build context, its steps replayed in a fresh virtualenv, and
(where a Docker daemon and a base image are available) the image built and run."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest
from tests.export.conftest import BASE_IMAGE
from typer.testing import CliRunner

import mloop
from mloop.cli import app
from mloop.errors import InvalidArgument, MloopError, ModelIntegrityError
from mloop.export import build_image, export_docker

REPO = Path(__file__).resolve().parents[2]
#: Virtualenvs with the image's third-party requirements, kept between runs (git-ignored):
#: a cold run installs them (minutes), a warm one reinstalls only mloop's wheel.
VENV_CACHE = REPO / ".cache" / "test-docker-venvs"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_context_holds_a_pinned_non_root_image_of_the_verified_model(
    model_uri: str, fake_wheel: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ctx"
    ctx = export_docker(model_uri, out, mloop_wheel=fake_wheel)
    assert ctx.tag == "mloop-fraud-detector:1"
    assert ctx.model.pinned_uri == "models:/fraud-detector/1"
    assert sorted(p.name for p in out.iterdir()) == [
        ".dockerignore",
        "Dockerfile",
        "model",
        "requirements.txt",
        "wheels",
    ]
    # the model's files, exactly as registered
    loaded = mloop.models.load("models:/fraud-detector/1")
    for rel, digest in loaded.metadata.files.items():
        assert _sha(out / "model" / rel) == digest
    dockerfile = (out / "Dockerfile").read_text()
    python = ".".join(loaded.metadata.python_version.split(".")[:2])
    assert f"ARG BASE_IMAGE=python:{python}-slim" in dockerfile
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    assert "useradd --system --uid 10001" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*/readyz", dockerfile, re.M)
    assert dockerfile.rstrip().endswith(
        'CMD ["mloop", "serve", "fraud-detector=/srv/model", "--host", "0.0.0.0"]'
    )
    assert 'ai.mloop.model.uri="models:/fraud-detector/1"' in dockerfile
    assert (
        f'ai.mloop.model.manifest-sha256="{_sha(out / "model" / "mloop-model.yaml")}"' in dockerfile
    )
    reqs = [
        line
        for line in (out / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert reqs[0] == f"./wheels/{fake_wheel.name}[server]"
    assert (out / "wheels" / fake_wheel.name).read_bytes() == fake_wheel.read_bytes()
    for line in reqs[1:]:
        assert "==" in line, f"{line!r} is not pinned"
    names = {re.split(r"[=;]", line)[0] for line in reqs[1:]}
    assert {"scikit-learn", "numpy", "pandas", "fastapi", "uvicorn"} <= names
    for recorded in loaded.metadata.requirements:
        if not recorded.startswith("mloop"):
            assert recorded in reqs  # the model's own pins win


def test_a_tampered_model_is_not_exported(
    model_uri: str, fake_wheel: Path, tmp_path: Path, mloop_home: Path
) -> None:
    stored = next((mloop_home / "artifacts").rglob("model.skops"))
    stored.write_bytes(stored.read_bytes() + b"\0")
    out = tmp_path / "ctx"
    with pytest.raises(ModelIntegrityError, match=r"model\.skops"):
        export_docker(model_uri, out, mloop_wheel=fake_wheel)
    assert not out.exists()  # nothing half-written stays behind


def test_a_folder_with_files_is_refused(model_uri: str, fake_wheel: Path, tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidArgument, match="not an empty folder"):
        export_docker(model_uri, tmp_path / "ctx", mloop_wheel=fake_wheel)
    assert (tmp_path / "ctx" / "keep.txt").read_text() == "mine"


def test_cli_json_summary(model_uri: str, fake_wheel: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "export",
            "docker",
            model_uri,
            "-o",
            str(tmp_path / "ctx"),
            "--mloop-wheel",
            str(fake_wheel),
            "--base-image",
            "python:3.11-bookworm",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["pinned_uri"] == "models:/fraud-detector/1"
    assert summary["base_image"] == "python:3.11-bookworm"
    assert summary["built"] is False
    assert "ARG BASE_IMAGE=python:3.11-bookworm" in (tmp_path / "ctx" / "Dockerfile").read_text()


def test_build_says_what_is_missing(
    model_uri: str, fake_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = export_docker(model_uri, tmp_path / "ctx", mloop_wheel=fake_wheel)
    with pytest.raises(MloopError, match="not on PATH"):
        build_image(ctx.folder, ctx.tag, docker="mloop-no-such-docker")
    if shutil.which("docker") is not None:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
        with pytest.raises(MloopError, match="reachable Docker daemon"):
            build_image(ctx.folder, ctx.tag)


# -- the context's steps, replayed ---------------------------------------------------------------


def _venv_for(requirements: list[str]) -> Path:
    """A virtualenv with the third-party requirements installed (cached by their hash)."""
    third_party = sorted(r for r in requirements if not r.startswith("./wheels/"))
    key = hashlib.sha256("\n".join([sys.version, *third_party]).encode()).hexdigest()[:16]
    home = VENV_CACHE / key
    python = home / "bin" / "python"
    if not (home / ".complete").exists():
        shutil.rmtree(home, ignore_errors=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *third_party,
            ],
            check=True,
            timeout=1800,
        )
        (home / ".complete").touch()
    return home


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_contexts_steps_serve_the_model_in_a_fresh_virtualenv(
    model_uri: str, tmp_path: Path
) -> None:
    out = tmp_path / "ctx"
    ctx = export_docker(model_uri, out)  # builds a real wheel of this mloop
    home = _venv_for(ctx.requirements)
    python = home / "bin" / "python"
    # RUN python -m pip install --requirement /srv/requirements.txt  (WORKDIR /srv)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--force-reinstall",
            "--no-deps",
            *[str(w) for w in (out / "wheels").glob("*.whl")],
        ],
        check=True,
        timeout=600,
    )
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--requirement",
            "requirements.txt",
        ],
        cwd=out,
        check=True,
        timeout=1800,
    )
    dockerfile = (out / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    assert cmd[0] == "mloop"
    port = _free_port()
    # CMD, with the model where COPY put it and the port Vertex AI or Docker would give.
    argv = [str(home / "bin" / "mloop"), *cmd[1:]]
    argv[2] = argv[2].replace("/srv/model", str(out / "model"))
    env = {
        "PATH": f"{home / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MLOOP_HOME": str(tmp_path / "image-home"),
        "AIP_HTTP_PORT": str(port),
    }
    proc = subprocess.Popen(
        [*argv[:-2], "--host", "127.0.0.1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        healthcheck = re.search(r'CMD \["python", "-c", "(.*)"\]', dockerfile).group(1)  # type: ignore[union-attr]
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the server did not become healthy"
            # HEALTHCHECK, as Docker runs it inside the container
            check = subprocess.run([str(python), "-c", healthcheck], env=env, capture_output=True)
            if check.returncode == 0:
                break
            time.sleep(0.2)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/fraud-detector:predict",
            json={"records": [{"a": 2.0, "b": -1.0}, {"a": -2.0, "b": 1.0}]},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == [1, 0]
        # the image's environment has nothing of the test's: the mloop inside is the wheel's
        where = subprocess.run(
            [str(python), "-c", "import mloop; print(mloop.__file__)"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert str(home) in where.stdout
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=40)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# -- the image itself, where Docker can run ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.docker
def test_the_image_builds_and_serves(model_uri: str, tmp_path: Path) -> None:
    ctx = export_docker(model_uri, tmp_path / "ctx", base_image=BASE_IMAGE, tag="mloop-test:1")
    build_image(ctx.folder, ctx.tag)
    port = _free_port()
    run = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", ctx.tag],
        capture_output=True,
        text=True,
        check=True,
    )
    container = run.stdout.strip()
    try:
        deadline = time.monotonic() + 180
        while True:
            state = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if state == "healthy":
                break
            assert state in ("starting", ""), f"the container is {state}"
            assert time.monotonic() < deadline, "the container never became healthy"
            time.sleep(1)
        user = subprocess.run(
            ["docker", "exec", container, "id", "-u"], capture_output=True, text=True, check=True
        )
        assert user.stdout.strip() == "10001"
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/fraud-detector:predict",
            json={"records": [{"a": 2.0, "b": -1.0}]},
            timeout=10,
        )
        assert r.json()["predictions"] == [1]
    finally:
        subprocess.run(["docker", "stop", "-t", "35", container], capture_output=True)
