"""``loop.yaml``: the declaration of one closed loop, validated with pydantic.

::

    name: churn
    model: churn                       # registered model; the loop moves @challenger, @champion
    monitor:
      every: 10m                       # schedule of monitor runs
      window: 1h                       # how much of the prediction log one run reads
      reference: training              # the champion's reference profile, or datasets:/...
      drift: {share: 0.3}              # any option of `mloop drift`, per column too
      checks: checks.yaml              # data checks on live inputs
      performance: {metric: roc_auc, min_labels: 200, max_drop: 0.05}
      estimated: true                  # estimate performance before labels arrive
    retrain:
      pipeline: flows/churn.py:train
      params: {window_days: 7}
      on: [drift, performance, schedule]
      cooldown: 6h
    gate: {policy: gate.yaml}
    rollout:
      steps: [10, 50, 100]
      hold: 15m
      analysis:
        - error_rate <= champion.error_rate + 0.01
      on_fail: rollback
    alerts:
      - webhook: https://hooks.example/ml

A mistake is an :class:`~mloop.errors.InvalidLoop` that names the file, the line and column,
the key and what was expected, for every mistake at once.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from mloop.errors import InvalidLoop

__all__ = [
    "AlertSpec",
    "GateSpec",
    "LoopSpec",
    "MonitorSpec",
    "PerformanceSpec",
    "RetrainSpec",
    "RolloutSpec",
    "load_loop",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
TRIGGERS = ("drift", "performance", "checks", "schedule")


def parse_duration(value: Any) -> int:
    """A duration as milliseconds: ``"90s"``, ``"10m"``, ``"1.5h"``, ``"7d"``, ``"250ms"``, or a
    number of seconds.

    Raises:
        ValueError: not a positive duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 10m, got {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"a duration must be positive, got {value!r}")
        return int(value * 1000)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            ms = int(float(m.group(1)) * _UNIT_MS[m.group(2)])
            if ms > 0:
                return ms
    raise ValueError(f"expected a duration such as 30s, 10m, 6h or 7d, got {value!r}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _durations(cls, value: Any, info: ValidationInfo) -> Any:
        # Fields named *_ms are durations: "10m", "6h", or seconds.
        if info.field_name is not None and info.field_name.endswith("_ms") and value is not None:
            return parse_duration(value)
        return value

    @field_serializer("*")
    def _dump_durations(self, value: Any, info: FieldSerializationInfo) -> Any:
        # Durations are written as "<n>ms" so that the dump reads back as the same spec.
        if info.field_name.endswith("_ms") and isinstance(value, int):
            return f"{value}ms"
        return value


class PerformanceSpec(_Spec):
    """Realized performance on joined feedback labels."""

    metric: str = Field(min_length=1)
    min_labels: int = Field(default=100, ge=1)
    #: Retrain when the metric falls more than this below the champion's training value.
    max_drop: float = Field(default=0.05, ge=0, allow_inf_nan=False)
    #: The prediction-log column compared with the label (default ``output``).
    output: str = "output"


class MonitorSpec(_Spec):
    every_ms: int = Field(alias="every")
    window_ms: int = Field(alias="window")
    reference: str = "training"
    drift: dict[str, Any] = Field(default_factory=dict)
    checks: str | None = None
    performance: PerformanceSpec | None = None
    estimated: bool = False
    #: Fewer logged rows than this in the window: the run is recorded as skipped.
    min_rows: int = Field(default=100, ge=1)
    #: Where new segments of the log are profiled: threads here, or Ray tasks.
    engine: Literal["local", "ray"] = "local"
    #: After each monitor run, the days of the model's prediction log older than this are
    #: removed, with the partials of their segments (default: kept).
    retention_ms: int | None = Field(default=None, alias="retention")

    @model_validator(mode="after")
    def _retention(self) -> MonitorSpec:
        if self.retention_ms is not None and self.retention_ms < self.window_ms:
            raise ValueError(
                "retention must be at least the window: a monitor run reads the whole window"
            )
        return self

    @field_validator("drift")
    @classmethod
    def _drift_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        allowed = {"method", "threshold", "columns", "share", "multivariate", "max_categories"}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(
                f"unknown drift option(s) {', '.join(map(repr, unknown))}; expected "
                f"{', '.join(sorted(allowed))} (the options of `mloop drift`)"
            )
        share = value.get("share", 0.5)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ValueError(f"drift.share must be a number in (0, 1], got {share!r}")
        return value

    @field_validator("reference")
    @classmethod
    def _reference(cls, value: str) -> str:
        if value != "training" and not value.startswith("datasets:/"):
            raise ValueError(
                f"expected 'training' (the champion's reference profile) or a datasets:/ URI, "
                f"got {value!r}"
            )
        return value


Trigger = Literal["drift", "performance", "checks", "schedule"]


def _default_triggers() -> list[Trigger]:
    return ["drift", "performance"]


class RetrainSpec(_Spec):
    pipeline: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    on: list[Trigger] = Field(default_factory=_default_triggers, min_length=1)
    cooldown_ms: int = Field(default=6 * 3_600_000, alias="cooldown")
    #: With ``schedule`` in ``on``: retrain at least this often.
    schedule_ms: int | None = Field(default=None, alias="schedule")
    engine: Literal["local", "ray"] = "local"
    #: The label column of the labelled window the pipeline trains on.
    label: str = "label"
    #: The share of the labelled window held out for the gate.
    holdout: float = Field(default=0.3, gt=0, lt=1)

    @field_validator("pipeline")
    @classmethod
    def _pipeline(cls, value: str) -> str:
        if ":" not in value.replace("\\", "/").rsplit("/", 1)[-1]:
            raise ValueError(
                f"expected <file.py or module>:<pipeline>, such as flows/churn.py:train, "
                f"got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _schedule(self) -> RetrainSpec:
        if "schedule" in self.on and self.schedule_ms is None:
            raise ValueError("'on' lists schedule: give 'schedule' (a duration such as 7d)")
        return self


class GateSpec(_Spec):
    policy: str = Field(min_length=1)


class RolloutSpec(_Spec):
    steps: list[float] = Field(default_factory=lambda: [10.0, 50.0, 100.0], min_length=1)
    hold_ms: int = Field(default=15 * 60_000, alias="hold")
    analysis: list[str] = Field(default_factory=list)
    on_fail: Literal["rollback", "hold"] = "rollback"
    #: Fewer canary rows than this in a hold: the step holds longer instead of deciding.
    min_rows: int = Field(default=50, ge=1)
    #: Replicas whose ``/metrics`` the controller also scrapes (optional).
    endpoints: list[str] = Field(default_factory=list)

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[float]) -> list[float]:
        if any(not 0 < w <= 100 for w in value):
            raise ValueError(f"canary weights are percents in (0, 100], got {value}")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"steps must increase, got {value}")
        if value[-1] != 100:
            raise ValueError(f"the last step must be 100 (promote), got {value[-1]:g}")
        return value


