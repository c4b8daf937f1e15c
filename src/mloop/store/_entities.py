"""The records a store reads and writes: experiments, runs, metrics, artifacts.

They are frozen pydantic models, so the same classes validate HTTP bodies, describe the OpenAPI
schema and travel between processes. Metric histories are columnar (numpy arrays), because a
history can hold millions of points.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import pandas as pd


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")


class LifecycleStage(StrEnum):
    """Soft deletion: a deleted experiment or run can be restored."""

    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(StrEnum):
    """Which lifecycle stages a listing shows."""

    ACTIVE = "active"
    DELETED = "deleted"
    ALL = "all"

    def stages(self) -> tuple[str, ...]:
        if self is ViewType.ALL:
            return (LifecycleStage.ACTIVE.value, LifecycleStage.DELETED.value)
        return (self.value,)


class RunStatus(StrEnum):
    """Where a run is in its life."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


class Experiment(_Record):
    """A named group of runs."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = Field(default_factory=dict)


class Metric(NamedTuple):
    """One point of a metric series."""

    key: str
    value: float
    step: int
    timestamp: int


class MetricValue(_Record):
    """The latest point of a metric, as shown on a run."""

    value: float
    step: int
    timestamp: int


class RunInfo(_Record):
    """A run's attributes."""

    run_id: str
    experiment_id: str
    run_name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    parent_run_id: str | None = None
    artifact_uri: str
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    user: str = ""


class RunData(_Record):
    """What was logged to a run: params, the latest value of each metric, tags."""

    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class Run(_Record):
    """A run: its attributes and its data."""

    info: RunInfo
    data: RunData = Field(default_factory=RunData)

    @property
    def run_id(self) -> str:
        return self.info.run_id


class RunsPage(_Record):
    """One page of a search; pass ``next_page_token`` back for the next one."""

    runs: list[Run]
    next_page_token: str | None = None


class ArtifactInfo(_Record):
    """A file or folder under a run's artifact root."""

    path: str
    is_dir: bool
    size: int | None = None
    sha256: str | None = None


