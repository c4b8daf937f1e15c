"""The per-call overhead of LoadedModel.predict over the framework's own predict."""

from __future__ import annotations

import timeit
from pathlib import Path
from typing import Any

import pytest
from mloop_models_cases import labels, tabular

import mloop.models


def _best_us(fn: Any, number: int = 200, repeat: int = 3) -> float:
    fn()  # warm-up
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def test_one_row_overhead_for_scikit_learn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.linear_model import LogisticRegression

    x = tabular()
    model = LogisticRegression(max_iter=500).fit(x, labels(x))
    mloop.models.save(model, tmp_path / "m", input_example=x.head(20))
    loaded = mloop.models.load(tmp_path / "m")
    row = x.head(1)
    for _ in range(50):  # warm both paths up
        loaded.predict(row)
        model.predict(row)
    # interleave, so that a slow moment of the machine hits both alike
    own, ours = [], []
    for _ in range(3):
        own.append(_best_us(lambda: model.predict(row)))
        ours.append(_best_us(lambda: loaded.predict(row)))
    overhead = min(ours) - min(own)
    with capsys.disabled():
        print(
            f"\none-row predict: sklearn {min(own):.1f} us, mloop {min(ours):.1f} us, "
            f"overhead {overhead:.1f} us"
        )
    assert overhead < 200, f"overhead {overhead:.1f} us"
