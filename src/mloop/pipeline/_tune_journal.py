"""Optuna studies stored in mloop's own metadata store: no extra database or service.

Optuna's :class:`~optuna.storages.JournalStorage` keeps every study as an append-only log of
operations; :class:`StoreJournalBackend` keeps that log in the store's ``tune_journal`` table
(SQLite, PostgreSQL) or behind a shared ``mloop server``. So whatever reaches the tracking URI
(a laptop, a Ray worker on another node) reaches the study.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import BaseJournalBackend

from mloop._core import Settings
from mloop.errors import StoreError
from mloop.store import Store
from mloop.store._base import MAX_JOURNAL_LOGS, validate_journal_key
from mloop.store._context import derive, shared_store


class StoreJournalBackend(BaseJournalBackend):
    """An Optuna journal backend over one key of an mloop store's journals.

    Log number ``n`` of Optuna is the journal index ``n`` of the key: indexes count 0, 1, 2, ...
    per key in the order appends committed, the same for every reader.

    Picklable: a copy (on a Ray worker, in a subprocess) reopens the store from the settings.

    Args:
        key: the journal (a namespace of studies), e.g. ``"churn-search"``.
        settings: where the store is; default the current store's (:func:`mloop.store.current`),
            taken when the backend is made, so a copy reopens the same store.
        store: an open store to use (it is not pickled; copies reopen one from ``settings``).
    """

    def __init__(
        self, key: str, *, settings: Settings | None = None, store: Store | None = None
    ) -> None:
        self.key = validate_journal_key(key)
        self._settings = settings if settings is not None else derive()
        self._store = store

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self.key, "_settings": self._settings, "_store": None}

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = shared_store(self._settings)
        return self._store

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        expected = log_number_from
        while True:
            page = self.store.read_tune_journal(self.key, expected, MAX_JOURNAL_LOGS)
            for idx, log in page:
                if idx != expected:  # the store guarantees a gapless prefix; never guess
                    raise StoreError(
                        f"tune journal {self.key!r}: expected log {expected}, the store gave {idx}"
                    )
                expected += 1
                yield log
            if len(page) < MAX_JOURNAL_LOGS:
                return

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        for i in range(0, len(logs), MAX_JOURNAL_LOGS):
            self.store.append_tune_journal(self.key, logs[i : i + MAX_JOURNAL_LOGS])


def journal_storage(
    key: str,
    *,
    tracking_uri: str | None = None,
    artifacts: str | None = None,
    store: Store | None = None,
) -> JournalStorage:
    """An Optuna storage in mloop's metadata store, for Optuna code of your own.

    Example::

        storage = mloop.pipeline.journal_storage("churn-search")
        study = optuna.create_study(study_name="lgbm", storage=storage, load_if_exists=True)
        study.optimize(objective, n_trials=50)

    Args:
        key: the journal; one journal holds any number of studies (by study name).
        tracking_uri, artifacts: the store; default the current one (:func:`mloop.store.current`).
        store: an open store instead.
    """
    settings = derive(tracking_uri, artifacts)
    return JournalStorage(StoreJournalBackend(key, settings=settings, store=store))