class AlertSpec(_Spec):
    webhook: str = Field(min_length=1)
    timeout_ms: int = Field(default=5_000, alias="timeout")
    retries: int = Field(default=3, ge=0, le=10)
    #: The same condition alerts again only after this long.
    dedup_ms: int = Field(default=3_600_000, alias="dedup")

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"a webhook is an http(s):// URL, got {value!r}")
        return value


class LoopSpec(_Spec):
    """A whole ``loop.yaml``. Relative paths in it are relative to the file's folder."""

    name: str
    model: str = Field(min_length=1)
    #: The experiment retrain runs land in (default: the loop's name).
    experiment: str | None = Field(default=None, min_length=1)
    monitor: MonitorSpec
    retrain: RetrainSpec | None = None
    gate: GateSpec | None = None
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    alerts: list[AlertSpec] = Field(default_factory=list)
    #: The folder relative paths are read from (the file's folder).
    base_dir: str = Field(default=".", exclude=True)
    source: str = Field(default="loop", exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "a loop name starts with a letter or digit and holds only letters, digits, "
                f"'_', '.' and '-' (at most 128), got {value!r}"
            )
        return value

    @property
    def experiment_name(self) -> str:
        """The experiment retrain runs land in: ``experiment``, or the loop's name."""
        return self.experiment or self.name

    @model_validator(mode="after")
    def _gate_with_retrain(self) -> LoopSpec:
        if self.retrain is not None and self.gate is None:
            raise ValueError(
                "'retrain' needs a 'gate': nothing reaches traffic without passing a gate"
            )
        return self

    def path(self, relative: str) -> Path:
        """``relative`` (a path in the file) from the file's folder."""
        p = Path(relative)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def with_engine(self, engine: Literal["local", "ray"]) -> LoopSpec:
        """This spec with ``engine`` for the monitor's segments and the retrain pipeline
        (``mloop loop run --engine``)."""
        update: dict[str, Any] = {"monitor": self.monitor.model_copy(update={"engine": engine})}
        if self.retrain is not None:
            update["retrain"] = self.retrain.model_copy(update={"engine": engine})
        return self.model_copy(update=update)

    def to_json(self) -> dict[str, Any]:
        """The spec as stored with the loop's state (durations in milliseconds)."""
        return self.model_dump(mode="json", by_alias=True)


