"""``deploy.yaml``: what a valid policy holds, and the error for each kind of mistake (naming the
file, the line and the key) before any server starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mloop_serve_testlib import save_scaler

import mloop.registry
from mloop.errors import InvalidArgument, ModelVersionNotFound
from mloop.serve import DeployPolicy, create_serve_app, load_policy
from mloop.serve._policy import disagreement_rate, sticky_point

MLOOP = Path(sys.executable).with_name("mloop")

GOOD = """\
models:
  churn:
    canary:
      - {uri: "models:/churn@champion", weight: 90}
      - {version: 4, weight: 10}
    sticky_key: x-user-id
    shadow: "models:/churn@challenger"
    shadow_max_pending: 16
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    return path


def test_valid_policy(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, GOOD))
    spec = policy.models["churn"]
    assert spec.canary is not None
    assert [(e.uri, e.version, e.weight) for e in spec.canary] == [
        ("models:/churn@champion", None, 90.0),
        (None, 4, 10.0),
    ]
    assert spec.sticky_key == "x-user-id"
    assert spec.shadow == "models:/churn@challenger"
    assert spec.shadow_max_pending == 16
    assert policy.source == str(tmp_path / "deploy.yaml")
    # A parsed mapping and a DeployPolicy are accepted as they are.
    assert load_policy({"models": {"churn": {"shadow": 3}}}).models["churn"].shadow == 3
    assert load_policy(policy) is policy
    assert isinstance(policy, DeployPolicy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "models:\n  churn:\n    canary:\n      - {version: 3, weight: 90}\n"
            "      - {version: 4, weight: -10}\n",
            "line 5: models.churn.canary[1].weight: Input should be greater than or equal to 0 "
            "(got -10)",
        ),
        (
            "models:\n  churn:\n    canary:\n      - {version: 3, weight: 0}\n"
            "      - {version: 4, weight: 0}\n",
            "line 2: models.churn: canary weights are all zero",
        ),
        (
            "models:\n  churn:\n    canary:\n      - {version: 3, weight: 1}\n    stiky_key: x\n",
            "line 5: models.churn.stiky_key: unknown key; expected one of 'canary', "
            "'sticky_key', 'shadow', 'shadow_max_pending'",
        ),
        (
            "models:\n  churn:\n    canary:\n      - {version: 3, uri: 'models:/churn/3', "
            "weight: 1}\n",
            "line 4: models.churn.canary[0]: give exactly one of 'uri'",
        ),
        (
            "models:\n  churn:\n    canary:\n      - {version: 3}\n",
            "line 4: models.churn.canary[0].weight: a required key is missing",
        ),
        (
            "models:\n  churn:\n    canary:\n      - {version: 3, weight: lots}\n",
            "line 4: models.churn.canary[0].weight: Input should be a valid number",
        ),
        (
            "models:\n  churn:\n    canary: []\n",
            "line 3: models.churn.canary: List should have at least 1 item",
        ),
        (
            "models:\n  churn:\n    shadow: [1]\n",
            "line 3: models.churn.shadow: expected a models:/",
        ),
        ("models:\n  churn:\n    shadow: 0\n", "line 2: models.churn: 'shadow' must be"),
        ("models:\n  churn:\n    sticky_key: x-user\n", "'sticky_key' needs a 'canary' list"),
        ("models:\n  churn: [\n", "line 3: not valid YAML"),
        ("- 1\n", "expected a mapping with a 'models' key"),
        ("model:\n  churn: {}\n", "line 1: model: unknown key; expected one of 'models'"),
        ("", "expected a mapping with a 'models' key"),
        (
            "models:\n  churn:\n    shadow: models:/churn/2\n    shadow: models:/churn/3\n",
            "line 4: key 'shadow' is given twice (first on line 3)",
        ),
    ],
    ids=[
        "negative",
        "all-zero",
        "unknown-key",
        "uri-and-version",
        "no-weight",
        "weight-type",
        "empty-canary",
        "shadow-type",
        "shadow-zero",
        "sticky-no-canary",
        "not-yaml",
        "not-mapping",
        "no-models",
        "empty",
        "duplicate-key",
    ],
)
def test_bad_policy_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InvalidArgument) as info:
        load_policy(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert info.value.details["source"] == str(path)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"policy file '.*nope.yaml' does not exist"):
        load_policy(tmp_path / "nope.yaml")