class MetricHistory:
    """Every point of one metric of one run, ordered by step then timestamp.

    Columnar: ``steps``, ``timestamps`` (int64, ms) and ``values`` (float64) are numpy arrays of one
    length. Iterating yields :class:`Metric` points.
    """

    __slots__ = ("key", "steps", "timestamps", "values")

    def __init__(
        self, key: str, steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray
    ) -> None:
        if not len(steps) == len(timestamps) == len(values):
            raise ValueError("steps, timestamps and values must have one length")
        self.key = key
        self.steps = np.asarray(steps, dtype=np.int64)
        self.timestamps = np.asarray(timestamps, dtype=np.int64)
        self.values = np.asarray(values, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[Metric]:
        key = self.key
        for s, t, v in zip(
            self.steps.tolist(), self.timestamps.tolist(), self.values.tolist(), strict=True
        ):
            yield Metric(key, v, s, t)

    def __getitem__(self, i: int) -> Metric:
        return Metric(self.key, float(self.values[i]), int(self.steps[i]), int(self.timestamps[i]))

    def __repr__(self) -> str:
        return f"MetricHistory(key={self.key!r}, points={len(self)})"

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame with columns step, timestamp, value."""
        import pandas as pd

        return pd.DataFrame(
            {"step": self.steps, "timestamp": self.timestamps, "value": self.values}
        )

    def to_json_dict(self, *, arrays: bool = False) -> dict[str, Any]:
        """Columnar JSON; NaN and infinities as the strings "NaN", "Infinity", "-Infinity".

        Args:
            arrays: leave the columns numpy arrays where they hold only finite numbers, for a
                serializer that writes arrays itself (``orjson.OPT_SERIALIZE_NUMPY``, about
                five times faster than building lists first).
        """

        def column(a: np.ndarray) -> Any:
            # orjson writes C-contiguous arrays only; a column may be a view into a record array.
            return np.ascontiguousarray(a) if arrays else a.tolist()

        values: Any
        if np.isfinite(self.values).all():
            values = column(self.values)
        else:
            values = [_encode_float(v) for v in self.values.tolist()]
        return {
            "key": self.key,
            "steps": column(self.steps),
            "timestamps": column(self.timestamps),
            "values": values,
        }

    @classmethod
    def from_json_dict(cls, body: dict[str, Any]) -> MetricHistory:
        values = np.asarray(body["values"])  # numbers only: converted in one C loop
        if values.dtype.kind not in "biuf":  # "NaN", "Infinity", "-Infinity" among them
            values = np.asarray([_decode_float(v) for v in body["values"]], dtype=np.float64)
        return cls(
            body["key"],
            np.asarray(body["steps"], dtype=np.int64),
            np.asarray(body["timestamps"], dtype=np.int64),
            values,
        )


def _encode_float(v: float) -> float | str:
    if v != v:
        return "NaN"
    if v == float("inf"):
        return "Infinity"
    if v == float("-inf"):
        return "-Infinity"
    return v


def _decode_float(v: Any) -> float:
    if v is None:
        return float("nan")
    return float(v)


encode_float = _encode_float
decode_float = _decode_float


class ModelVersionStatus(StrEnum):
    """A version is READY to serve, or ARCHIVED (kept, never deleted, not assignable)."""

    READY = "READY"
    ARCHIVED = "ARCHIVED"


class ModelVersion(_Record):
    """One registered version of a model."""

    name: str
    version: int
    source: str
    run_id: str | None = None
    status: ModelVersionStatus = ModelVersionStatus.READY
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    creation_time: int
    last_update_time: int
    registered_by: str = Field(default="", description="the identity that registered it")

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


class RegisteredModel(_Record):
    """A named model with numbered versions and aliases."""

    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None
    creation_time: int
    last_update_time: int


class AuditEntry(_Record):
    """One change to the registry. The log is append-only: entries are never changed."""

    audit_id: int
    model_name: str
    version: int | None = None
    action: str
    actor: str = ""
    time: int
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""


class DatasetColumn(_Record):
    """One column of a dataset version: its name and its Arrow type (``int64``, ``string``,
    ``timestamp[us, tz=UTC]``, ...)."""

    name: str
    type: str


class DatasetVersion(_Record):
    """One registered, immutable version of a dataset.

    ``digest`` is the sha256 (hex) of the stored Parquet file, which is written in a canonical
    way: the same content gives the same digest, so registering it again finds this version.
    """

    name: str
    version: int
    digest: str
    source: str
    format: str = "parquet"
    num_rows: int
    num_columns: int
    columns: list[DatasetColumn] = Field(default_factory=list)
    size_bytes: int
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    creation_time: int

    @property
    def uri(self) -> str:
        """``datasets:/<name>/<version>``."""
        return f"datasets:/{self.name}/{self.version}"


class RunInput(_Record):
    """A dataset version a run read, and in which role (``context``: "train", "eval", ...)."""

    run_id: str
    dataset_name: str
    dataset_version: int
    digest: str
    context: str
    creation_time: int

    @property
    def dataset_uri(self) -> str:
        """``datasets:/<name>/<version>``."""
        return f"datasets:/{self.dataset_name}/{self.dataset_version}"


class DatasetCheck(_Record):
    """The stored outcome of data checks (``mloop data check``) run on a dataset version.

    Attributes:
        check_id: counts up across the store; a later check has a larger id.
        name, version: the dataset version that was checked.
        passed: every check passed.
        checks: what was checked against (the checks file's name, or ``checks``).
        num_rows: rows checked.
        num_checks, num_failed, num_errors: how many checks ran, failed, could not run.
        failures: each failing (or erroring) check as in ``CheckResult.to_dict()``: ``check``,
            ``column``, ``name``, ``status``, ``expected``, ``message``, ``failed_rows``,
            ``total_rows`` and up to 5 ``examples``.
        run_id: the run that was active when the checks ran, if any.
        actor: who ran them (the token's identity on a server with auth, else the user name).
        time: when, in ms since the epoch.
    """

    check_id: int
    name: str
    version: int
    passed: bool
    checks: str
    num_rows: int
    num_checks: int
    num_failed: int
    num_errors: int
    failures: list[dict[str, Any]] = Field(default_factory=list)
    run_id: str | None = None
    actor: str = ""
    time: int

    @property
    def num_passed(self) -> int:
        return self.num_checks - self.num_failed - self.num_errors

    @property
    def dataset_uri(self) -> str:
        """``datasets:/<name>/<version>``."""
        return f"datasets:/{self.name}/{self.version}"


class Deployment(_Record):
    """The deployment record of a registered model: the traffic split replicas follow.

    ``generation`` grows by one on every change; 0 means no record was ever written. ``spec`` is
    one ``ModelPolicy`` as JSON (``canary`` weights, ``sticky_key``, ``shadow``), or ``None``
    when there is no record or it was cleared: the served URI alone answers.
    """

    name: str
    generation: int = 0
    spec: dict[str, Any] | None = None
    updated_at: int | None = None
    actor: str = ""
    reason: str = ""


class LoopRecord(_Record):
    """The stored state of a loop: its state machine, context and lease."""

    name: str
    model_name: str
    state: str
    seq: int
    context: dict[str, Any] = Field(default_factory=dict)
    spec: dict[str, Any] = Field(default_factory=dict)
    lease_owner: str | None = None
    lease_expires: int | None = None
    created_at: int
    updated_at: int


class LoopTransition(_Record):
    """One transition of a loop, with why and the evidence (monitor result, run, gate report)."""

    transition_id: int
    loop_name: str
    seq: int
    from_state: str
    to_state: str
    reason: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    actor: str = ""
    time: int


class MonitorResult(_Record):
    """One monitor run of a loop: counts, label coverage, drift per column, verdicts."""

    result_id: int
    loop_name: str
    time: int
    status: str
    result: dict[str, Any] = Field(default_factory=dict)


class AlertDelivery(_Record):
    """One alert of a loop and what became of it (delivered, failed, deduplicated)."""

    alert_id: int
    loop_name: str
    condition: str
    sink: str
    status: str
    attempts: int
    error: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)
    time: int
