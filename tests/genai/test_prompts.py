"""The prompt registry: templates, versions, aliases and audit in the model registry's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mloop
from mloop.errors import (
    InvalidArgument,
    ModelIntegrityError,
    ModelVersionNotFound,
    NotAPrompt,
    PromptVariableError,
    RegisteredModelNotFound,
)
from mloop.genai import PromptTemplate, list_prompts, load_prompt, register_prompt
from mloop.registry import Registry

CHAT = [
    {"role": "system", "content": "You answer in {{ language }}."},
    {"role": "user", "content": '{{question}} Reply as JSON: {"answer": ...}'},
]


def test_text_template_formats_and_keeps_single_braces() -> None:
    t = PromptTemplate.parse('Summarize in {{n}} words: {{ text }} {"k": 1} {{n}}')
    assert t.variables == ["n", "text"]
    assert t.format(n=5, text="abc") == 'Summarize in 5 words: abc {"k": 1} 5'


def test_missing_and_extra_variables_are_named() -> None:
    t = PromptTemplate.parse(CHAT)
    with pytest.raises(PromptVariableError) as err:
        t.format(question="why?", tone="dry")
    assert "missing 'language'" in str(err.value)
    assert "not in the template: 'tone'" in str(err.value)
    assert err.value.details == {
        "missing": ["language"],
        "extra": ["tone"],
        "variables": ["language", "question"],
    }


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("  ", "must not be empty"),
        ([], "at least one message"),
        ([{"role": "robot", "content": "x"}], "has role 'robot'"),
        ([{"role": "user"}], "'content' as a string"),
        (42, "a string or a list of chat messages"),
    ],
)
def test_malformed_templates_are_refused(template: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        PromptTemplate.parse(template)


def test_register_alias_load_history(store: Any) -> None:
    v1 = register_prompt("qa", CHAT, model_config={"temperature": 0}, store=store)
    v2 = register_prompt(
        "qa", "Q: {{question}}\nA:", tags={"team": "search"}, reason="shorter", store=store
    )
    assert (v1.version, v2.version) == (1, 2)
    store.set_alias("qa", "production", 1, actor="ana", reason="reviewed")

    prod = load_prompt("prompts:/qa@production", store=store)
    assert prod.is_chat and prod.version == 1 and prod.model_config == {"temperature": 0}
    assert prod.format(language="French", question="Why?") == [
        {"role": "system", "content": "You answer in French."},
        {"role": "user", "content": 'Why? Reply as JSON: {"answer": ...}'},
    ]
    latest = load_prompt("prompts:/qa", store=store)
    assert latest.version == 2 and latest.format(question="2+2?") == "Q: 2+2?\nA:"
    assert latest.tags["team"] == "search" and latest.tags["mloop.prompt.variables"] == "question"
    assert load_prompt("prompts:/qa/2", store=store).template == latest.template

    actions = [(e.action, e.version, e.reason) for e in store.get_audit_log("qa")]
    assert ("set_alias", 1, "reviewed") in actions
    assert ("create_version", 2, "shorter") in actions
    assert [p.name for p in list_prompts(store)] == ["qa"]


def test_load_errors(store: Any) -> None:
    register_prompt("qa", "Q: {{q}}", store=store)
    with pytest.raises(InvalidArgument, match="expected prompts:/"):
        load_prompt("models:/qa/1", store=store)
    with pytest.raises(RegisteredModelNotFound):
        load_prompt("prompts:/nope", store=store)
    with pytest.raises(ModelVersionNotFound):
        load_prompt("prompts:/qa/7", store=store)
    with pytest.raises(ModelVersionNotFound):
        load_prompt("prompts:/qa@production", store=store)
    store.create_model_version("churn", "s3://bucket/model")
    with pytest.raises(NotAPrompt, match="not a prompt"):
        load_prompt("prompts:/churn", store=store)
    with pytest.raises(NotAPrompt):
        register_prompt("churn", "x {{y}}", store=store)


def test_a_changed_template_is_refused(sqlite_store: Any, tmp_path: Path) -> None:
    p = register_prompt("qa", "Q: {{q}}", store=sqlite_store)
    [path] = (tmp_path / "artifacts").rglob("prompt.json")
    path.write_text(path.read_text().replace("Q:", "Question:"))
    with pytest.raises(ModelIntegrityError, match="does not match the digest"):
        load_prompt(p.uri, store=sqlite_store)


def test_template_goes_to_the_active_run(mloop_home: Path) -> None:
    with mloop.start_run() as run:
        p = register_prompt("qa", "Q: {{q}}")
    assert p.run_id == run.run_id
    assert Registry().resolve("models:/qa/1").source == f"runs:/{run.run_id}/prompt"
    assert load_prompt("prompts:/qa/1").format(q="hi") == "Q: hi"
