"""``EvaluationResult``: every number one evaluation produced, and the one name lookup gates use."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FAIRNESS_NAMES",
    "ConfusionMatrix",
    "EvaluationResult",
    "FairnessResult",
    "SliceResult",
]

#: Fairness names that ``lookup`` also answers without a column: the worst over the sensitive
#: columns (the largest difference, the smallest ratio).
FAIRNESS_NAMES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ConfusionMatrix(BaseModel):
    """Rows are true labels, columns predicted labels, both in the order of ``labels``."""

    model_config = _FROZEN

    labels: list[str]
    matrix: list[list[int]]


class SliceResult(BaseModel):
    """The metrics of the rows whose slice column has one value (or falls in one bin).

    An empty slice has ``n_rows == 0`` and no metrics, so a rule on it cannot pass by accident.
    """

    model_config = _FROZEN

    n_rows: int
    metrics: dict[str, float] = Field(default_factory=dict)


class FairnessResult(BaseModel):
    """Group fairness of the predictions over one sensitive column (fairlearn's definitions)."""

    model_config = _FROZEN

    demographic_parity_difference: float
    demographic_parity_ratio: float
    equalized_odds_difference: float | None = None
    selection_rate: dict[str, float] = Field(default_factory=dict)


class EvaluationResult(BaseModel):
    """What :func:`mloop.evaluate.evaluate` measured.

    Attributes:
        model_uri: the model evaluated.
        task: ``classification`` or ``regression``.
        n_rows: rows evaluated.
        data: what the data was (a URI, a path, or ``DataFrame``).
        metrics: flat metric names to values (``accuracy``, ``roc_auc``, ``mae``,
            ``p99_latency_ms``, ...); a metric that is undefined on the data is left out.
        per_class: per class label, ``precision``, ``recall``, ``f1`` and ``support``.
        confusion_matrix: for classification.
        slices: per slice column, per value label (``eu``, ``[0, 12.5)``), a :class:`SliceResult`.
        fairness: per sensitive column, a :class:`FairnessResult`.
        curves: for binary classification, ``roc`` (``fpr``, ``tpr``), ``pr`` (``precision``,
            ``recall``) and ``calibration`` (``prob_pred``, ``prob_true``), at most 200 points.
        notes: what was skipped and why (zeros left out of MAPE, no ``predict_proba``, ...).
        run_id: the run the result was logged to, when it was.

    Example::

        result = mloop.evaluate.evaluate("models:/churn@challenger", df, target="churned")
        result.lookup("slice[region=eu].recall")
    """

    model_config = _FROZEN

    model_uri: str
    task: Literal["classification", "regression"]
    n_rows: int
    data: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    per_class: dict[str, dict[str, float]] = Field(default_factory=dict)
    confusion_matrix: ConfusionMatrix | None = None
    slices: dict[str, dict[str, SliceResult]] = Field(default_factory=dict)
    fairness: dict[str, FairnessResult] = Field(default_factory=dict)
    curves: dict[str, dict[str, list[float]]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    run_id: str | None = None

    def lookup(self, name: str) -> float | None:
        """The value a gate rule names, or None when it is not available.

        Names:

        - ``<metric>``: from ``metrics``; or ``demographic_parity_difference``,
          ``demographic_parity_ratio``, ``equalized_odds_difference``: the worst over the
          sensitive columns (the largest difference, the smallest ratio);
        - ``slice[<column>=<value>].<metric>`` (also ``.n_rows``): None when the slice is
          empty or does not exist;
        - ``fairness[<column>].<name>``, and ``fairness[<column>].selection_rate[<group>]``;
        - ``class[<label>].<metric>`` (``precision``, ``recall``, ``f1``, ``support``).

        Example::

            result.lookup("slice[region=eu].recall")  # 0.71, or None without EU rows
        """
        name = name.strip()
        if name.startswith("slice["):
            return _finite(self._slice_value(name))
        if name.startswith("fairness["):
            return _finite(self._fairness_value(name))
        if name.startswith("class["):
            inner, metric = _bracketed(name, "class[")
            if inner is None:
                return None
            return _finite(self.per_class.get(inner, {}).get(metric))
        if name in self.metrics:
            return _finite(self.metrics[name])
        if name in FAIRNESS_NAMES:
            values = [
                v for f in self.fairness.values() if (v := _finite(getattr(f, name))) is not None
            ]
            if not values:
                return None
            return min(values) if name.endswith("_ratio") else max(values)
        return None

    def _slice_value(self, name: str) -> float | None:
        inner, metric = _bracketed(name, "slice[")
        if inner is None or "=" not in inner:
            return None
        column, _, value = inner.partition("=")
        found = self.slices.get(column.strip(), {}).get(value.strip())
        if found is None:
            return None
        if metric == "n_rows":
            return float(found.n_rows)
        if found.n_rows == 0:
            return None
        return found.metrics.get(metric)

    def _fairness_value(self, name: str) -> float | None:
        inner, rest = _bracketed(name, "fairness[")
        if inner is None:
            return None
        found = self.fairness.get(inner.strip())
        if found is None:
            return None
        if rest in FAIRNESS_NAMES:
            value: float | None = getattr(found, rest)
            return value
        if rest.startswith("selection_rate[") and rest.endswith("]"):
            return found.selection_rate.get(rest[len("selection_rate[") : -1].strip())
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return self.model_dump(mode="json")

    def to_json(self, *, indent: int | None = 2) -> str:
        """The result as JSON (what is logged as the run's ``evaluation.json``)."""
        return self.model_dump_json(indent=indent)


def _bracketed(name: str, prefix: str) -> tuple[str | None, str]:
    """``prefix<inner>].<rest>`` -> (inner, rest); the last ``].`` ends the brackets, so a bin
    label such as ``[0, 12.5)`` can sit inside them."""
    end = name.rfind("].")
    if not name.startswith(prefix) or end < len(prefix):
        return None, ""
    return name[len(prefix) : end], name[end + 2 :].strip()


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
