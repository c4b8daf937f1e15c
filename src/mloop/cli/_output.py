"""Output shared by every command: Rich consoles, JSON on stdout, errors, value formatting.

Results go to stdout; progress, banners and errors go to stderr, so ``--json`` output can be piped
into ``jq`` untouched. Rich is imported on first use: ``mloop --help`` must stay fast.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

MISSING = "-"
#: Columns of ``runs list`` shown per run besides params and metrics.
SHORT_ID = 8


def stdout() -> Console:
    """A console on stdout (created per call, so test runners that swap ``sys.stdout`` work)."""
    from rich.console import Console

    return Console(highlight=False)


def stderr() -> Console:
    """A console on stderr, for progress, banners and messages around the result."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def debug_enabled() -> bool:
    """``MLOOP_DEBUG=1`` shows tracebacks instead of one-line errors."""
    return os.environ.get("MLOOP_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def print_error(message: str) -> None:
    """``error: <message>`` in red on stderr; the lines after the first (such as the caret under
    a filter) follow uncoloured and unchanged, so they stay aligned."""
    from rich.text import Text

    first, _, rest = str(message).partition("\n")
    console = stderr()
    console.print(Text(f"error: {first}", style="red"), soft_wrap=True)
    if rest:
        console.print(Text(rest), soft_wrap=True)


def print_notice(message: str, style: str = "dim") -> None:
    """One line of decoration on stderr."""
    from rich.text import Text

    stderr().print(Text(message, style=style), soft_wrap=True)


# -- JSON --------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON data: pydantic models dumped, NaN and infinities as ``"NaN"``, ``"Infinity"``,
    ``"-Infinity"`` (as the REST API writes them), tuples and sets as lists."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    """Write one JSON document to stdout, and nothing else."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


# -- formatting --------------------------------------------------------------------------------


def short_id(run_id: str) -> str:
    return run_id[:SHORT_ID]


def fmt_time(ms: int | None) -> str:
    """A timestamp in ms as local ``YYYY-MM-DD HH:MM:SS``."""
    if ms is None:
        return MISSING
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def fmt_duration(start_ms: int | None, end_ms: int | None, *, running: bool = False) -> str:
    """``850ms``, ``12.3s``, ``4m05s``, ``2h03m``, ``3d04h``; a running run counts to now."""
    if start_ms is None:
        return MISSING
    if end_ms is None:
        if not running:
            return MISSING
        end_ms = time.time_ns() // 1_000_000
    ms = max(0, end_ms - start_ms)
    if ms < 1_000:
        text = f"{ms}ms"
    elif ms < 60_000:
        text = f"{ms / 1000:.1f}s"
    elif ms < 3_600_000:
        text = f"{ms // 60_000}m{(ms // 1000) % 60:02d}s"
    elif ms < 86_400_000:
        text = f"{ms // 3_600_000}h{(ms // 60_000) % 60:02d}m"
    else:
        text = f"{ms // 86_400_000}d{(ms // 3_600_000) % 24:02d}h"
    return f"{text}+" if running else text


def fmt_number(value: float | None, digits: int = 4) -> str:
    """A metric value with ``digits`` significant digits (``nan``, ``inf`` spelled out)."""
    if value is None:
        return MISSING
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def fmt_size(size: int | None) -> str:
    if size is None:
        return ""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def status_style(status: str) -> str:
    return {"FINISHED": "green", "RUNNING": "cyan", "FAILED": "red", "KILLED": "yellow"}.get(
        status, ""
    )
