"""What a run records about where it ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
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


def test_a_nested_run_leaves_the_package_list_to_its_parent(mloop_home: Path) -> None:
    import mloop
    from mloop.tracking import current_client

    with mloop.start_run() as parent, mloop.start_run(nested=True) as child:
        pass
    client = current_client()
    assert "mloop.env.packages" in client.get_run(parent.run_id).data.tags
    child_tags = client.get_run(child.run_id).data.tags
    assert not any(k.startswith("mloop.env.packages.") for k in child_tags)
    assert "mloop.env.packages" not in child_tags
    assert "mloop.env.packages_sha256" in child_tags  # the hash stays: runs compare by it
