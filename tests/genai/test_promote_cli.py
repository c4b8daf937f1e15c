"""``mloop prompts promote`` against a real OpenAI-compatible server: the gate decides, the
alias move is audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_server import make_app
from typer.testing import CliRunner

from mloop import genai
from mloop.cli import app
from mloop.server import ServerThread
from mloop.store import current

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


@pytest.fixture
def base_url() -> Iterator[str]:
    with ServerThread(make_app()) as server:
        yield f"{server.url}/v1"


@pytest.mark.slow
def test_promote_moves_the_alias_only_when_the_gate_passes(
    mloop_home: Path, tmp_path: Path, base_url: str
) -> None:
    # The server answers with the user's words reversed: only v2's answers are exactly expected.
    genai.register_prompt("qa", [{"role": "user", "content": "Q {{q}}"}])
    genai.register_prompt("qa", [{"role": "user", "content": "{{q}}"}])
    store = current().store
    store.set_alias("qa", "champion", 1)
    store.set_alias("qa", "challenger", 2)
    data = tmp_path / "rows.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"inputs": {"q": q}, "expected": " ".join(reversed(q.split()))})
            for q in ("a b", "one two three", "x")
        ),
        encoding="utf-8",
    )
    args = ["prompts", "promote", "qa", "--data", str(data), "--base-url", base_url]
    args += ["--model", "tiny", "--scorer", "exact_match", "--scorer", "token_cost"]
    args += ["--rule", "exact_match >= champion.exact_match + 0.5", "--json"]

    r = CliRunner().invoke(app, args, env=ENV)
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["moved"] and body["challenger"]["exact_match"] == 1.0
    assert body["champion"]["exact_match"] == 0.0 and body["challenger"]["total_tokens"] > 0
    assert genai.load_prompt("prompts:/qa@champion").version == 2
    assert "Gate PASSED" in store.get_audit_log("qa")[-1].reason

    r = CliRunner().invoke(app, args, env=ENV)  # v2 against itself: no better, stays
    assert r.exit_code == 1 and json.loads(r.stdout)["moved"] is False

    bad = CliRunner().invoke(app, [*args[:-3], "--scorer", "bleu", "--rule", "x > 1"], env=ENV)
    assert bad.exit_code == 2 and "unknown scorer 'bleu'" in bad.output
