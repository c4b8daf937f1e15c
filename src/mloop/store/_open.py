"""Choosing a store from the settings."""

from __future__ import annotations

from mloop._core import Settings
from mloop.store._base import Store


def open_store(settings: Settings) -> Store:
    """``HttpStore`` for an ``http(s)://`` tracking URI, otherwise ``SqlStore``.

    Example::

        store = open_store(load_settings(tracking_uri="sqlite:///mloop.db"))
    """
    if settings.is_http:
        from mloop.store._http import HttpStore

        return HttpStore(
            settings.tracking_uri,
            token=settings.token.get_secret_value() if settings.token else None,
            timeout=settings.http_timeout_s,
        )
    from mloop.store._objectstore import storage_options
    from mloop.store._sqlstore import SqlStore

    return SqlStore(
        settings.tracking_uri, settings.artifacts, storage_options=storage_options(settings)
    )
