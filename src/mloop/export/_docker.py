"""``export_docker``: a build context whose image runs ``mloop serve`` on one model.

The context::

    Dockerfile          FROM the base image; a non-root user; pip install; HEALTHCHECK
    requirements.txt    the model's recorded requirements and mloop's own, pinned
    model/              the model folder, every file's sha256 checked on the way
    wheels/             mloop itself when it is not a release on the package index
    .dockerignore

The image listens on 8080 (or ``AIP_HTTP_PORT``), answers ``/healthz``, ``/readyz``, ``/v1``,
the Open Inference Protocol v2 and ``/metrics``, and drains on SIGTERM. ``build_image`` runs
``docker build`` where a Docker daemon is reachable.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from mloop.errors import InvalidArgument, MloopError
from mloop.export._model import ExportedModel, fetch_model, k8s_name

__all__ = [
    "CONTAINER_PORT",
    "DRAIN_S",
    "MODEL_DIR",
    "UID",
    "DockerContext",
    "build_image",
    "export_docker",
    "image_requirements",
]

#: Where the image keeps the model, and the port ``mloop serve`` listens on in it.
MODEL_DIR = "/srv/model"
CONTAINER_PORT = 8080
#: The user the image runs as (not root).
UID = 10001
#: How long ``mloop serve`` lets requests in flight finish after SIGTERM.
DRAIN_S = 30
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class DockerContext:
    """A written build context."""

    folder: Path
    model: ExportedModel
    base_image: str
    tag: str
    requirements: list[str]

    def to_dict(self) -> dict[str, object]:
        return {
            "folder": str(self.folder),
            "model_uri": self.model.uri,
            "pinned_uri": self.model.pinned_uri,
            "model_name": self.model.name,
            "model_version": self.model.version,
            "base_image": self.base_image,
            "tag": self.tag,
            "requirements": self.requirements,
        }


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _mloop_dependencies(extras: tuple[str, ...] = ("server",)) -> list[str]:
    """mloop's own requirements (core and ``extras``), pinned to the versions installed here,
    with their environment markers kept."""
    out: list[str] = []
    for req in metadata.requires("mloop") or []:
        spec, _, marker = req.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        if extra is not None and extra.group(1) not in extras:
            continue
        marker = re.sub(r"\(?\s*extra\s*==\s*['\"][^'\"]+['\"]\s*\)?", "", marker)
        marker = re.sub(r"^\s*and\s+|\s+and\s*$", "", marker.strip()).strip()
        marker = marker.removeprefix("(").removesuffix(")") if marker.count("(") == 1 else marker
        match = _NAME.match(spec)
        if match is None:
            continue
        name = match.group(1)
        version = _installed(name)
        pinned = f"{name}=={version}" if version is not None else spec.strip()
        out.append(f"{pinned}; {marker}" if marker else pinned)
    return out


def image_requirements(model_requirements: list[str], mloop_spec: str) -> list[str]:
    """The image's requirements: the model's recorded ones, mloop's own (pinned as installed
    here), and ``mloop_spec`` for mloop itself. The model's pins win over mloop's for a
    package both name."""
    pins: dict[str, str] = {}
    for req in _mloop_dependencies():
        match = _NAME.match(req)
        if match is not None:
            pins[_normalize(match.group(1))] = req
    for req in model_requirements:
        match = _NAME.match(req)
        if match is None:
            raise InvalidArgument(f"the model records {req!r}, which is not a requirement")
        if _normalize(match.group(1)) == "mloop":
            continue
        pins[_normalize(match.group(1))] = req.strip()
    return [mloop_spec, *sorted(pins.values(), key=str.lower)]


def _mloop_source() -> tuple[str, Path | None]:
    """(the installed mloop's version, its source tree when installed editable from one)."""
    dist = metadata.distribution("mloop")
    direct = dist.read_text("direct_url.json")
    tree = None
    if direct:
        info = json.loads(direct)
        url = str(info.get("url", ""))
        if info.get("dir_info", {}).get("editable") and url.startswith("file://"):
            tree = Path(url[len("file://") :])
    return dist.version, tree


def _is_release(version: str) -> bool:
    return re.fullmatch(r"\d+(\.\d+)*", version) is not None


def _mloop_spec(context: Path, wheel: Path | None) -> str:
    """How the image installs mloop: a release from the index, or a wheel in the context."""
    wheels = context / "wheels"
    if wheel is not None:
        if not wheel.is_file() or wheel.suffix != ".whl":
            raise InvalidArgument(f"{str(wheel)!r} is not a wheel file")
        wheels.mkdir(exist_ok=True)
        shutil.copyfile(wheel, wheels / wheel.name)
        return f"./wheels/{wheel.name}[server]"
    version, tree = _mloop_source()
    if _is_release(version):
        return f"mloop[server]=={version}"
    if tree is None:
        raise InvalidArgument(
            f"mloop {version} is not a release on the package index and was not installed from "
            "a source tree: pass a wheel of it (--mloop-wheel PATH)"
        )
    wheels.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mloop-wheel-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp, str(tree)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        built = sorted(Path(tmp).glob("mloop-*.whl"))
        if proc.returncode != 0 or not built:
            raise MloopError(
                f"could not build a wheel of mloop from {tree}: {proc.stderr.strip()[-2000:]}"
            )
        shutil.copyfile(built[0], wheels / built[0].name)
    return f"./wheels/{built[0].name}[server]"


def _python_tag(version: str) -> str:
    parts = version.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else version


def dockerfile(model: ExportedModel, base_image: str) -> str:
    """The Dockerfile of a context (see the module docstring)."""
    served = f"{model.name}={MODEL_DIR}"
    labels = {
        "org.opencontainers.image.title": f"mloop serve {model.name}",
        "ai.mloop.model.uri": model.pinned_uri,
        "ai.mloop.model.manifest-sha256": model.manifest_sha256,
    }
    if model.version is not None:
        labels["ai.mloop.model.version"] = str(model.version)
    label_lines = " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
    probe = (
        "import os, urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:%s/readyz' % "
        f"os.environ.get('AIP_HTTP_PORT', '{CONTAINER_PORT}'), timeout=3)"
    )
    cmd = json.dumps(["mloop", "serve", served, "--host", "0.0.0.0"])
    return f"""\
# Built by `mloop export docker {model.uri}`: serves {model.pinned_uri} with mloop serve.
ARG BASE_IMAGE={base_image}
FROM ${{BASE_IMAGE}}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    MLOOP_HOME=/home/mloop/.mloop

# A user of its own: the server never runs as root.
RUN groupadd --system --gid {UID} mloop \\
 && useradd --system --uid {UID} --gid mloop --create-home --home-dir /home/mloop mloop

WORKDIR /srv
COPY requirements.txt /srv/requirements.txt
COPY wheels/ /srv/wheels/
RUN python -m pip install --requirement /srv/requirements.txt
COPY --chown={UID}:{UID} model/ {MODEL_DIR}/

LABEL {label_lines}

USER {UID}:{UID}
EXPOSE {CONTAINER_PORT}
# Healthy once the model is loaded and warmed (the port follows AIP_HTTP_PORT on Vertex AI).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \\
  CMD ["python", "-c", "{probe}"]
# SIGTERM drains: requests in flight finish (up to {DRAIN_S} s), then the server exits 0.
STOPSIGNAL SIGTERM
CMD {cmd}
"""


def export_docker(
    model_uri: str,
    out: Path,
    *,
    base_image: str | None = None,
    tag: str | None = None,
    mloop_wheel: Path | None = None,
) -> DockerContext:
    """Write a build context for an image that serves ``model_uri``.

    Args:
        model_uri: ``models:/name@alias`` (pinned to the version it names now),
            ``models:/name/3``, ``runs:/<id>/model`` or a model folder.
        out: the folder to write (created; it must be empty if it exists).
        base_image: a Debian-based image with Python and pip; default
            ``python:<the model's Python major.minor>-slim``.
        tag: the image tag ``build_image`` uses; default ``mloop-<name>:<version>``.
        mloop_wheel: a wheel of mloop to install; by default a release installs from the
            package index and a source checkout is built into a wheel.

    Raises:
        InvalidArgument: ``out`` is not empty; a bad wheel.
        ModelNotFound, ModelIntegrityError, RegistryError: see :func:`fetch_model`.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidArgument(f"{str(out)!r} exists and is not an empty folder")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        model = fetch_model(model_uri, out / "model")
        spec = _mloop_spec(out, mloop_wheel)
    except BaseException:
        # Nothing half-written stays behind: the folder is as it was (absent, or empty).
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for child in out.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    base = base_image or f"python:{_python_tag(model.metadata.python_version)}-slim"
    (out / "wheels").mkdir(exist_ok=True)
    requirements = image_requirements(list(model.metadata.requirements), spec)
    (out / "requirements.txt").write_text(
        f"# mloop export docker {model.uri}: the model's recorded requirements and mloop's\n"
        + "\n".join(requirements)
        + "\n",
        encoding="utf-8",
    )
    (out / "Dockerfile").write_text(dockerfile(model, base), encoding="utf-8")
    (out / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n", encoding="utf-8")
    version = model.version if model.version is not None else "latest"
    image_tag = tag or f"mloop-{k8s_name(model.name)}:{version}"
    return DockerContext(out, model, base, image_tag, requirements)


def build_image(context: Path, tag: str, *, docker: str = "docker") -> None:
    """``docker build -t TAG CONTEXT``; its output passes through.

    Raises:
        MloopError: no docker command, no reachable daemon, or the build failed.
    """
    exe = shutil.which(docker)
    if exe is None:
        raise MloopError(f"--build needs the {docker!r} command, which is not on PATH")
    info = subprocess.run([exe, "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        raise MloopError(
            "--build needs a reachable Docker daemon: `docker info` failed: "
            f"{info.stderr.strip()[-500:]}; build later with `docker build -t {tag} {context}`"
        )
    proc = subprocess.run([exe, "build", "-t", tag, str(context)], timeout=3600)
    if proc.returncode != 0:
        raise MloopError(f"docker build failed (exit {proc.returncode}); see its output above")
