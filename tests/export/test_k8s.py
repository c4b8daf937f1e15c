"""``mloop export k8s``: manifests checked against Kubernetes' published OpenAPI schemas
(kubernetes-validate, offline, strict: unknown fields are errors), and against what the
server does (probes, drain)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from mloop.cli import app
from mloop.cli._serve import _GRACEFUL_S
from mloop.errors import InvalidArgument
from mloop.export import K8sOptions, export_k8s
from mloop.export._docker import DRAIN_S
from mloop.export._k8s import PRESTOP_S

K8S_VERSION = "1.37.0"
# Fields of KServe's predictor that are not part of a Kubernetes PodSpec.
KSERVE_PREDICTOR_FIELDS = {
    "minReplicas",
    "maxReplicas",
    "scaleMetric",
    "scaleTarget",
    "protocolVersion",
}


def _load(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))}


def _validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_manifests_are_valid_kubernetes(model_uri: str, tmp_path: Path) -> None:
    files = export_k8s(model_uri, tmp_path / "k8s", namespace="ml")
    assert sorted(f.name for f in files) == [
        "deployment.yaml",
        "hpa.yaml",
        "inferenceservice.yaml",
        "kustomization.yaml",
        "pdb.yaml",
        "service.yaml",
    ]
    objects = _load(tmp_path / "k8s")
    for name in ("deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"):
        _validate(objects[name])
    kustomization = objects["kustomization.yaml"]
    assert kustomization["resources"] == ["deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"]
    for obj in objects.values():
        if "metadata" in obj:
            assert obj["metadata"]["name"] == "fraud-detector"
            assert obj["metadata"]["namespace"] == "ml"


def test_a_schema_violation_would_be_caught(model_uri: str, tmp_path: Path) -> None:
    export_k8s(model_uri, tmp_path / "k8s")
    deployment = _load(tmp_path / "k8s")["deployment.yaml"]
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


def test_the_deployment_matches_what_mloop_serve_does(model_uri: str, tmp_path: Path) -> None:
    export_k8s(model_uri, tmp_path / "k8s", cpu_request="250m", memory_request="256Mi")
    objects = _load(tmp_path / "k8s")
    deployment = objects["deployment.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "mloop-fraud-detector:1"  # the tag `export docker` gives
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "256Mi"}
    # the grace covers the pre-stop pause and the server's whole drain
    assert DRAIN_S == _GRACEFUL_S
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == PRESTOP_S
    assert pod["terminationGracePeriodSeconds"] > PRESTOP_S + _GRACEFUL_S
    security = container["securityContext"]
    assert security["runAsNonRoot"] and security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/home/mloop/.mloop"} <= mounts  # the writable places the server needs
    assert deployment["metadata"]["annotations"]["mloop.ai/model-uri"] == "models:/fraud-detector/1"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "1"
    service = objects["service.yaml"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = objects["hpa.yaml"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "fraud-detector"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    pdb = objects["pdb.yaml"]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_the_kserve_inference_service_speaks_the_open_inference_protocol(
    model_uri: str, tmp_path: Path
) -> None:
    export_k8s(model_uri, tmp_path / "k8s", image="registry.example/fraud:1")
    isvc = _load(tmp_path / "k8s")["inferenceservice.yaml"]
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    predictor = isvc["spec"]["predictor"]
    assert predictor["protocolVersion"] == "v2"
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == "registry.example/fraud:1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    # KServe's predictor extends a PodSpec: what is not KServe's own must be a valid PodSpec.
    pod_spec = {k: v for k, v in predictor.items() if k not in KSERVE_PREDICTOR_FIELDS}
    _validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec})


def test_bad_options_are_refused(model_uri: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="min"):
        export_k8s(model_uri, tmp_path / "k8s", min_replicas=5, max_replicas=2, replicas=3)
    with pytest.raises(InvalidArgument, match="image"):
        K8sOptions(image="has space", name="x")


def test_cli_writes_the_manifests(model_uri: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["export", "k8s", model_uri, "-o", str(tmp_path / "k8s"), "--replicas", "3", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert len(summary["files"]) == 6
    assert _load(tmp_path / "k8s")["deployment.yaml"]["spec"]["replicas"] == 3
    bad = CliRunner().invoke(app, ["export", "k8s", "models:/nope@x", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 1
    assert "nope" in bad.output


LOOP = """\
name: fraud-loop
model: {model}
monitor: {{every: 10m, window: 1h}}
retrain:
  pipeline: flows/train.py:train
  on: [drift]
