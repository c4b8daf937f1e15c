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


@pytest.mark.slow
def test_gate_takes_a_prompt(mloop_home: Path, tmp_path: Path, base_url: str) -> None:
    """``mloop gate --challenger prompts:/...``: the model gate's command, policy file and exit
    status, for a prompt evaluated through an endpoint; nothing moves."""
    genai.register_prompt("qa", [{"role": "user", "content": "Q {{q}}"}])
    genai.register_prompt("qa", [{"role": "user", "content": "{{q}}"}])
    data = tmp_path / "rows.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"inputs": {"q": q}, "expected": " ".join(reversed(q.split()))})
            for q in ("a b", "one two three")
        ),
        encoding="utf-8",
    )
    policy = tmp_path / "gate.yaml"
    policy.write_text("rules:\n  - exact_match >= champion.exact_match + 0.5\n", encoding="utf-8")
    args = ["gate", "--data", str(data), "--policy", str(policy), "--base-url", base_url]
    args += ["--model", "tiny", "--scorer", "exact_match"]
    audited = len(current().store.get_audit_log("qa"))

    md = tmp_path / "gate.md"
    passed = CliRunner().invoke(
        app,
        [
            *args,
            "--challenger",
            "prompts:/qa/2",
            "--champion",
            "prompts:/qa/1",
            "--json",
            "--markdown",
            str(md),
        ],
        env=ENV,
    )
    assert passed.exit_code == 0, passed.output
    body = json.loads(passed.stdout)
    assert body["passed"] and body["challenger"]["metrics"]["exact_match"] == 1.0
    assert body["champion"]["metrics"]["exact_match"] == 0.0
    assert "Gate PASSED" in md.read_text(encoding="utf-8")

    failed = CliRunner().invoke(
        app, [*args, "--challenger", "prompts:/qa/1", "--champion", "prompts:/qa/2"], env=ENV
    )
    assert failed.exit_code == 1, failed.output
    assert "Gate FAILED" in failed.stdout
    assert len(current().store.get_audit_log("qa")) == audited  # a gate moves nothing

    unknown = CliRunner().invoke(
        app, [*args, "--challenger", "prompts:/qa/1", "--champion", "prompts:/qa/9"], env=ENV
    )
    assert unknown.exit_code == 2 and "error" in unknown.output
    no_endpoint = CliRunner().invoke(
        app, ["gate", "--challenger", "prompts:/qa/2", "--data", str(data), "--rule", "x > 1"]
    )
    assert no_endpoint.exit_code == 2 and "--base-url" in no_endpoint.output
