"""Generative AI: the prompt registry, tracing of LLM applications, LLM evaluation and gates."""

from __future__ import annotations

from mloop.genai._evaluate import Endpoint, GenAIEvalResult, evaluate
from mloop.genai._gate import PromptGateResult, gate, promote
from mloop.genai._openai import autolog_openai
from mloop.genai._otel import export_to_otel
from mloop.genai._prompts import Prompt, list_prompts, load_prompt, register_prompt
from mloop.genai._scorers import (
    Row,
    Scorer,
    answer_similarity,
    exact_match,
    json_valid,
    latency,
    llm_judge,
    regex_match,
    rouge_l,
    token_cost,
    toxicity,
)
from mloop.genai._template import PromptTemplate
from mloop.genai._tracing import (
    LiveSpan,
    add_span_listener,
    bind_model_version,
    current_span,
    get_trace,
    search_traces,
    start_span,
    trace,
)

__all__ = [
    "Endpoint",
    "GenAIEvalResult",
    "LiveSpan",
    "Prompt",
    "PromptGateResult",
    "PromptTemplate",
    "Row",
    "Scorer",
    "add_span_listener",
    "answer_similarity",
    "autolog_openai",
    "bind_model_version",
    "current_span",
    "evaluate",
    "exact_match",
    "export_to_otel",
    "gate",
    "get_trace",
    "json_valid",
    "latency",
    "list_prompts",
    "llm_judge",
    "load_prompt",
    "promote",
    "regex_match",
    "register_prompt",
    "rouge_l",
    "search_traces",
    "start_span",
    "token_cost",
    "toxicity",
    "trace",
]
