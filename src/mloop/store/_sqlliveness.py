"""The liveness part of ``SqlStore``: run heartbeats, and the sweep that marks runs KILLED
whose process stopped sending them (a SIGKILL, a lost machine)."""

from __future__ import annotations

import sqlalchemy as sa

from mloop._core import now_ms
from mloop.store import _schema as t
from mloop.store._entities import RunStatus
from mloop.store._sqldb import Database, run_not_found


class SqlLiveness:
    """Heartbeats in ``runs.heartbeat_time`` (``SqlStore`` delegates to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def heartbeat(self, run_id: str, now: int | None = None) -> None:
        r = t.runs.c
        at = now_ms() if now is None else now

        def fn(conn: sa.Connection) -> None:
            res = conn.execute(
                sa.update(t.runs).where(r.run_id == run_id).values(heartbeat_time=at)
            )
            if res.rowcount == 0:
                raise run_not_found(run_id)

        self.db.write("recording a heartbeat", fn)

    def sweep(self, timeout_ms: int, now: int | None = None) -> list[str]:
        r = t.runs.c
        at = now_ms() if now is None else now
        stale = sa.and_(
            r.status == RunStatus.RUNNING.value,
            r.heartbeat_time.is_not(None),
            r.heartbeat_time < at - timeout_ms,
        )

        def fn(conn: sa.Connection) -> list[str]:
            ids = [row.run_id for row in conn.execute(sa.select(r.run_id).where(stale))]
            if ids:
                conn.execute(
                    sa.update(t.runs)
                    .where(stale, r.run_id.in_(ids))
                    .values(status=RunStatus.KILLED.value, end_time=r.heartbeat_time)
                )
            return sorted(ids)

        return self.db.write("sweeping runs without a heartbeat", fn)
