"""``mloop prompts`` and ``mloop traces``: exit codes, output, what was stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mloop


def test_prompts_register_show_alias_history_diff(cli: Any, tmp_path: Path) -> None:
    v1 = tmp_path / "qa.txt"
    v1.write_text("Answer: {{question}}", encoding="utf-8")
    chat = tmp_path / "qa.json"
    chat.write_text(
        json.dumps(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Answer: {{question}} in {{language}}"},
            ]
        ),
        encoding="utf-8",
    )
    r = cli("prompts", "register", "qa", "-f", str(v1), "--model-config", "temperature=0")
    assert r.exit_code == 0, r.output
    assert "registered qa version 1 (prompts:/qa/1); variables: question" in r.stdout
    r = cli("prompts", "register", "qa", "-f", str(chat), "--reason", "chat", "--json")
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert (body["version"], body["type"], body["variables"]) == (
        2,
        "chat",
        ["question", "language"],
    )

    r = cli("prompts", "alias", "qa", "production", "1", "--reason", "reviewed")
    assert r.exit_code == 0 and "production: (new) -> 1" in r.stdout
    shown = json.loads(cli("prompts", "show", "qa@production", "--json").stdout)
    assert shown["template"] == "Answer: {{question}}" and shown["model_config"] == {
        "temperature": 0
    }
    assert "[system]" in cli("prompts", "show", "qa").stdout

    listed = json.loads(cli("prompts", "list", "--json").stdout)["prompts"]
    assert [(p["name"], p["latest_version"]) for p in listed] == [("qa", 2)]
    history = json.loads(cli("prompts", "history", "qa", "--json").stdout)["entries"]
    assert [e["action"] for e in history][-1] == "set_alias"
    assert history[-1]["reason"] == "reviewed"

    r = cli("prompts", "diff", "qa/1", "qa/2")
    assert r.exit_code == 1
    assert "-Answer: {{question}}" in r.stdout and "+[system]" in r.stdout
    assert "model config temperature: 0 -> None" in r.stdout
    same = cli("prompts", "diff", "qa@production", "prompts:/qa/1", "--json")
    assert same.exit_code == 0 and json.loads(same.stdout)["same"] is True


def test_prompts_errors_are_clear(cli: Any, tmp_path: Path) -> None:
    r = cli("prompts", "show", "missing")
    assert r.exit_code != 0 and "missing" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    r = cli("prompts", "register", "qa", "-f", str(bad))
    assert r.exit_code == 2 and "not JSON chat messages" in r.output
    empty = tmp_path / "empty.txt"
    empty.write_text("  ", encoding="utf-8")
    r = cli("prompts", "register", "qa", "-f", str(empty))
    assert r.exit_code != 0 and "must not be empty" in r.output


def test_traces_list_and_show(cli: Any) -> None:
    @mloop.trace
    def pipeline(q: str) -> str:
        with mloop.start_span("llm", kind="llm") as span:
            span.set_usage(prompt_tokens=7, completion_tokens=2)
        return q.upper()

    pipeline("hi")
    with_error = mloop.start_span("failing")
    with_error.record_exception(RuntimeError("boom"))
    with_error.end()
    mloop.flush()
    r = cli("traces", "list", "--json")
    assert r.exit_code == 0, r.output
    traces = json.loads(r.stdout)["traces"]
    assert sorted(t["name"] for t in traces) == ["failing", "pipeline"]
    errors = json.loads(cli("traces", "list", "--status", "error", "--json").stdout)["traces"]
    assert [t["name"] for t in errors] == ["failing"]
    tid = next(t["trace_id"] for t in traces if t["name"] == "pipeline")
    table = cli("traces", "list").stdout
    assert "pipeline" in table and "9" in table
    tree = cli("traces", "show", tid)
    assert tree.exit_code == 0
    assert "pipeline" in tree.stdout and "llm" in tree.stdout and "tokens 7+2" in tree.stdout
    assert cli("traces", "show", "f" * 32).exit_code != 0
    assert cli("traces", "list", "--model", "qa/x").exit_code == 2
