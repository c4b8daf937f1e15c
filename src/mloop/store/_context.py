"""The current store: the settings, the metadata store and the artifact store mloop works with.

Every domain asks :func:`current` for them; none reads the environment or opens a store of its
own. Which context is current, first match wins:

1. the innermost ``with mloop.store.use(...):`` block of this thread or asyncio task. It is a
   :mod:`contextvars` scope: asyncio tasks started inside it see it, and so do the threads mloop
   starts (pipeline steps, tuning trials), which run in a copy of their starter's context;
2. the process default: set by :func:`mloop.set_tracking_uri`, by the ``mloop`` command's
   global options (``--tracking-uri``, ``--artifacts``) and by tests through
   :func:`set_default`; otherwise built on first use from the ``MLOOP_*`` environment and
   ``mloop.toml``. :func:`load_default_settings` is the one place mloop reads them.

Stores are opened on first use and shared: one :class:`~mloop.store.Store` and one
:class:`~mloop.store.ArtifactStore` per ``(tracking URI, artifacts)`` in a process, whichever
context (or tracking client) names them. They stay open for the life of the process, closed at
exit: replacing the default does not close them, because a ``Client`` or a ``use()`` block on
another thread may still be using the same store, and a closed HTTP store would fail them.

This module imports nothing heavy until a context is used, so the CLI's root callback can set
the default without slowing ``mloop <command> --help``.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mloop._core import Settings
    from mloop.store._artifacts import ArtifactStore
    from mloop.store._base import Store

__all__ = [
    "StoreContext",
    "close_stores",
    "current",
    "derive",
    "in_scope",
    "load_default_settings",
    "set_default",
    "shared_artifacts",
    "shared_store",
    "use",
]


@dataclass(frozen=True, eq=False)
class StoreContext:
    """The settings, and the stores they name (opened on first use, shared in the process).

    Example::

        ctx = mloop.store.current()
        ctx.settings.tracking_uri, ctx.store.list_experiments(), ctx.artifacts.exists("x")
    """

    settings: Settings

    @property
    def store(self) -> Store:
        """The metadata store (``SqlStore`` or ``HttpStore``) of ``settings.tracking_uri``."""
        return shared_store(self.settings)

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store of ``settings.artifacts`` (a folder or an fsspec URL)."""
        return shared_artifacts(self.settings)

    def __repr__(self) -> str:
        s = self.settings
        return f"StoreContext(tracking_uri={s.tracking_uri!r}, artifacts={s.artifacts!r})"


# -- which context is current ------------------------------------------------------------------

_scoped: ContextVar[StoreContext | None] = ContextVar("mloop_store_context", default=None)
_lock = threading.RLock()
_default: StoreContext | None = None
_default_overrides: dict[str, Any] = {}


def load_default_settings(**overrides: Any) -> Settings:
    """Settings from the ``MLOOP_*`` environment and ``mloop.toml``, with ``overrides`` on top
    (``None`` values are ignored): the only place mloop reads its configuration.

    Raises:
        InvalidArgument: a value is invalid (the message names each and where it came from).
    """
    from pydantic import ValidationError

    from mloop._core import load_settings
    from mloop.errors import InvalidArgument

    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidArgument(
            f"invalid configuration (MLOOP_* environment, mloop.toml or options): {problems}"
        ) from exc


def current() -> StoreContext:
    """The current context: the innermost :func:`use` block, else the process default.

    Example::

        store = mloop.store.current().store
    """
    global _default
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    found = _default
    if found is None:
        with _lock:
            found = _default
            if found is None:
                found = _default = StoreContext(load_default_settings(**_default_overrides))
    return found


def set_default(settings: Settings | None = None, /, **overrides: Any) -> None:
    """Replace the process default: with ``settings``, or (without) with settings read from the
    environment and ``mloop.toml`` on first use, ``overrides`` on top (``tracking_uri=``,
    ``artifacts=``; ``None`` values are ignored).

    Used by :func:`mloop.set_tracking_uri`, the CLI's global options and tests; a :func:`use`
    block still wins inside it.
    """
    global _default, _default_overrides
    if settings is not None and overrides:
        raise TypeError("set_default takes settings or overrides, not both")
    with _lock:
        _default_overrides = {k: v for k, v in overrides.items() if v is not None}
        _default = StoreContext(settings) if settings is not None else None


