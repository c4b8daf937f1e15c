"""The Optuna journal backend over mloop's store: Optuna's log numbers, paging, pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import optuna
from optuna.storages import JournalStorage

from mloop._core import load_settings
from mloop.pipeline._tune_journal import StoreJournalBackend, journal_storage
from mloop.store import SqlStore
from mloop.store._base import MAX_JOURNAL_LOGS

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_log_number_from_is_the_index_of_the_key(sqlite_store: SqlStore) -> None:
    sqlite_store.append_tune_journal("other", [{"op_code": 99}] * 3)  # another key in between
    backend = StoreJournalBackend("k", store=sqlite_store)
    backend.append_logs([{"n": i} for i in range(5)])
    sqlite_store.append_tune_journal("other", [{"op_code": 99}])
    backend.append_logs([{"n": 5}])
    assert [log["n"] for log in backend.read_logs(0)] == [0, 1, 2, 3, 4, 5]
    assert [log["n"] for log in backend.read_logs(4)] == [4, 5]
    assert list(backend.read_logs(6)) == []


def test_reads_page_past_the_store_limit(sqlite_store: SqlStore) -> None:
    backend = StoreJournalBackend("big", store=sqlite_store)
    backend.append_logs([{"n": i} for i in range(MAX_JOURNAL_LOGS + 5)])  # split in two appends
    logs = list(backend.read_logs(3))
    assert len(logs) == MAX_JOURNAL_LOGS + 2
    assert [log["n"] for log in logs[:2]] == [3, 4] and logs[-1]["n"] == MAX_JOURNAL_LOGS + 4


def test_two_storages_share_one_study(sqlite_store: SqlStore) -> None:
    a = JournalStorage(StoreJournalBackend("shared", store=sqlite_store))
    b = JournalStorage(StoreJournalBackend("shared", store=sqlite_store))
    study_a = optuna.create_study(study_name="s", storage=a)
    study_b = optuna.load_study(study_name="s", storage=b)
    study_a.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study_b.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert [t.number for t in study_a.trials] == [0, 1, 2, 3, 4]
    assert study_a.best_value == study_b.best_value


def test_the_backend_pickles_and_reopens_its_store(tmp_path: Path, mloop_home: Path) -> None:
    settings = load_settings(
        tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", artifacts=str(tmp_path / "a")
    )
    storage = journal_storage("p", tracking_uri=settings.tracking_uri, artifacts=settings.artifacts)
    optuna.create_study(study_name="s", storage=storage).optimize(
        lambda t: t.suggest_int("n", 0, 9), n_trials=2
    )
    copy = pickle.loads(pickle.dumps(storage))  # what Ray or a subprocess receives
    assert [t.state.name for t in optuna.load_study(study_name="s", storage=copy).trials] == [
        "COMPLETE",
        "COMPLETE",
    ]