def test_policy_checked_against_served_models(mloop_home: Path, tmp_path: Path) -> None:
    mloop.registry.register_model(save_scaler(tmp_path / "m1", 2.0), "m")
    mloop.registry.register_model(save_scaler(tmp_path / "o1", 2.0), "other")
    folder = save_scaler(tmp_path / "plain", 2.0)
    with pytest.raises(InvalidArgument, match=r"models\.nope: no model named 'nope' is served"):
        create_serve_app(["models:/m/1"], policy={"models": {"nope": {"shadow": 1}}})
    with pytest.raises(InvalidArgument, match=r"canary\[1\]: 'models:/other/1' is not a version"):
        create_serve_app(
            ["models:/m/1"],
            policy={
                "models": {
                    "m": {
                        "canary": [
                            {"version": 1, "weight": 1},
                            {"uri": "models:/other/1", "weight": 1},
                        ]
                    }
                }
            },
        )
    with pytest.raises(InvalidArgument, match=r"models\.plain\.shadow: .*from the registry"):
        create_serve_app([folder], policy={"models": {"plain": {"shadow": 1}}})
    with pytest.raises(ModelVersionNotFound):
        create_serve_app(["models:/m/1"], policy={"models": {"m": {"shadow": 7}}})
    with pytest.raises(InvalidArgument, match="poll_interval_s must be a positive"):
        create_serve_app(["models:/m/1"], poll_interval_s=0)


@pytest.mark.slow
def test_sticky_hash_is_the_same_in_every_process() -> None:
    keys = [f"user-{i}".encode() for i in range(50)]
    here = [sticky_point(b"churn\0" + k) for k in keys]
    assert all(0.0 <= p < 1.0 for p in here)
    assert 10 < sum(p < 0.5 for p in here) < 40  # spread, not constant
    code = (
        "from mloop.serve._policy import sticky_point;"
        f"print([sticky_point(b'churn\\0' + k) for k in {keys!r}])"
    )
    for seed in ("1", "2"):  # Python's own hash() would differ between these
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert out.strip() == repr(here)


def test_disagreement_rate() -> None:
    assert disagreement_rate([1, 0, 1], [1, 0, 1]) == 0.0
    assert disagreement_rate([1.0, 2.0], [1.0 + 1e-12, 2.5]) == 0.5
    assert disagreement_rate([{"a": 1, "b": "x"}], [{"a": 1, "b": "y"}]) == 1.0
    assert disagreement_rate([1, 2], [1, 2, 3]) == 1.0
    assert disagreement_rate([], []) == 0.0
    # what a batch slice gives: arrays (several rows)
    assert disagreement_rate(np.array([1.0, 2.0]), np.array([1.0, 3.0])) == 0.5
    assert disagreement_rate(np.array([1, 0]), [1, 0]) == 0.0


@pytest.mark.slow
def test_cli_refuses_a_bad_policy_before_serving(tmp_path: Path) -> None:
    model = save_scaler(tmp_path / "m", 2.0)
    policy = _write(tmp_path, "models:\n  m:\n    canary:\n      - {version: 1, weight: -1}\n")
    proc = subprocess.run(
        [str(MLOOP), "serve", model, "--port", "0", "--policy", str(policy)],
        env={
            **os.environ,
            "MLOOP_HOME": str(tmp_path / "home"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "PYTHONPATH": str(Path(__file__).parent),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"{policy} line 4: models.m.canary[0].weight" in proc.stderr
    assert "greater than or equal to 0" in proc.stderr
    assert "listening" not in proc.stderr


def test_load_deploy_policy_and_its_former_name() -> None:
    import mloop.serve

    assert mloop.serve.load_policy is mloop.serve.load_deploy_policy
    policy = mloop.serve.load_deploy_policy({"models": {"churn": {"shadow": 3}}})
    assert policy.models["churn"].shadow == 3