def in_scope() -> bool:
    """Whether a :func:`use` block is active in this thread or task."""
    return _scoped.get() is not None


@contextlib.contextmanager
def use(
    settings_or_uri: Settings | StoreContext | str, *, artifacts: str | None = None
) -> Iterator[StoreContext]:
    """Make a store current for the ``with`` block, in this thread or asyncio task (and the
    tasks and mloop threads started inside it); other threads keep theirs.

    Args:
        settings_or_uri: full settings, a context, or a tracking URI (``sqlite:///path``,
            ``postgresql://...``, ``http(s)://host:port``); a URI keeps the rest of the
            current settings (home, token, ...).
        artifacts: with a URI, the artifact folder or fsspec URL (default: the current one).

    Example::

        with mloop.store.use("sqlite:///experiments.db"):
            with mloop.start_run():
                mloop.log_metric("auc", 0.91)
            mloop.registry.resolve("models:/churn@champion")
    """
    if isinstance(settings_or_uri, StoreContext):
        if artifacts is not None:
            raise TypeError("artifacts= goes with a tracking URI, not a StoreContext")
        ctx = settings_or_uri
    else:
        ctx = StoreContext(derive(settings_or_uri, artifacts))
    token = _scoped.set(ctx)
    try:
        yield ctx
    finally:
        _scoped.reset(token)


def derive(settings_or_uri: Settings | str | None = None, artifacts: str | None = None) -> Settings:
    """``settings_or_uri`` itself when it is settings; else the current settings with the
    tracking URI and artifacts given replaced (no environment read)."""
    from mloop._core import Settings
    from mloop.errors import InvalidArgument

    if isinstance(settings_or_uri, Settings):
        if artifacts is not None:
            raise TypeError("artifacts= goes with a tracking URI, not with Settings")
        return settings_or_uri
    base = current().settings
    update: dict[str, str] = {}
    if settings_or_uri is not None:
        if not isinstance(settings_or_uri, str) or not settings_or_uri.strip():
            raise InvalidArgument(
                "expected Settings, a StoreContext or a tracking URI (sqlite:///path, "
                f"postgresql://..., http(s)://host:port), got {settings_or_uri!r:.80}"
            )
        update["tracking_uri"] = settings_or_uri
    if artifacts is not None:
        update["artifacts"] = str(artifacts)
    return base.model_copy(update=update) if update else base


# -- the stores, shared per (tracking URI, artifacts) ------------------------------------------

_stores: dict[tuple[str, str], Store] = {}
_artifact_stores: dict[tuple[str, str], ArtifactStore] = {}
K = TypeVar("K")
V = TypeVar("V")


def _once(opened: dict[K, V], key: K, open_: Callable[[], V]) -> V:
    """``opened[key]``, opened by ``open_()`` the first time (once, whatever the threads)."""
    found = opened.get(key)
    if found is None:
        with _lock:
            found = opened.get(key)
            if found is None:
                found = opened[key] = open_()
    return found


def shared_store(settings: Settings) -> Store:
    """The one store of ``(settings.tracking_uri, settings.artifacts)`` in this process, opened
    on first use."""
    from mloop.store._open import open_store

    key = (settings.tracking_uri, settings.artifacts)
    return _once(_stores, key, lambda: open_store(settings))


def shared_artifacts(settings: Settings) -> ArtifactStore:
    """The one artifact store of ``settings.artifacts`` (with the credentials of ``settings``)
    in this process, opened on first use."""
    import json

    from mloop.store._objectstore import open_artifact_store, storage_options

    root = settings.artifacts
    options = storage_options(settings)
    # one per root and credentials: two contexts may reach one bucket as different identities
    key = (root, json.dumps(options, sort_keys=True, default=str))
    return _once(_artifact_stores, key, lambda: open_artifact_store(root, options))


@atexit.register
def close_stores() -> None:
    """Close every shared store (at exit; tests call it between tests). A store asked for
    again afterwards is opened anew."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
        _artifact_stores.clear()
    for store in stores:
        with contextlib.suppress(Exception):  # closing at exit: nothing left to tell
            store.close()
