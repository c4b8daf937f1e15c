"""What a run records about where it ran."""

from __future__ import annotations

import subprocess
import sys


def test_packages_vendored_inside_a_package_are_not_the_environments() -> None:
    # Importing Ray puts ray/thirdparty_files (its own psutil and colorama) on sys.path.
    code = (
        "import mloop.tracking._context as c\n"
        "before = c.installed_packages()\n"
        "c.installed_packages.cache_clear()\n"
        "import ray\n"
        "import sys\n"
        "assert any(p.endswith('thirdparty_files') for p in sys.path), sys.path\n"
        "assert c.installed_packages() == before\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
