"""The tags mloop keeps for what MLflow has and mloop's records do not, shared by the
MLflow-compatible API (``mloop.server``) and the importer.

Tags starting with ``mloop.mlflow.`` are bookkeeping: the MLflow-compatible API leaves them
out of what MLflow clients see.

- A *logged model* (MLflow 3's ``LoggedModel``) is an mloop run, a child of the run that
  logged it, tagged :data:`LOGGED_MODEL_TAG`; its model id is ``m-<run id>`` (an imported one
  keeps its MLflow id in :data:`IMPORTED_MODEL_ID_TAG`) and its files are that run's artifacts.
- :data:`OUTPUT_TAG` ``+ <model id>`` on a run records MLflow's run outputs.
- :data:`SOURCE_TAG` and :data:`MODEL_ID_TAG` on a model version keep the source URI and model
  id MLflow registered (mloop's own ``source`` is a URI mloop resolves).
- ``mlflow.import.*`` tags name what the importer copied from (see ``mloop import mlflow``).
"""

from __future__ import annotations

INTERNAL_TAG = "mloop.mlflow."
LOGGED_MODEL_TAG = "mloop.mlflow.loggedModel"
MODEL_TYPE_TAG = "mloop.mlflow.modelType"
STATUS_MESSAGE_TAG = "mloop.mlflow.statusMessage"
OUTPUT_TAG = "mloop.mlflow.output."
SOURCE_TAG = "mloop.mlflow.source"
MODEL_ID_TAG = "mloop.mlflow.modelId"
MODEL_ID_PREFIX = "m-"

IMPORT_SOURCE_TAG = "mlflow.import.source"
IMPORT_EXPERIMENT_TAG = "mlflow.import.experimentId"
IMPORT_RUN_TAG = "mlflow.import.runId"
IMPORT_COMPLETE_TAG = "mlflow.import.complete"
IMPORTED_MODEL_ID_TAG = "mlflow.import.modelId"
IMPORT_VERSION_TAG = "mlflow.import.version"
