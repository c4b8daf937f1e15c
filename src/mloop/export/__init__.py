"""Deployment: a model as a container build context, Kubernetes and KServe manifests, or a
Vertex AI custom container."""

from __future__ import annotations

from mloop.export._docker import DockerContext, build_image, export_docker
from mloop.export._k8s import K8sOptions, LoopBundle, export_k8s
from mloop.export._model import ExportedModel, fetch_model
from mloop.export._vertex import export_vertex

__all__ = [
    "DockerContext",
    "ExportedModel",
    "K8sOptions",
    "LoopBundle",
    "build_image",
    "export_docker",
    "export_k8s",
    "export_vertex",
    "fetch_model",
]
