"""Write tests/durations.json (seconds per test file) from a JUnit XML report of a full run.

The suite's conftest hands the files to pytest-xdist's workers longest first, so the run does
not end with one worker alone on a two-minute file; this file is what it sorts by.

    .venv/bin/python -m pytest -n 3 --dist loadfile --junitxml=/tmp/suite.xml
    .venv/bin/python scripts/test_durations.py /tmp/suite.xml   # rewrite tests/durations.json

Only the order of the run depends on these figures, never a result: a stale or missing entry
costs minutes at worst, and a new test file is scheduled as if it took one second.
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "durations.json"


def file_seconds(report: Path) -> dict[str, float]:
    """Sum each test file's test times (setup and teardown included) in a JUnit XML report."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "")
        # classname is the dotted module path, then any test class: tests.serve.test_app.TestX
        parts = module.split(".")
        while parts and not parts[-1].startswith("test_"):
            parts.pop()
        if not parts:
            continue
        path = "/".join(parts) + ".py"
        if (ROOT / path).is_file():
            totals[path] += float(case.get("time") or 0.0)
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="JUnit XML of a full pytest run")
    args = parser.parse_args()
    seconds = file_seconds(args.report)
    ordered = dict(sorted((k, round(v, 1)) for k, v in seconds.items()))
    OUT.write_text(json.dumps(ordered, indent=1) + "\n")
    top = sorted(seconds.items(), key=lambda kv: -kv[1])[:10]
    print(f"wrote {len(ordered)} files to {OUT.relative_to(ROOT)}; the longest:")
    for path, secs in top:
        print(f"  {secs:7.1f} s  {path}")


if __name__ == "__main__":
    main()
