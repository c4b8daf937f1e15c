"""Interoperability: MLflow's stores imported into mloop, and the tags both sides share."""

from __future__ import annotations

from mloop.interop._mlflow_import import ImportSummary, import_mlflow

__all__ = ["ImportSummary", "import_mlflow"]
