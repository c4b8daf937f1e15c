"""The current store context: the default read once from the environment, ``set_default``,
``use`` blocks, and stores shared per (tracking URI, artifacts)."""

from __future__ import annotations

from pathlib import Path

import pytest

import mloop.store
from mloop._core import Settings
from mloop._core._config import settings_from_json, settings_to_json
from mloop.errors import InvalidArgument
from mloop.store import StoreContext, current, use
from mloop.store._context import close_stores, set_default


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOOP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLOOP_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLOOP_ARTIFACTS", raising=False)
    set_default()
    yield tmp_path
    close_stores()


def test_the_default_is_read_from_the_environment_once(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = current()
    assert first.settings.tracking_uri == f"sqlite:///{env / 'home' / 'mloop.db'}"
    monkeypatch.setenv("MLOOP_TRACKING_URI", f"sqlite:///{env / 'later.db'}")
    assert current() is first  # read once: a later change to the environment is not seen
    set_default()  # ... until the default is read again
    assert current().settings.tracking_uri == f"sqlite:///{env / 'later.db'}"


def test_set_default_with_overrides_or_settings(env: Path) -> None:
    set_default(tracking_uri=f"sqlite:///{env / 'a.db'}", artifacts=None)
    assert current().settings.tracking_uri == f"sqlite:///{env / 'a.db'}"
    assert current().settings.artifacts == str(env / "home" / "artifacts")
    given = Settings(tracking_uri=f"sqlite:///{env / 'b.db'}", artifacts=str(env / "b"))
    set_default(given)
    assert current().settings is given
    with pytest.raises(TypeError):
        set_default(given, tracking_uri="sqlite:///c.db")


def test_invalid_configuration_is_a_clear_error(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOOP_LOG_BATCH_SIZE", "0")
    set_default()
    with pytest.raises(InvalidArgument, match=r"invalid configuration .*log_batch_size"):
        current()


def test_use_nests_and_restores(env: Path) -> None:
    outer_uri, inner_uri = f"sqlite:///{env / 'outer.db'}", f"sqlite:///{env / 'inner.db'}"
    default = current()
    with use(outer_uri, artifacts=str(env / "outer")) as outer:
        assert current() is outer
        assert outer.settings.artifacts == str(env / "outer")
        assert outer.settings.home == default.settings.home  # the rest is kept
        with use(inner_uri) as inner:
            assert current() is inner
            assert inner.settings.artifacts == str(env / "outer")
        assert current() is outer
        with use(default) as same:
            assert same is default
    assert current() is default


def test_use_refuses_what_is_not_a_store(env: Path) -> None:
    with pytest.raises(InvalidArgument, match="tracking URI"), use(""):
        pass
    with pytest.raises(TypeError), use(current(), artifacts="x"):
        pass


def test_stores_are_shared_per_uri_and_artifacts(env: Path) -> None:
    a = StoreContext(Settings(tracking_uri=f"sqlite:///{env / 'a.db'}", artifacts=str(env)))
    also_a = StoreContext(a.settings.model_copy())
    other_artifacts = StoreContext(a.settings.model_copy(update={"artifacts": str(env / "x")}))
    assert a.store is also_a.store
    assert a.artifacts is also_a.artifacts
    assert other_artifacts.store is not a.store
    opened = a.store
    close_stores()
    assert a.store is not opened  # reopened on next use
    assert "a.db" in repr(a)


def test_settings_travel_to_a_worker_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    given = Settings(tracking_uri="http://mloop:5000", token="s3cret", ray_address="auto")
    text = settings_to_json(given)
    # the worker's own environment changes nothing
    monkeypatch.setenv("MLOOP_TOKEN", "other")
    monkeypatch.setenv("MLOOP_RAY_ADDRESS", "ray://elsewhere:10001")
    back = settings_from_json(text)
    assert back == given
    assert back.token is not None and back.token.get_secret_value() == "s3cret"


def test_public_names() -> None:
    assert mloop.store.current is current
    assert mloop.store.use is use
    assert mloop.store.StoreContext is StoreContext


def _environment_reads() -> dict[str, set[str]]:
    """Modules of src/mloop that read ``os.environ``/``os.getenv`` or call ``load_settings``."""
    import ast

    root = Path(mloop.store.__file__).parent.parent
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            what = None
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                what = f"os.{node.attr}"
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_settings":
                what = "load_settings"
            if what is not None:
                found.setdefault(path.relative_to(root).as_posix(), set()).add(what)
    return found


def test_configuration_is_read_in_one_place() -> None:
    """No domain reads the environment or loads settings on its own: they ask the current
    store context, whose default is the one place settings are loaded."""
    assert _environment_reads() == {
        # the one place settings are loaded
        "store/_context.py": {"load_settings"},
        # the login name, when getpass cannot tell it
        "_core/_identity.py": {"os.environ"},
        # the CLI's --debug switch, read at the edge
        "cli/_output.py": {"os.environ"},
        # Keras picks its backend from the environment at import; mloop asks it for torch
        "models/_keras.py": {"os.environ"},
        # `mloop reproduce` re-runs a user's script: the environment is its only channel
        "pipeline/_reproduce.py": {"os.environ"},
        # Vertex AI's container contract (AIP_HEALTH_ROUTE, AIP_PREDICT_ROUTE), read at the edge
        "cli/_serve.py": {"os.environ"},
        # MLflow's client (the importer reads MLflow's stores with it) is configured by MLFLOW_*
        "interop/_mlflow_import.py": {"os.environ"},
        # Arrow's own ARROW_DEFAULT_MEMORY_POOL wins over the pool `mloop drift` picks
        "cli/_drift.py": {"os.environ"},
    }
