"""``mloop export vertex``: the container context and the upload script; the routes it declares
are the ones ``mloop serve`` answers under Vertex AI (tests/serve/test_vertex.py runs them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mloop.export import export_vertex
from mloop.export._vertex import HEALTH_ROUTE, PREDICT_ROUTE


def test_the_script_uploads_the_image_with_the_routes_serve_answers(
    model_uri: str, fake_wheel: Path, tmp_path: Path
) -> None:
    out = tmp_path / "vx"
    result = export_vertex(
        model_uri, out, project="acme", region="europe-west4", mloop_wheel=fake_wheel
    )
    assert result.image == "europe-west4-docker.pkg.dev/acme/mloop/fraud-detector:1"
    assert (out / "Dockerfile").is_file() and (out / "model" / "mloop-model.yaml").is_file()
    script = (out / "vertex-upload.sh").read_text()
    assert "IMAGE=europe-west4-docker.pkg.dev/acme/mloop/fraud-detector:1" in script
    assert 'docker push "$IMAGE"' in script
    assert "gcloud ai models upload" in script.replace(" \\\n  ", " ")
    for flag in (
        "--region=europe-west4",
        "--display-name=fraud-detector",
        '--container-image-uri="$IMAGE"',
        "--container-ports=8080",
        f"--container-health-route={HEALTH_ROUTE}",
        f"--container-predict-route={PREDICT_ROUTE}",
        "--project=acme",
    ):
        assert flag in script
    assert (out / "vertex-upload.sh").stat().st_mode & 0o111


@pytest.mark.slow
def test_the_script_is_valid_shell(model_uri: str, fake_wheel: Path, tmp_path: Path) -> None:
    export_vertex(model_uri, tmp_path / "vx", mloop_wheel=fake_wheel)
    sh = shutil.which("sh")
    assert sh is not None
    assert subprocess.run([sh, "-n", str(tmp_path / "vx" / "vertex-upload.sh")]).returncode == 0


def test_without_a_project_the_script_asks_gcloud(
    model_uri: str, fake_wheel: Path, tmp_path: Path
) -> None:
    result = export_vertex(model_uri, tmp_path / "vx", mloop_wheel=fake_wheel)
    script = (tmp_path / "vx" / "vertex-upload.sh").read_text()
    assert 'PROJECT="${PROJECT:-$(gcloud config get-value project)}"' in script
    assert 'IMAGE="us-central1-docker.pkg.dev/${PROJECT}/mloop/fraud-detector:1"' in script
    assert "--project" not in script
    assert result.to_dict()["upload_command"].startswith("gcloud ai models upload")


@pytest.mark.parametrize("route", [HEALTH_ROUTE, PREDICT_ROUTE])
def test_routes_are_paths(route: str) -> None:
    assert route.startswith("/") and " " not in route
