"""``export_vertex``: a Vertex AI custom container for a model, and the commands to upload it.

The build context is ``export_docker``'s; the image honours Vertex AI's contract (``mloop
serve`` reads ``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE`` and ``AIP_PREDICT_ROUTE``). Beside it,
``vertex-upload.sh`` builds and pushes the image to Artifact Registry and runs ``gcloud ai
models upload`` with the routes and port the image answers on.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from mloop.export._docker import CONTAINER_PORT, DockerContext, export_docker
from mloop.export._model import k8s_name

__all__ = ["HEALTH_ROUTE", "PREDICT_ROUTE", "VertexExport", "export_vertex"]

#: The routes the upload command declares; Vertex AI passes them to the container as
#: AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE.
HEALTH_ROUTE = "/vertex/health"
PREDICT_ROUTE = "/vertex/predict"


@dataclass(frozen=True)
class VertexExport:
    context: DockerContext
    image: str
    upload_command: list[str]
    script: Path

    def to_dict(self) -> dict[str, object]:
        return {
            **self.context.to_dict(),
            "image": self.image,
            "upload_command": shlex.join(self.upload_command),
            "script": str(self.script),
        }


def export_vertex(
    model_uri: str,
    out: Path,
    *,
    region: str = "us-central1",
    project: str | None = None,
    repository: str = "mloop",
    image: str | None = None,
    base_image: str | None = None,
    mloop_wheel: Path | None = None,
) -> VertexExport:
    """Write the container context and ``vertex-upload.sh`` into ``out``.

    Args:
        model_uri: as for :func:`~mloop.export.export_docker`.
        region, project, repository: where the image goes in Artifact Registry
            (``REGION-docker.pkg.dev/PROJECT/REPOSITORY/NAME:VERSION``); without a project the
            script reads it from ``gcloud config``.
        image: the full image URI instead.
    """
    context = export_docker(model_uri, out, base_image=base_image, mloop_wheel=mloop_wheel)
    model = context.model
    name = k8s_name(model.name)
    version = model.version if model.version is not None else "latest"
    project_ref = project or "${PROJECT}"
    image_uri = image or f"{region}-docker.pkg.dev/{project_ref}/{repository}/{name}:{version}"
    upload = [
        "gcloud",
        "ai",
        "models",
        "upload",
        f"--region={region}",
        f"--display-name={model.name}",
        f"--container-image-uri={image_uri}",
        f"--container-ports={CONTAINER_PORT}",
        f"--container-health-route={HEALTH_ROUTE}",
        f"--container-predict-route={PREDICT_ROUTE}",
    ]
    if project:
        upload.append(f"--project={project}")
    args = [
        '--container-image-uri="$IMAGE"'
        if part.startswith("--container-image-uri=")
        else shlex.quote(part)
        for part in upload
    ]
    if image or project:
        image_line = f"IMAGE={shlex.quote(image_uri)}"
        project_line = ""
    else:  # the project comes from gcloud's configuration when the script runs
        image_line = f'IMAGE="{image_uri}"'
        project_line = 'PROJECT="${PROJECT:-$(gcloud config get-value project)}"\n'
    command = " \\\n  ".join(args)
    script = out / "vertex-upload.sh"
    script.write_text(
        f"""#!/bin/sh
# Written by `mloop export vertex {model.uri}`: build and push the image of {model.pinned_uri},
# then register it as a Vertex AI model. Deploy it to an endpoint with
# `gcloud ai endpoints deploy-model`.
set -eu
cd "$(dirname "$0")"
{project_line}{image_line}
docker build -t "$IMAGE" .
docker push "$IMAGE"
{command}
""",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return VertexExport(context, image_uri, upload, script)
