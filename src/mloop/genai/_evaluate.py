"""``mloop.genai.evaluate``: run a target over rows, score each output, aggregate, log to a run.

A target is a Python callable, or a prompt (``prompts:/...``) sent to an OpenAI-compatible
endpoint (:class:`Endpoint`: a served model, a hosted API), or ``None`` when the rows already hold
an ``output``. Each row is a mapping: ``inputs`` (a mapping of the prompt's variables or the
callable's keyword arguments; the row's other keys when absent) and, for scorers that compare,
``expected``. Each target call is traced (a span per row), so slow or failing rows can be read
in ``mloop traces``.

The aggregates (the mean of each scorer over the rows it scored, ``p95_latency_ms``, ...) are
logged as metrics of a run and are what ``mloop.genai.gate`` rules read, so a prompt version is
gated and promoted as a model is.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from mloop.errors import InvalidArgument, InvalidEvaluationInput
from mloop.genai._prompts import Prompt, load_prompt
from mloop.genai._scorers import Row, Scorer, as_scorer
from mloop.genai._tracing import start_span

ROWS_ARTIFACT = "genai_eval/rows.json"


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible endpoint: ``base_url`` (``http://host:port/v1``) and ``model``.

    ``chat`` (default for chat prompts) posts to ``/chat/completions``, else ``/completions``.
    """

    base_url: str
    model: str
    api_key: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 120.0

    def call(self, prompt: Any) -> tuple[str, dict[str, int]]:
        import httpx

        chat = not isinstance(prompt, str)
        body: dict[str, Any] = {"model": self.model, **self.params}
        if chat:
            body["messages"] = prompt
        else:
            body["prompt"] = prompt
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = self.base_url.rstrip("/") + ("/chat/completions" if chat else "/completions")
        response = httpx.post(url, json=body, headers=headers, timeout=self.timeout_s)
        response.raise_for_status()
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"] if chat else choice["text"]
        usage = {
            k: int(v)
            for k, v in (data.get("usage") or {}).items()
            if k in ("prompt_tokens", "completion_tokens") and isinstance(v, int)
        }
        return text, usage


@dataclass(frozen=True)
class GenAIEvalResult:
    """What :func:`evaluate` measured.

    Attributes:
        metrics: aggregate per metric name (the mean over scored rows), plus ``n_rows``,
            ``error_rate`` and, when latency was measured, ``mean_latency_ms`` and
            ``p95_latency_ms``.
        rows: per row: ``inputs``, ``output``, ``expected``, ``latency_ms``, ``usage``,
            ``error`` and each metric's value.
        run_id: the run the result was logged to, when it was.
        target: what was evaluated (a prompt URI, a callable's name).
    """

    target: str
    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    run_id: str | None = None

    def lookup(self, name: str) -> float | None:
        """A metric by name (what gate rules read)."""
        return self.metrics.get(name)

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows)


def _rows(data: Any) -> list[dict[str, Any]]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        data = data.to_dict(orient="records")
    if isinstance(data, Mapping) or not isinstance(data, Iterable):
        raise InvalidEvaluationInput(
            "data must be rows: a list of mappings or a pandas DataFrame, "
            f"got {type(data).__name__}"
        )
    rows = list(data)
    if not rows:
        raise InvalidEvaluationInput("data has no rows")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise InvalidEvaluationInput(f"row {i} is a {type(r).__name__}, not a mapping")
    return [dict(r) for r in rows]


def _inputs_of(row: Mapping[str, Any]) -> dict[str, Any]:
    if "inputs" in row:
        inputs = row["inputs"]
        if not isinstance(inputs, Mapping):
            raise InvalidEvaluationInput("a row's 'inputs' must be a mapping of names to values")
        return dict(inputs)
    return {k: v for k, v in row.items() if k not in ("expected", "output")}


def _model_call(endpoint: Any) -> Callable[[Any], tuple[Any, dict[str, int]]]:
    if isinstance(endpoint, Endpoint):
        return endpoint.call
    if callable(endpoint):

        def call(prompt: Any) -> tuple[Any, dict[str, int]]:
            out = endpoint(prompt)
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping):
                return out[0], dict(out[1])
            return out, {}

        return call
    raise InvalidArgument(
        "endpoint must be an Endpoint(base_url=..., model=...) or a function from the formatted "
        f"prompt to the output (or to (output, usage)), got {type(endpoint).__name__}"
    )


def _make_target(
    target: Any, endpoint: Any
) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, dict[str, int]]] | None]:
    if target is None:
        return "outputs", None
    if isinstance(target, str | Prompt):
        prompt = load_prompt(target) if isinstance(target, str) else target
        if endpoint is None:
            raise InvalidArgument(
                "evaluating a prompt needs an endpoint: evaluate('prompts:/...', data, "
                "endpoint=Endpoint(base_url=..., model=...))"
            )
        model = _model_call(endpoint)

        def call_prompt(inputs: dict[str, Any]) -> tuple[Any, dict[str, int]]:
            return model(prompt.format(inputs))

        return prompt.uri, call_prompt
    if callable(target):

        def call_fn(inputs: dict[str, Any]) -> tuple[Any, dict[str, int]]:
            return target(**inputs), {}

        return getattr(target, "__name__", "callable"), call_fn
    raise InvalidArgument(
        "target must be a callable, a prompt (prompts:/... with an endpoint) or None, "
        f"got {type(target).__name__}"
    )


