"""The tuning part of ``SqlStore``: Optuna journals in the ``tune_journal`` table.

A journal's order must be the same for every reader, and a reader that has read up to index
``n`` must never later find a log below ``n`` appear. Appends to one key are therefore
serialized, and the next index is taken inside the serialized section: ``BEGIN IMMEDIATE`` on
SQLite (one writer at a time), a transaction-scoped advisory lock on the key on PostgreSQL (held
until commit). The committed rows of a key are always the prefix ``0..n-1``. A global sequence
would not do on PostgreSQL: values are handed out at insert, not at commit, so a reader could see
``seq 8`` committed before ``seq 7`` and skip it for good.
"""

from __future__ import annotations

import sqlalchemy as sa

from mloop._core import now_ms
from mloop.store import _schema as t
from mloop.store._sqldb import Database

#: The first key of PostgreSQL advisory locks taken per journal key ("mlt").
_PG_LOCK_CLASS = 0x6D6C74


class SqlTune:
    """Tune journals in the database ``db`` (``SqlStore`` delegates to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, key: str, texts: list[str]) -> int:
        j = t.tune_journal.c

        def fn(conn: sa.Connection) -> int:
            self.db.lock(conn, _PG_LOCK_CLASS, key)
            first = int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(j.idx) + 1, 0)).where(
                        j.journal_key == key
                    )
                ).scalar_one()
            )
            now = now_ms()
            conn.execute(
                sa.insert(t.tune_journal),
                [
                    {"journal_key": key, "idx": first + i, "log": text, "created_time": now}
                    for i, text in enumerate(texts)
                ],
            )
            return first

        return self.db.write("appending to a tune journal", fn)

    def read(self, key: str, start: int, limit: int) -> list[tuple[int, str]]:
        j = t.tune_journal.c
        with self.db.read("reading a tune journal") as conn:
            rows = conn.execute(
                sa.select(j.idx, j.log)
                .where(j.journal_key == key, j.idx >= start)
                .order_by(j.idx)
                .limit(limit)
            ).all()
        return [(int(r.idx), r.log) for r in rows]
