"""The CI templates: the GitHub Actions workflow and the GitLab CI job run the same gate."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import yaml

from mloop.cli._gate import gate

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def _gate_flags(script: str) -> list[str]:
    command = re.search(r"mloop gate \\\n(.*?)\n\s*(?:echo|status)", script, re.S)
    assert command is not None, script
    pairs = re.findall(r"(--[a-z-]+)(?: (\S+))?", command.group(1))
    return [" ".join(part for part in pair if part) for pair in pairs]


def test_github_and_gitlab_run_the_same_gate() -> None:
    github = yaml.safe_load((CI / "model-gate.yml").read_text())
    steps = github["jobs"]["gate"]["steps"]
    github_script = next(s["run"] for s in steps if "mloop gate" in s.get("run", ""))
    gitlab = yaml.safe_load((CI / "model-gate.gitlab-ci.yml").read_text())["model-gate"]
    gitlab_script = next(s for s in gitlab["script"] if "mloop gate" in s)
    flags = _gate_flags(github_script)
    assert flags == _gate_flags(gitlab_script)
    # every flag the templates pass is one `mloop gate` takes
    known = {f"--{name.replace('_', '-')}" for name in inspect.signature(gate).parameters}
    assert {f.split()[0] for f in flags} <= known
    assert set(gitlab["artifacts"]["paths"]) == {"gate.md", "gate.html"}
    assert gitlab["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