def evaluate(
    target: Any,
    data: Any,
    scorers: Sequence[Any],
    *,
    endpoint: Any = None,
    log: bool = True,
    run_name: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> GenAIEvalResult:
    """Run ``target`` on every row, score the outputs, aggregate, and log to a run.

    Args:
        target: a callable taking the row's inputs as keyword arguments; a prompt
            (``"prompts:/qa@champion"`` or a :class:`Prompt`) sent to ``endpoint``; or ``None``
            to score the rows' own ``output``.
        data: rows (mappings) or a DataFrame: ``inputs`` (or the other keys), ``expected``.
        scorers: built-ins (``scorers.exact_match()``, ...) or plain functions.
        endpoint: where a prompt is sent: an :class:`Endpoint`, or a function from the
            formatted prompt to the output (or to ``(output, usage)``), e.g. a local model.
        log: log the metrics, the target and the per-row table (``genai_eval/rows.json``) to
            the active run, or to a new run.
        clock: seconds, for latency (injectable for tests).

    Returns:
        A :class:`GenAIEvalResult`. A row whose target call raised keeps its error and is left
        out of the scores; ``error_rate`` counts such rows.

    Example::

        result = mloop.genai.evaluate(
            "prompts:/qa@challenger", rows,
            scorers=[scorers.exact_match(), scorers.rouge_l()],
            endpoint=Endpoint("http://127.0.0.1:8000/v1", "tiny"),
        )
        result.metrics["rouge_l"]
    """
    rows = _rows(data)
    made = [as_scorer(s) for s in scorers]
    if not made:
        raise InvalidArgument("give at least one scorer")
    names = [s.name for s in made]
    if len(set(names)) != len(names):
        raise InvalidArgument(f"scorer names repeat: {names}; give them distinct names")
    label, call = _make_target(target, endpoint)
    if not log:
        return _score_rows(label, call, rows, made, clock)
    import mloop

    # The run is active while the target runs, so each row's trace links to it.
    active = mloop.active_run()
    if active is not None:
        return _write(_score_rows(label, call, rows, made, clock), active)
    with mloop.start_run(run_name=run_name or f"genai eval {label}"[:250]) as run:
        return _write(_score_rows(label, call, rows, made, clock), run)


def _score_rows(
    label: str,
    call: Callable[[dict[str, Any]], tuple[Any, dict[str, int]]] | None,
    rows: list[dict[str, Any]],
    made: list[Scorer],
    clock: Callable[[], float],
) -> GenAIEvalResult:
    out_rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    errors = 0
    for i, raw in enumerate(rows):
        inputs = _inputs_of(raw)
        record: dict[str, Any] = {"inputs": inputs, "expected": raw.get("expected")}
        usage: dict[str, int] = {}
        latency_ms: float | None = None
        if call is None:
            if "output" not in raw:
                raise InvalidEvaluationInput(f"row {i} has no 'output' and no target was given")
            output = raw["output"]
        else:
            with start_span(f"eval row {i}", kind="evaluation", inputs=inputs) as span:
                t0 = clock()
                try:
                    output, usage = call(inputs)
                except Exception as exc:
                    span.record_exception(exc)
                    record.update(output=None, error=f"{type(exc).__name__}: {exc}")
                    out_rows.append(record)
                    errors += 1
                    continue
                latency_ms = (clock() - t0) * 1000.0
                span.set_outputs(output)
                span.set_usage(
                    prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=usage.get("completion_tokens"),
                )
            latencies.append(latency_ms)
        record.update(output=output, latency_ms=latency_ms, usage=usage, error=None)
        row = Row(inputs, output, raw.get("expected"), latency_ms, usage)
        for s in made:
            value = s.score(row)
            if isinstance(value, Mapping):
                for k, v in value.items():
                    record[k] = None if v is None else float(v)
            else:
                record[s.name] = None if value is None else float(value)
        out_rows.append(record)
    metrics = _aggregate(out_rows, made, latencies, errors)
    return GenAIEvalResult(label, metrics, out_rows)


def _aggregate(
    rows: list[dict[str, Any]], scorers: list[Scorer], latencies: list[float], errors: int
) -> dict[str, float]:
    fixed = {"inputs", "expected", "output", "latency_ms", "usage", "error"}
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in fixed))
    metrics: dict[str, float] = {"n_rows": float(len(rows)), "error_rate": errors / len(rows)}
    for k in keys:
        values = [r[k] for r in rows if r.get(k) is not None and not math.isnan(r[k])]
        if values:
            metrics[k] = float(np.mean(values))
    if latencies:
        metrics["mean_latency_ms"] = float(np.mean(latencies))
        metrics["p95_latency_ms"] = float(np.percentile(latencies, 95))
    return metrics


def _write(result: GenAIEvalResult, run: Any) -> GenAIEvalResult:
    import mloop

    mloop.log_metrics(result.metrics)
    mloop.set_tag("mloop.genai.target", result.target[:8000])
    body = orjson.dumps(result.rows, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
    mloop.flush()
    run._client.store.put_artifact(run.run_id, ROWS_ARTIFACT, io.BytesIO(body))
    return GenAIEvalResult(result.target, result.metrics, result.rows, run.run_id)
