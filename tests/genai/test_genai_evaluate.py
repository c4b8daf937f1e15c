"""LLM evaluation: targets, built-in and custom scorers, aggregation, logging, gates."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

import mloop
from mloop import genai
from mloop.errors import InvalidArgument, InvalidEvaluationInput, PolicyError
from mloop.genai._scorers import Row, parse_judge_score

ROWS = [
    {"inputs": {"question": "2+2?"}, "expected": "4"},
    {"inputs": {"question": "capital of France?"}, "expected": "Paris"},
    {"inputs": {"question": "colour of the sky?"}, "expected": "blue"},
]
ANSWERS = {"2+2?": "4", "capital of France?": "paris", "colour of the sky?": "you idiot, blue"}


def answer(question: str) -> str:
    return ANSWERS[question]


def ticking(step_s: float = 0.010) -> Any:
    """A clock that advances ``step_s`` per read: every call takes exactly that long."""
    counter = itertools.count()
    return lambda: next(counter) * step_s


def test_callable_target_with_builtin_and_custom_scorers(mloop_home: Path) -> None:
    def short(output: str) -> bool:
        return len(output) < 10

    result = genai.evaluate(
        answer,
        ROWS,
        scorers=[
            genai.exact_match(),
            genai.regex_match(r"^\d+$", name="numeric"),
            genai.toxicity(),
            genai.latency(),
            short,
        ],
        clock=ticking(),
    )
    m = result.metrics
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert m["numeric"] == pytest.approx(1 / 3)
    assert m["toxicity"] == pytest.approx(1 / 3)
    assert m["short"] == pytest.approx(2 / 3)
    assert m["latency"] == pytest.approx(10.0)
    assert m["p95_latency_ms"] == pytest.approx(10.0)
    assert (m["n_rows"], m["error_rate"]) == (3.0, 0.0)
    assert [r["exact_match"] for r in result.rows] == [1.0, 0.0, 0.0]

    run = mloop.Client().get_run(result.run_id)
    assert run.data.metrics["exact_match"].value == pytest.approx(1 / 3)
    assert run.data.tags["mloop.genai.target"] == "answer"
    with run_store().open_artifact(result.run_id, "genai_eval/rows.json") as f:
        rows = orjson.loads(f.read())
    assert rows[2]["output"] == "you idiot, blue" and rows[2]["toxicity"] == 1.0
    [t] = [t for t in genai.search_traces(run_id=result.run_id) if t.name == "eval row 0"]
    assert get_outputs(t.trace_id) == "4"


def run_store() -> Any:
    return mloop.store.current().store


def get_outputs(trace_id: str) -> Any:
    return genai.get_trace(trace_id).spans[0].outputs


def test_case_insensitive_rouge_json_schema(mloop_home: Path) -> None:
    rows = [
        {"output": '{"answer": "Paris", "confidence": 0.9}', "expected": "Paris"},
        {"output": '{"answer": 3}', "expected": "the cat sat"},
        {"output": "not json", "expected": "the cat sat on the mat"},
    ]
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    result = genai.evaluate(
        None,
        rows,
        [genai.json_valid(), _named(schema)],
        log=False,
    )
    assert [r["json_valid"] for r in result.rows] == [1.0, 1.0, 0.0]
    assert [r["json_schema"] for r in result.rows] == [1.0, 0.0, 0.0]
    assert result.run_id is None

    rouge = genai.rouge_l()
    assert rouge.score(Row({}, "the cat sat on the mat", "the cat sat on the mat")) == 1.0
    # LCS "the cat on the mat" = 5 of 6 tokens each side
    assert rouge.score(Row({}, "the cat lay on the mat", "the cat sat on the mat")) == (
        pytest.approx(5 / 6)
    )
    assert genai.exact_match(case=False).score(Row({}, " PARIS ", "paris")) == 1.0


def _named(schema: dict[str, Any]) -> Any:
    s = genai.json_valid(schema)
    s.name = "json_schema"
    return s


def test_errors_are_kept_per_row(mloop_home: Path) -> None:
    def flaky(question: str) -> str:
        if question.startswith("capital"):
            raise TimeoutError("model timed out")
        return ANSWERS[question]

    result = genai.evaluate(flaky, ROWS, [genai.exact_match()], log=False)
    assert result.metrics["error_rate"] == pytest.approx(1 / 3)
    assert result.metrics["exact_match"] == pytest.approx(0.5)
    assert result.rows[1]["error"] == "TimeoutError: model timed out"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: genai.evaluate(answer, [], [genai.exact_match()]),
            InvalidEvaluationInput,
            "no rows",
        ),
        (
            lambda: genai.evaluate(answer, {"a": 1}, [genai.exact_match()]),
            InvalidEvaluationInput,
            "rows",
        ),
        (lambda: genai.evaluate(answer, ROWS, []), InvalidArgument, "at least one scorer"),
        (
            lambda: genai.evaluate(None, ROWS, [genai.exact_match()]),
            InvalidEvaluationInput,
            "no 'output'",
        ),
        (lambda: genai.evaluate(answer, ROWS, [lambda x: 1]), InvalidArgument, "by name"),
        (lambda: genai.regex_match("("), InvalidArgument, "not a regular expression"),
        (lambda: genai.json_valid({"type": 12}), InvalidArgument, "not a JSON Schema"),
        (
            lambda: genai.evaluate(answer, ROWS, [genai.exact_match(), genai.exact_match()]),
            InvalidArgument,
            "repeat",
        ),
    ],
)
def test_bad_input_is_refused(mloop_home: Path, call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_judge_replies_are_parsed() -> None:
    assert parse_judge_score('{"score": 5, "reason": "exact"}') == 1.0
    assert parse_judge_score('Sure! {"score": 3, "reason": "x"}') == 0.5
    assert parse_judge_score("I'd give it a 2.") == 0.25
    assert parse_judge_score("no idea") is None


def model_v1(prompt: str) -> tuple[str, dict[str, int]]:
    """A deterministic 'model': answers only when the prompt asks for one word."""
    q = prompt.split("Q:", 1)[1].strip()
    text = ANSWERS[q] if "one word" in prompt else f"Well, {ANSWERS[q]}"
    return text, {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}


def test_prompt_versions_are_gated_and_promoted(mloop_home: Path) -> None:
    genai.register_prompt("qa", "Answer. Q: {{question}}")
    genai.register_prompt("qa", "Answer in one word. Q: {{question}}")
    store = run_store()
    store.set_alias("qa", "champion", 1)
    store.set_alias("qa", "challenger", 2)
    rules = ["exact_match >= champion.exact_match + 0.1", "error_rate <= 0"]
    scorers = [genai.exact_match(case=False), genai.token_cost(completion_price=1.0)]

    result = genai.promote("qa", ROWS, rules, scorers=scorers, endpoint=model_v1)
    assert result.passed and result.moved
    assert result.challenger.metrics["exact_match"] == pytest.approx(2 / 3)
    assert result.champion is not None and result.champion.metrics["exact_match"] == 0.0
    assert result.challenger.metrics["total_tokens"] > 0
    assert genai.load_prompt("prompts:/qa@champion").version == 2
    moved = [e for e in store.get_audit_log("qa") if e.action == "set_alias"][-1]
    assert moved.after == {"alias": "champion", "version": 2} or moved.version == 2
    assert "Gate PASSED" in moved.reason
    assert "Gate PASSED" in store.get_model_version("qa", 2).tags["mloop.gate.last"]

    # the same version again is not better than itself: the gate fails, nothing moves
    again = genai.promote("qa", ROWS, rules, scorers=scorers, endpoint=model_v1)
    assert not again.passed and not again.moved
    with pytest.raises(PolicyError, match="did you mean 'exact_match'"):
        genai.gate("prompts:/qa/2", ROWS, ["exact_mach >= 0.5"], scorers=scorers, endpoint=model_v1)
    with pytest.raises(InvalidArgument, match="needs an endpoint"):
        genai.evaluate("prompts:/qa/2", ROWS, scorers)