# -- reading --------------------------------------------------------------------------------------

Positions = dict[tuple[Any, ...], tuple[int, int]]


def load_loop(loop: str | os.PathLike[str] | Mapping[str, Any] | LoopSpec) -> LoopSpec:
    """Read and validate a ``loop.yaml``.

    Args:
        loop: a path, the parsed mapping, or a :class:`LoopSpec`.

    Raises:
        InvalidLoop: the file is missing or not YAML, or a key is unknown or has a bad value;
            every mistake is listed with its line and column.

    Example::

        spec = load_loop("loop.yaml")
        spec.rollout.steps
    """
    if isinstance(loop, LoopSpec):
        return loop
    if isinstance(loop, Mapping):
        return _validate(dict(loop), "loop", {}, ".")
    path = Path(os.fspath(loop))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidLoop(
            f"loop file {str(path)!r} does not exist; pass the path of a loop.yaml",
            details={"source": str(path)},
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidLoop(f"cannot read loop file {str(path)!r}: {exc}") from None
    data, positions = _load_yaml(text, str(path))
    return _validate(data, str(path), positions, str(path.parent))


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: ``on``, ``off``, ``yes`` and ``no`` stay strings (``on:`` is a key of
    ``retrain``, not ``True``)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _load_yaml(text: str, source: str) -> tuple[Any, Positions]:
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f" line {mark.line + 1} column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidLoop(f"{source}{where}: not valid YAML: {problem}") from None
    positions: Positions = {}
    if node is not None:
        _walk(node, (), positions, source)
    return data, positions


def _walk(node: yaml.Node, path: tuple[Any, ...], out: Positions, source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key in seen:
                raise InvalidLoop(
                    f"{source} line {line} column {col}: key {key!r} is given twice (first on "
                    f"line {seen[key]})",
                    details={"source": source, "key": key, "line": line, "column": col},
                )
            seen[key] = line
            out[(*path, key)] = (line, col)
            _walk(value_node, (*path, key), out, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _walk(item, (*path, i), out, source)


_ALIASES = {"every_ms": "every", "window_ms": "window", "cooldown_ms": "cooldown"}
_ALIASES |= {"schedule_ms": "schedule", "hold_ms": "hold", "timeout_ms": "timeout"}
_ALIASES |= {"dedup_ms": "dedup"}


def _key(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        part = _ALIASES.get(part, part) if isinstance(part, str) else part
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _validate(data: Any, source: str, positions: Positions, base_dir: str) -> LoopSpec:
    if not isinstance(data, dict):
        raise InvalidLoop(
            f"{source}: expected a mapping with name, model, monitor, ... ; "
            f"got {type(data).__name__}",
            details={"source": source},
        )
    try:
        spec = LoopSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not str(p).startswith(("literal[", "function-")))
            probe, pos = loc, None
            while probe and pos is None:
                pos = positions.get(probe)
                probe = probe[:-1]
            where = f"{source} line {pos[0]} column {pos[1]}" if pos else source
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                message = "a required key is missing"
            elif err["type"] == "extra_forbidden":
                message = "unknown key"
            elif err["type"] not in ("value_error", "assertion_error") and "input" in err:
                message += f" (got {err['input']!r:.60})"
            problems.append(
                (
                    f"{where}: {_key(loc)}: {message}",
                    {"key": _key(loc), "line": pos and pos[0], "column": pos and pos[1]},
                )
            )
        raise InvalidLoop(
            "\n".join(p[0] for p in problems),
            details={"source": source, "errors": [p[1] for p in problems]},
        ) from None
    return spec.model_copy(update={"base_dir": base_dir, "source": source})
