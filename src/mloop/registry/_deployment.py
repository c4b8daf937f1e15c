"""The traffic split of one served model: the schema of a ``deploy.yaml`` entry and of a
deployment record (a file and a record are the same language), and the registry operations on
deployment records.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mloop.errors import InvalidArgument

__all__ = ["CanaryEntry", "ModelPolicy", "validate_model_policy"]


class CanaryEntry(BaseModel):
    """One version a canary sends traffic to: ``uri`` or ``version``, and a ``weight``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str | None = None
    version: int | None = Field(default=None, ge=1)
    weight: float = Field(ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_target(self) -> CanaryEntry:
        if (self.uri is None) == (self.version is None):
            raise ValueError("give exactly one of 'uri' (a models:/ URI) or 'version' (a number)")
        return self


class ModelPolicy(BaseModel):
    """The policy of one served name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canary: list[CanaryEntry] | None = Field(default=None, min_length=1)
    sticky_key: str | None = Field(default=None, min_length=1)
    shadow: str | int | None = None
    shadow_max_pending: int = Field(default=64, ge=1)

    @field_validator("shadow", mode="before")
    @classmethod
    def _shadow_target(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            raise ValueError(
                f"expected a models:/ URI or a version number, got {type(value).__name__} {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> ModelPolicy:
        if self.canary is not None and not any(e.weight > 0 for e in self.canary):
            raise ValueError("canary weights are all zero: give at least one a positive weight")
        if self.sticky_key is not None and self.canary is None:
            raise ValueError("'sticky_key' needs a 'canary' list to choose from")
        if isinstance(self.shadow, int) and self.shadow < 1:
            raise ValueError("'shadow' must be a models:/ URI or a version number >= 1")
        return self


def validate_model_policy(spec: Any, *, source: str = "deployment spec") -> ModelPolicy:
    """``spec`` (a mapping or a :class:`ModelPolicy`) as a validated :class:`ModelPolicy`.

    Raises:
        InvalidArgument: an unknown key or a bad value; the message names each key.
    """
    if isinstance(spec, ModelPolicy):
        return spec
    if not isinstance(spec, dict):
        raise InvalidArgument(
            f"{source}: expected a mapping (canary, sticky_key, shadow, shadow_max_pending), "
            f"got {type(spec).__name__}"
        )
    try:
        return ModelPolicy.model_validate(spec)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{source}: {key}: {message}")
        raise InvalidArgument("\n".join(problems), details={"source": source}) from None
