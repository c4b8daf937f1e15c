"""``export_k8s``: Kubernetes manifests for an image of ``mloop export docker``.

One file per object, plus a ``kustomization.yaml`` that lists them (``kubectl apply -k DIR``):

- ``deployment.yaml``: the replicas; readiness on ``/readyz`` (200 once the model is warm),
  liveness on ``/healthz``, a startup probe that gives loading time, requests and limits,
  a non-root read-only container, and a termination grace that covers the server's drain
  (a ``preStop`` pause lets endpoints drop the pod before SIGTERM, then requests in flight get
  up to 30 s).
- ``service.yaml``: a ClusterIP Service on port 80.
- ``hpa.yaml``: a HorizontalPodAutoscaler on CPU utilization.
- ``pdb.yaml``: a PodDisruptionBudget that keeps one replica through voluntary disruptions.
- ``inferenceservice.yaml``: the same container as a KServe ``InferenceService`` speaking the
  Open Inference Protocol (v2), for clusters that run KServe (not listed in the kustomization).
- with a loop: ``loop-configmap.yaml`` (the ``loop.yaml`` and the files it names) and
  ``loop-cronjob.yaml``, a CronJob running ``mloop loop run loop.yaml --once`` in the same
  image on a schedule, one tick at a time (``concurrencyPolicy: Forbid``; the loop's lease in
  the store keeps one controller per loop anyway). The store the replicas follow comes from
  the optional Secret ``<name>-store`` (``MLOOP_TRACKING_URI``, ``MLOOP_ARTIFACTS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mloop.errors import InvalidArgument
from mloop.export._docker import CONTAINER_PORT, DRAIN_S, UID
from mloop.export._model import k8s_name

__all__ = ["PRESTOP_S", "K8sOptions", "LoopBundle", "export_k8s", "loop_manifests", "manifests"]

_LOOP_DIR = "/etc/mloop/loop"

#: Seconds a pod keeps serving after it is marked for termination, so that load balancers
#: stop sending to it before it drains.
PRESTOP_S = 5
_MLOOP_HOME = "/home/mloop/.mloop"


@dataclass(frozen=True)
class K8sOptions:
    """What the manifests ask of the cluster."""

    image: str
    name: str
    namespace: str | None = None
    replicas: int = 2
    min_replicas: int = 2
    max_replicas: int = 10
    target_cpu_percent: int = 70
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory_request: str = "512Mi"
    memory_limit: str = "2Gi"
    #: When the loop's CronJob ticks (cron syntax, the cluster's time zone).
    loop_schedule: str = "* * * * *"

    def __post_init__(self) -> None:
        if not self.image or any(c.isspace() for c in self.image):
            raise InvalidArgument(f"an image reference has no spaces, got {self.image!r}")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise InvalidArgument(
                f"replicas: need 1 <= min ({self.min_replicas}) <= max ({self.max_replicas})"
            )
        if not self.min_replicas <= self.replicas <= self.max_replicas:
            raise InvalidArgument(
                f"replicas ({self.replicas}) must lie between min and max replicas"
            )
        if not 1 <= self.target_cpu_percent <= 100:
            raise InvalidArgument("the target CPU utilization is a percentage (1-100)")
        if len(self.loop_schedule.split()) != 5:
            raise InvalidArgument(
                f"a loop schedule has five cron fields, such as '*/5 * * * *', "
                f"got {self.loop_schedule!r}"
            )


@dataclass(frozen=True)
class LoopBundle:
    """A loop for the CronJob: its name and model, and its files by path relative to the
    ``loop.yaml`` (which is ``loop.yaml`` itself, the gate policy, checks, the pipeline)."""

    name: str
    model: str
    files: dict[str, str]

    def __post_init__(self) -> None:
        if "loop.yaml" not in self.files:
            raise InvalidArgument("a loop bundle holds its loop.yaml")
        for path in self.files:
            parts = Path(path).parts
            if Path(path).is_absolute() or ".." in parts:
                raise InvalidArgument(
                    f"the loop names {path!r} outside its folder: the CronJob mounts only the "
                    "folder of loop.yaml; move the file beside it"
                )


def _labels(name: str, version: int | None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "inference",
        "app.kubernetes.io/managed-by": "mloop",
    }
    if version is not None:
        labels["app.kubernetes.io/version"] = str(version)
    return labels


def _container(opts: K8sOptions, kserve: bool) -> dict[str, Any]:
    def probe(path: str, **extra: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, **extra}

    container: dict[str, Any] = {
        "name": "kserve-container" if kserve else "serve",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": [{"name": "MLOOP_HOME", "value": _MLOOP_HOME}],
        "resources": {
            "requests": {"cpu": opts.cpu_request, "memory": opts.memory_request},
            "limits": {"cpu": opts.cpu_limit, "memory": opts.memory_limit},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "mloop-home", "mountPath": _MLOOP_HOME},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if kserve:  # KServe names the port itself and probes the container as it is told
        container["ports"] = [{"containerPort": CONTAINER_PORT, "protocol": "TCP"}]
        container["readinessProbe"] = {
            "httpGet": {"path": "/v2/health/ready", "port": CONTAINER_PORT}
        }
        return container
    container["startupProbe"] = probe("/readyz", periodSeconds=2, failureThreshold=150)
    container["readinessProbe"] = probe("/readyz", periodSeconds=5, failureThreshold=2)
    container["livenessProbe"] = probe("/healthz", periodSeconds=10, failureThreshold=3)
    container["lifecycle"] = {"preStop": {"sleep": {"seconds": PRESTOP_S}}}
    return container


def _pod_spec(opts: K8sOptions, kserve: bool = False) -> dict[str, Any]:
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # the pre-stop pause, then the drain, then a margin for the process to exit
        "terminationGracePeriodSeconds": PRESTOP_S + DRAIN_S + 5,
        "containers": [_container(opts, kserve)],
        "volumes": [
            {"name": "mloop-home", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }


def manifests(
    opts: K8sOptions, *, version: int | None = None, model_uri: str = ""
) -> dict[str, dict[str, Any]]:
    """The objects, by file name."""
    name = opts.name
    labels = _labels(name, version)
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "inference"}
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    if model_uri:
        meta["annotations"] = {"mloop.ai/model-uri": model_uri}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": opts.replicas,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": _pod_spec(opts),
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": opts.min_replicas,
            "maxReplicas": opts.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": opts.target_cpu_percent,
                        },
                    },
                }
            ],
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta,
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
    }
    kserve_pod = _pod_spec(opts, kserve=True)
    inference = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": meta,
        "spec": {
            "predictor": {
                "minReplicas": opts.min_replicas,
                "maxReplicas": opts.max_replicas,
                "scaleMetric": "cpu",
                "scaleTarget": opts.target_cpu_percent,
                # the Open Inference Protocol: /v2/models/{name}/infer, /v2/health/ready
                "protocolVersion": "v2",
                **kserve_pod,
            }
        },
    }
    return {
        "deployment.yaml": deployment,
        "service.yaml": service,
        "hpa.yaml": hpa,
        "pdb.yaml": pdb,
        "inferenceservice.yaml": inference,
    }


def _key(path: str) -> str:
    """A ConfigMap key for a relative path (keys allow no ``/``)."""
    return path.replace("/", "__")


def loop_manifests(opts: K8sOptions, loop: LoopBundle) -> dict[str, dict[str, Any]]:
    """The ConfigMap with the loop's files and the CronJob that ticks it, by file name."""
    name = f"{opts.name}-loop"
    labels = {
        "app.kubernetes.io/name": opts.name,
        "app.kubernetes.io/component": "loop-controller",
        "app.kubernetes.io/managed-by": "mloop",
    }
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {**meta, "annotations": {"mloop.ai/loop": loop.name}},
        "data": {_key(path): text for path, text in sorted(loop.files.items())},
    }
    pod = _pod_spec(opts)
    (container,) = pod["containers"]
    for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe", "lifecycle"):
        container.pop(key, None)
    container["name"] = "loop"
    container["command"] = ["mloop", "loop", "run", f"{_LOOP_DIR}/loop.yaml", "--once"]
    # The store the replicas follow (a shared database and artifact store): from a Secret.
    container["envFrom"] = [{"secretRef": {"name": f"{opts.name}-store", "optional": True}}]
    container["volumeMounts"].append({"name": "loop", "mountPath": _LOOP_DIR, "readOnly": True})
    pod["volumes"].append(
        {
            "name": "loop",
            "configMap": {
                "name": name,
                "items": [{"key": _key(p), "path": p} for p in sorted(loop.files)],
            },
        }
    )
    pod["restartPolicy"] = "Never"
    # A tick that is killed resumes at the next one; no drain to wait for.
    pod["terminationGracePeriodSeconds"] = 30
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {**meta, "annotations": {"mloop.ai/loop": loop.name}},
        "spec": {
            "schedule": opts.loop_schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 60,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {"metadata": {"labels": labels}, "spec": pod},
                }
            },
        },
    }
    return {"loop-configmap.yaml": configmap, "loop-cronjob.yaml": cronjob}


