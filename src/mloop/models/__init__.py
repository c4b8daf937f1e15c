"""Models: one folder format for every framework, signatures, and one ``predict`` to load them."""

from __future__ import annotations

from mloop.models._api import ModelInfo, load, log_model, save
from mloop.models._flavor import flavor_names
from mloop.models._format import FlavorSpec, ModelMetadata
from mloop.models._loaded import LoadedModel
from mloop.models._onnx import to_onnx
from mloop.models._pyfunc import PythonModel, PythonModelContext
from mloop.models._sign import sign
from mloop.models._signature import ColSpec, Signature, TensorSpec, infer_signature
from mloop.models._signing import TrustedKeys, generate_keypair

__all__ = [
    "ColSpec",
    "FlavorSpec",
    "LoadedModel",
    "ModelInfo",
    "ModelMetadata",
    "PythonModel",
    "PythonModelContext",
    "Signature",
    "TensorSpec",
    "TrustedKeys",
    "flavor_names",
    "generate_keypair",
    "infer_signature",
    "load",
    "log_model",
    "save",
    "sign",
    "to_onnx",
]