gate: {{policy: gate.yaml}}
rollout: {{steps: [50, 100], hold: 5m}}
"""


def _loop_folder(folder: Path, model: str = "fraud-detector", gate: str = "gate.yaml") -> Path:
    (folder / "flows").mkdir(parents=True)
    (folder / "flows" / "train.py").write_text(
        "import mloop\n\n\n@mloop.pipeline\ndef train(data: str):\n    return data\n"
    )
    (folder / "gate.yaml").write_text("rules:\n  - accuracy >= champion.accuracy\n")
    path = folder / "my-loop.yaml"
    path.write_text(LOOP.format(model=model).replace("gate.yaml", gate))
    return path


def test_a_loop_adds_a_valid_cronjob_that_ticks_it_once(model_uri: str, tmp_path: Path) -> None:
    from mloop.loop import load_loop

    path = _loop_folder(tmp_path / "loop")
    out = tmp_path / "k8s"
    result = CliRunner().invoke(
        app,
        [
            *("export", "k8s", model_uri, "-o", str(out), "-n", "ml", "--loop", str(path)),
            *("--loop-schedule", "*/5 * * * *", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    objects = _load(out)
    cronjob, configmap = objects["loop-cronjob.yaml"], objects["loop-configmap.yaml"]
    _validate(cronjob)
    _validate(configmap)
    assert objects["kustomization.yaml"]["resources"][-2:] == [
        "loop-configmap.yaml",
        "loop-cronjob.yaml",
    ]
    spec = cronjob["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"  # one tick at a time
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["mloop", "loop", "run", "/etc/mloop/loop/loop.yaml", "--once"]
    assert (
        container["image"]
        == objects["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    assert container["envFrom"] == [
        {"secretRef": {"name": "fraud-detector-store", "optional": True}}
    ]
    assert pod["restartPolicy"] == "Never"
    assert cronjob["metadata"]["namespace"] == configmap["metadata"]["namespace"] == "ml"
    # What the pod sees: the ConfigMap's items at their paths. The loop loads from there.
    mount = tmp_path / "mounted"
    (volume,) = [v for v in pod["volumes"] if v["name"] == "loop"]
    for item in volume["configMap"]["items"]:
        target = mount / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(configmap["data"][item["key"]])
    assert sorted(p.relative_to(mount).as_posix() for p in mount.rglob("*.*")) == [
        "flows/train.py",
        "gate.yaml",
        "loop.yaml",
    ]
    loaded = load_loop(mount / "loop.yaml")
    assert (loaded.name, loaded.model) == ("fraud-loop", "fraud-detector")


def test_a_loop_on_another_model_or_outside_its_folder_is_refused(
    model_uri: str, tmp_path: Path
) -> None:
    other = _loop_folder(tmp_path / "a", model="churn")
    bad = CliRunner().invoke(
        app, ["export", "k8s", model_uri, "-o", str(tmp_path / "k8s"), "--loop", str(other)]
    )
    assert bad.exit_code == 1
    assert "acts on model 'churn', not on the exported 'fraud-detector'" in bad.output
    (tmp_path / "shared.yaml").write_text("rules:\n  - accuracy >= 0.5\n")
    outside = _loop_folder(tmp_path / "b", gate="../shared.yaml")
    bad = CliRunner().invoke(
        app, ["export", "k8s", model_uri, "-o", str(tmp_path / "k8s"), "--loop", str(outside)]
    )
    assert bad.exit_code == 1
    assert "outside its folder" in bad.output
    with pytest.raises(InvalidArgument, match="five cron fields"):
        K8sOptions(image="x", name="x", loop_schedule="hourly")
