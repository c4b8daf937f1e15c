"""Feedback during long commands (evaluate, gate, promote): a spinner on stderr naming the
phase under way, and a line for each finished step (``challenger evaluated in 3.1 s``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from mloop.cli._output import stderr

__all__ = ["phases"]


@contextlib.contextmanager
def phases(first: str) -> Iterator[Callable[[str], None]]:
    """A spinner that starts at ``first``; the callable it yields moves it to the next phase.
    A line ending in ``in <n> s`` is a finished step: printed for good above the spinner.
    Where stderr is not a terminal (CI logs, pipes) only the finished steps are printed."""
    from rich.text import Text

    console = stderr()
    start = time.perf_counter()

    with console.status(Text(first), spinner="dots") as status:

        def say(line: str) -> None:
            if " in " in line and line.endswith(" s"):
                console.print(Text(line, style="dim"))
            else:
                status.update(Text(f"{line} ({time.perf_counter() - start:.0f} s)"))

        yield say
