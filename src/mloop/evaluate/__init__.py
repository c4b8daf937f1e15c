"""Evaluation: metrics, slices, fairness and latency of a model on labelled data."""

from __future__ import annotations

import sys
import types
from typing import Any

from mloop.evaluate._evaluate import evaluate
from mloop.evaluate._gate import gate
from mloop.evaluate._gate_report import GateResult
from mloop.evaluate._policy import GatePolicy, load_gate_policy, load_policy
from mloop.evaluate._promote import promote
from mloop.evaluate._result import EvaluationResult

__all__ = [
    "EvaluationResult",
    "GatePolicy",
    "GateResult",
    "evaluate",
    "gate",
    "load_gate_policy",
    "load_policy",
    "promote",
]


class _CallableModule(types.ModuleType):
    """``mloop.evaluate`` is both this package and a call: ``mloop.evaluate(uri, data, ...)``
    runs :func:`evaluate`, as the fluent API promises, while ``mloop.evaluate.gate`` and the
    other names stay importable."""

    def __call__(self, *args: Any, **kwargs: Any) -> EvaluationResult:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