def export_k8s(
    model_uri: str,
    out: Path,
    opts: K8sOptions | None = None,
    *,
    image: str | None = None,
    name: str | None = None,
    loop: LoopBundle | None = None,
    **options: Any,
) -> list[Path]:
    """Write the manifests for ``model_uri`` into the folder ``out``; returns the files.

    The model is resolved (pinned to a version) but not copied: it lives in the image. The
    image defaults to the tag ``mloop export docker`` gives (``mloop-<name>:<version>``).

    With ``loop``, also its ConfigMap and CronJob (``mloop loop run --once``); the loop must
    act on the exported model.

    Raises:
        InvalidArgument: bad options; ``out`` holds files of another export; a loop on
            another model.
        RegistryError: a ``models:/`` URI names no version.
    """
    version: int | None = None
    served = name
    pinned = model_uri
    if model_uri.startswith("models:/"):
        from mloop.registry import resolve

        mv = resolve(model_uri)
        version, pinned = mv.version, mv.uri
        served = served or mv.name
    if served is None:
        served = Path(model_uri.rstrip("/")).name or "model"
    k8s = k8s_name(served)
    if opts is None:
        tag = image or f"mloop-{k8s}:{version if version is not None else 'latest'}"
        opts = K8sOptions(image=tag, name=k8s, **options)
    objects = manifests(opts, version=version, model_uri=pinned)
    resources = ["deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"]
    if loop is not None:
        model = served if model_uri.startswith("models:/") else None
        if model is not None and name is None and loop.model != model:
            raise InvalidArgument(
                f"loop {loop.name!r} acts on model {loop.model!r}, not on the exported {model!r}"
            )
        looped = loop_manifests(opts, loop)
        objects.update(looped)
        resources += list(looped)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for filename, obj in objects.items():
        path = out / filename
        path.write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
        files.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    path = out / "kustomization.yaml"
    path.write_text(yaml.safe_dump(kustomization, sort_keys=False), encoding="utf-8")
    files.append(path)
    return files
