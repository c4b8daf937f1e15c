"""Write docs/cli.md from the CLI's own --help, so the reference never drifts from the code.

.venv/bin/python scripts/gen_cli_docs.py          # rewrite docs/cli.md
.venv/bin/python scripts/gen_cli_docs.py --check  # exit 1 when docs/cli.md is stale
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer.main

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _commands(group: Any, prefix: list[str]) -> list[list[str]]:
    """Every command path below a group (Typer's group class, duck-typed)."""
    out = [prefix]
    for name, cmd in group.commands.items():
        if getattr(cmd, "hidden", False):
            continue
        if hasattr(cmd, "commands"):
            out += _commands(cmd, [*prefix, name])
        else:
            out.append([*prefix, name])
    return out


def render() -> str:
    os.environ.update({"COLUMNS": "100", "TERMINAL_WIDTH": "100", "NO_COLOR": "1", "TERM": "dumb"})
    from typer.testing import CliRunner

    from mloop.cli import app

    runner = CliRunner()
    root = typer.main.get_command(app)
    parts = [
        "# CLI reference\n",
        "Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.\n",
    ]
    for path in _commands(root, []):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"}, color=False)
        text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
        title = " ".join(["mloop", *path])
        parts.append(f"## `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
