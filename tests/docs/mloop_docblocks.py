"""Fenced blocks of Markdown pages, for the tests that run the documentation as written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```\s*$", re.M | re.S)
_SKIP = re.compile(r"<!--\s*(?:tour|docs):skip\b(?P<why>[^>]*)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its text, the line it starts on, and whether a
    ``<!-- tour:skip (why) -->`` / ``<!-- docs:skip (why) -->`` comment right above it says not
    to run it."""

    lang: str
    text: str
    line: int
    skip: str | None

    @property
    def where(self) -> str:
        return f"line {self.line}"


def blocks(markdown: str) -> list[Block]:
    """Every fenced block of ``markdown``, in order."""
    out = []
    for match in _FENCE.finditer(markdown):
        before = markdown[: match.start()].rstrip().splitlines()
        skip = _SKIP.search(before[-1]) if before else None
        out.append(
            Block(
                lang=match["lang"],
                text=match["body"],
                line=markdown.count("\n", 0, match.start()) + 1,
                skip=skip["why"].strip(" ()") or "skipped" if skip else None,
            )
        )
    return out


def section(markdown: str, begin: str, end: str) -> str:
    """The text between two marker comments (``<!-- tour:begin -->``)."""
    start = markdown.index(begin)
    return markdown[start : markdown.index(end, start)]


def as_script(runnable: list[Block]) -> str:
    """The bash and python blocks as one bash script, in order: a python block becomes
    ``python - <<'PY'``, so the folder a ``cd`` moved to stays current for the next block, as in
    a terminal. Each block announces itself on stderr, so a failure names its block."""
    lines = ["set -euo pipefail"]
    for block in runnable:
        lines.append(f"echo '>>> block at {block.where} ({block.lang})' >&2")
        if block.lang == "python":
            if "\nPY\n" in f"\n{block.text}":
                raise ValueError(f"the python block at {block.where} contains a line 'PY'")
            lines += ["python - <<'PY'", block.text.rstrip("\n"), "PY"]
        else:
            lines.append(block.text.rstrip("\n"))
    return "\n".join(lines) + "\n"
