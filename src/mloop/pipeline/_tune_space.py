"""The search space of :func:`~mloop.pipeline.tune`: a dict (or ``space.yaml``) of parameters.

Example::

    lr:    {type: float, low: 1.0e-4, high: 0.1, log: true}
    depth: {type: int, low: 2, high: 10, step: 1}
    kind:  {type: categorical, choices: [a, b]}
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from mloop._core import MAX_KEY, validate_key
from mloop.errors import InvalidArgument

# A parameter is logged as a param of each trial and as the tag ``best.<name>`` of the study.
_MAX_NAME = MAX_KEY - len("best.")


class _Param(BaseModel):
    # Bounds and steps are finite numbers: an infinite range cannot be sampled or gridded.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FloatParam(_Param):
    """A float in ``[low, high]``, uniform or (``log``) log-uniform, optionally on a grid of
    ``step``."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not be above high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("step and log cannot be used together")
        return self


class IntParam(_Param):
    """An integer in ``[low, high]`` (both included), every ``step``, or log-uniform."""

    type: Literal["int"]
    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not be above high ({self.high})")
        if self.log and self.low < 1:
            raise ValueError(f"a log-scale range needs low >= 1, got low={self.low}")
        if self.log and self.step != 1:
            raise ValueError("a log-scale int range needs step 1")
        return self


class CategoricalParam(_Param):
    """One of ``choices`` (strings, numbers, booleans or null)."""

    type: Literal["categorical"]
    choices: list[str | bool | int | float | None] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> CategoricalParam:
        if len({(type(c), c) for c in self.choices}) != len(self.choices):
            raise ValueError(f"choices must be distinct, got {self.choices}")
        return self


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]
_PARAM = TypeAdapter(Param)


class SearchSpace(BaseModel):
    """Validated parameters by name, in the order given."""

    model_config = ConfigDict(frozen=True)

    params: dict[str, Param]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The space as plain data (what ``space.yaml`` holds)."""
        return {
            name: p.model_dump(exclude_defaults=True) | {"type": p.type}
            for name, p in self.params.items()
        }

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions by parameter name."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, Any] = {}
        for name, p in self.params.items():
            if isinstance(p, FloatParam):
                out[name] = FloatDistribution(p.low, p.high, log=p.log, step=p.step)
            elif isinstance(p, IntParam):
                out[name] = IntDistribution(p.low, p.high, log=p.log, step=p.step)
            else:
                out[name] = CategoricalDistribution(p.choices)
        return out

    def grid(self) -> dict[str, list[Any]]:
        """The values of every parameter, for the grid sampler (floats need a ``step``)."""
        out: dict[str, list[Any]] = {}
        for name, p in self.params.items():
            if isinstance(p, CategoricalParam):
                out[name] = list(p.choices)
            elif isinstance(p, IntParam) and not p.log:
                out[name] = list(range(p.low, p.high + 1, p.step))
            elif isinstance(p, FloatParam) and p.step is not None:
                # The steps that fit in [low, high] (a step that does not divide the range
                # stops short of high, never past it).
                n = math.floor((p.high - p.low) / p.step + 1e-9)
                out[name] = [p.low + i * p.step for i in range(n + 1)]
            else:
                raise InvalidArgument(
                    f"the grid sampler needs a finite set of values: give parameter {name!r} a "
                    "step (and no log scale), or make it categorical"
                )
        return out


def _field(loc: tuple[int | str, ...]) -> str:
    # The location below the parameter; the first item is the discriminator's tag.
    parts = [str(x) for x in loc if str(x) not in ("float", "int", "categorical")]
    return ".".join(parts)


def parse_space(space: Mapping[str, Any] | SearchSpace | str | os.PathLike[str]) -> SearchSpace:
    """Validate a search space given as a dict, a :class:`SearchSpace` or a YAML file path.

    Raises:
        InvalidArgument: the space is malformed; the message names the parameter and the field.
    """
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, (str, os.PathLike)):
        path = Path(space)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise InvalidArgument(
                f"cannot read the search space file {str(path)!r}: {exc}"
            ) from None
        except yaml.YAMLError as exc:
            raise InvalidArgument(
                f"the search space file {str(path)!r} is not YAML: {exc}"
            ) from None
        if not isinstance(data, Mapping):
            raise InvalidArgument(
                f"the search space file {str(path)!r} must map parameter names to their "
                "definitions ({type: float, low: ..., high: ...})"
            )
        space = data
    if not isinstance(space, Mapping):
        raise InvalidArgument(
            "the search space must be a dict of parameter name to definition, "
            f"got {type(space).__name__}"
        )
    if not space:
        raise InvalidArgument("the search space has no parameters")
    params: dict[str, Any] = {}
    for name, spec in space.items():
        validate_key(name, "search space parameter name")
        if len(name) > _MAX_NAME:
            raise InvalidArgument(
                f"search space parameter name {name[:40]!r}... is {len(name)} characters; "
                f"at most {_MAX_NAME}"
            )
        if not isinstance(spec, Mapping):
            raise InvalidArgument(
                f"search space parameter {name!r} must be a mapping such as "
                "{type: float, low: 0.0, high: 1.0}, got " + repr(spec)[:60]
            )
        if spec.get("type") not in ("float", "int", "categorical"):
            raise InvalidArgument(
                f"search space parameter {name!r}: field 'type' must be float, int or "
                f"categorical, got {spec.get('type')!r}"
            )
        try:
            params[name] = _PARAM.validate_python(dict(spec))
        except ValidationError as exc:
            problems = "; ".join(
                (f"field {_field(e['loc'])!r}: " if _field(e["loc"]) else "") + e["msg"]
                for e in exc.errors()
            )
            raise InvalidArgument(
                f"search space parameter {name!r}: {problems}",
                details={"parameter": name, "errors": [_field(e["loc"]) for e in exc.errors()]},
            ) from None
    return SearchSpace(params=params)
