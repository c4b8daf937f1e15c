"""The per-call overhead of LoadedModel.predict over the framework's own predict, as an operation
budget: the function calls one predict makes, counted by a profiler hook, not timed. (The time
itself is a benchmark: ``benchmarks/models.py``, figures in docs/benchmarks.md.)"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mloop_models_cases import labels, tabular

import mloop.models

MLOOP_ROOT = str(Path(mloop.__file__).parent)
# One-row predict through a validated signature: today 4 of mloop's own functions and about 25
# calls more than scikit-learn's predict. A copy or conversion of the frame through pandas costs
# hundreds of calls; these budgets leave room for small changes, not for that.
MLOOP_FUNCTIONS_BUDGET = 12
EXTRA_CALLS_BUDGET = 150


def count_calls(fn: Callable[[], Any]) -> tuple[int, Counter[str]]:
    """Every Python and C function call made while ``fn()`` runs, and by name mloop's own and
    the calls that open a file (``open:...``)."""
    total = 0
    ours: Counter[str] = Counter()

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal total
        if event in ("call", "c_call"):
            total += 1
        if event == "call" and frame.f_code.co_filename.startswith(MLOOP_ROOT):
            ours[f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}"] += 1
        elif event == "c_call" and getattr(arg, "__name__", "") in ("open", "open_code"):
            ours[f"open:{arg.__name__}"] += 1

    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return total, ours


def test_one_row_predict_stays_within_its_call_budget(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x = tabular()
    model = LogisticRegression(max_iter=500).fit(x, labels(x))
    mloop.models.save(model, tmp_path / "m", input_example=x.head(20))
    loaded = mloop.models.load(tmp_path / "m")
    row = x.head(1)
    for _ in range(3):  # caches (the signature check's, scikit-learn's) warm, as in a server
        loaded.predict(row)
        model.predict(row)

    own, _ = count_calls(lambda: model.predict(row))
    total, ours = count_calls(lambda: loaded.predict(row))
    assert (loaded.predict(row) == model.predict(row)).all()
    # No file is opened per call: the model and its manifest were read once, at load.
    assert [k for k in ours if k.startswith("open:")] == []
    assert sum(ours.values()) <= MLOOP_FUNCTIONS_BUDGET, ours
    assert total - own <= EXTRA_CALLS_BUDGET, (
        f"mloop's predict made {total} calls, scikit-learn's {own}; mloop's own: {dict(ours)}"
    )
