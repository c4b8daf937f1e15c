"""Answer similarity with the packaged all-MiniLM-L6-v2 model (offline, CPU)."""

from __future__ import annotations

import pytest

from mloop import genai
from mloop.genai import Row


@pytest.mark.slow
def test_paraphrases_score_higher_than_unrelated_answers() -> None:
    sim = genai.answer_similarity()
    close = sim.score(Row({}, "The capital of France is Paris.", "Paris is France's capital."))
    far = sim.score(Row({}, "I like green bananas.", "Paris is France's capital."))
    same = sim.score(Row({}, "Paris", "Paris"))
    assert isinstance(close, float) and isinstance(far, float)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert close > 0.7 > 0.3 > far
