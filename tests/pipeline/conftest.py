"""Pipeline fixtures: an isolated MLOOP_HOME, and a project folder where tests write pipeline
files (real .py files, loaded by FILE:NAME, edited in place to change code)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Shared by the pipeline files the tests write: a log of which steps actually ran.
PRELUDE = """\
import os
import pathlib
import time

import mloop
from mloop.pipeline import pipeline, step

HERE = pathlib.Path(__file__).parent


def mark(name):
    with open(HERE / "ran.log", "a") as f:
        f.write(name + "\\n")
"""


@dataclass
class Project:
    root: Path

    def write(self, name: str, source: str, *, prelude: bool = True) -> Path:
        path = self.root / name
        text = textwrap.dedent(source)
        path.write_text((PRELUDE + "\n\n" if prelude else "") + text)
        return path

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.root / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new))

    def ran(self) -> list[str]:
        """Steps that ran since the last call (and forget them)."""
        log = self.root / "ran.log"
        if not log.exists():
            return []
        names = log.read_text().split()
        log.unlink()
        return names

    def target(self, name: str, pipeline: str) -> str:
        return f"{self.root / name}:{pipeline}"


@pytest.fixture
def project(mloop_home: Path, tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root)


def statuses(result: Any) -> dict[str, str]:
    return {s.step_id: s.status for s in result.steps}


def client() -> Any:
    from mloop.tracking import _fluent

    c = _fluent._get_client()
    c.flush()
    return c


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that runs a pipeline file of its project runs its steps in child processes: it
    is slow (make test runs it, make test-fast does not)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and "project" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
