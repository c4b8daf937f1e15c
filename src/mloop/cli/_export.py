"""``mloop export``: a model as a container build context, Kubernetes manifests or a Vertex AI
custom container."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli._output import emit_json, stdout

app = typer.Typer(
    help="Package a model for deployment: Docker, Kubernetes (and KServe), Vertex AI.",
    no_args_is_help=True,
)

ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL_URI",
        help="models:/name@alias (pinned to the version it names now), models:/name/3, "
        "runs:/<id>/model or a model folder.",
        show_default=False,
    ),
]
OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="The folder to write.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")]
BaseImage = Annotated[
    str | None,
    typer.Option(
        "--base-image",
        metavar="IMAGE",
        help="A Debian-based image with Python and pip \\[default: python:<the model's "
        "Python>-slim].",
        show_default=False,
    ),
]
MloopWheel = Annotated[
    Path | None,
    typer.Option(
        "--mloop-wheel",
        metavar="WHEEL",
        help="A wheel of mloop to install in the image \\[default: the release from the "
        "package index, or a wheel built from this source checkout].",
        show_default=False,
    ),
]


def _listing(folder: Path) -> str:
    return ", ".join(sorted(p.name for p in folder.iterdir()))


@app.command("docker")
def docker(
    ctx: typer.Context,
    model_uri: ModelArg,
    out: OutOption,
    base_image: BaseImage = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            "-t",
            help="The image tag \\[default: mloop-<name>:<version>].",
            show_default=False,
        ),
    ] = None,
    build: Annotated[
        bool, typer.Option("--build", help="Run docker build (needs a reachable Docker daemon).")
    ] = False,
    mloop_wheel: MloopWheel = None,
    as_json: JsonOption = False,
) -> None:
    """Write a Docker build context whose image serves the model with mloop serve.

    The image runs as a non-root user, listens on 8080 (or AIP_HTTP_PORT), reports health
    with a HEALTHCHECK on /readyz, and drains on SIGTERM.
    """
    from mloop.export import build_image, export_docker

    context = export_docker(model_uri, out, base_image=base_image, tag=tag, mloop_wheel=mloop_wheel)
    if build:
        build_image(context.folder, context.tag)
    summary: dict[str, Any] = {**context.to_dict(), "built": build}
    if as_json:
        emit_json(summary)
        return
    console = stdout()
    console.print(
        f"wrote [bold]{context.folder}[/] ({_listing(context.folder)}) for "
        f"{context.model.pinned_uri}"
    )
    if build:
        console.print(f"built [bold]{context.tag}[/]; run: docker run -p 8080:8080 {context.tag}")
    else:
        console.print(f"build: docker build -t {context.tag} {context.folder}")


@app.command("k8s")
def k8s(
    ctx: typer.Context,
    model_uri: ModelArg,
    out: OutOption,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="The image to run \\[default: the tag mloop export docker gives].",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Object names \\[default: the model's name].", show_default=False
        ),
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", show_default=False)] = None,
    replicas: Annotated[int, typer.Option("--replicas", min=1)] = 2,
    min_replicas: Annotated[int, typer.Option("--min-replicas", min=1)] = 2,
    max_replicas: Annotated[int, typer.Option("--max-replicas", min=1)] = 10,
    target_cpu: Annotated[
        int, typer.Option("--target-cpu", min=1, max=100, help="HPA target CPU utilization %.")
    ] = 70,
    cpu: Annotated[str, typer.Option("--cpu", help="CPU request.")] = "500m",
    cpu_limit: Annotated[str, typer.Option("--cpu-limit")] = "2",
    memory: Annotated[str, typer.Option("--memory", help="Memory request.")] = "512Mi",
    memory_limit: Annotated[str, typer.Option("--memory-limit")] = "2Gi",
    loop: Annotated[
        Path | None,
        typer.Option(
            "--loop",
            help="A loop.yaml for this model: adds a CronJob running `mloop loop run "
            "loop.yaml --once` and a ConfigMap with the loop's files.",
            show_default=False,
        ),
    ] = None,
    loop_schedule: Annotated[
        str, typer.Option("--loop-schedule", help="When the loop's CronJob ticks (cron).")
    ] = "* * * * *",
    as_json: JsonOption = False,
) -> None:
    """Write Kubernetes manifests: Deployment, Service, HPA, PodDisruptionBudget, and a KServe
    InferenceService (Open Inference Protocol). Apply with kubectl apply -k DIR.

    With --loop loop.yaml, also the loop controller as a CronJob (one tick per run, the
    lease in the store keeps one controller per loop); it reads the store the replicas follow
    from the optional Secret NAME-store (MLOOP_TRACKING_URI, MLOOP_ARTIFACTS).
    """
    from mloop.export import export_k8s

    files = export_k8s(
        model_uri,
        out,
        image=image,
        name=name,
        namespace=namespace,
        replicas=replicas,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_percent=target_cpu,
        cpu_request=cpu,
        cpu_limit=cpu_limit,
        memory_request=memory,
        memory_limit=memory_limit,
        loop_schedule=loop_schedule,
        loop=None if loop is None else _loop_bundle(loop),
    )
    if as_json:
        emit_json({"folder": str(out), "files": [str(f) for f in files]})
        return
    stdout().print(f"wrote [bold]{out}[/] ({', '.join(f.name for f in files)})")
    stdout().print(
        f"apply: kubectl apply -k {out}   (KServe: kubectl apply -f {out}/inferenceservice.yaml)"
    )


def _loop_bundle(path: Path) -> Any:
    """The loop.yaml (validated) and the files it names, relative to its folder."""
    from mloop.export import LoopBundle
    from mloop.loop import load_loop

    spec = load_loop(path)
    base = path.resolve().parent
    names = [spec.gate.policy] if spec.gate is not None else []
    if spec.monitor.checks:
        names.append(spec.monitor.checks)
    if spec.retrain is not None:
        file, _, _ = spec.retrain.pipeline.rpartition(":")
        if file.endswith(".py"):
            names.append(file)
    files = {"loop.yaml": path.read_text(encoding="utf-8")}
    for name in names:
        full = spec.path(name).resolve()
        files[os.path.relpath(full, base)] = full.read_text(encoding="utf-8")
    return LoopBundle(spec.name, spec.model, files)


@app.command("vertex")
def vertex(
    ctx: typer.Context,
    model_uri: ModelArg,
    out: OutOption,
    region: Annotated[str, typer.Option("--region")] = "us-central1",
    project: Annotated[
        str | None,
        typer.Option(
            "--project", help="\\[default: gcloud's configured project].", show_default=False
        ),
    ] = None,
    repository: Annotated[
        str, typer.Option("--repository", help="The Artifact Registry repository.")
    ] = "mloop",
    image: Annotated[
        str | None, typer.Option("--image", help="The full image URI.", show_default=False)
    ] = None,
    base_image: BaseImage = None,
    mloop_wheel: MloopWheel = None,
    as_json: JsonOption = False,
) -> None:
    """Write a Vertex AI custom container (a Docker build context) and vertex-upload.sh, which
    pushes the image and runs gcloud ai models upload."""
    from mloop.export import export_vertex

    result = export_vertex(
        model_uri,
        out,
        region=region,
        project=project,
        repository=repository,
        image=image,
        base_image=base_image,
        mloop_wheel=mloop_wheel,
    )
    if as_json:
        emit_json(result.to_dict())
        return
    console = stdout()
    console.print(f"wrote [bold]{out}[/] ({_listing(out)}) for {result.context.model.pinned_uri}")
    console.print(f"upload: {result.script}")
