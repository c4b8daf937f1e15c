"""The traces part of ``SqlStore``: the ``spans`` and ``traces`` tables.

A batch of spans is one transaction: its spans, then a summary row for each root span among them
(the totals are summed over the trace's spans in the database, so children written by an earlier
batch count). Both inserts skip rows already there, so a retried batch changes nothing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mloop.errors import TraceNotFound
from mloop.store import _schema as t
from mloop.store._sqldb import Database
from mloop.store._traces_base import Trace, span_from_row

_SPAN_COLUMNS = [c.name for c in t.spans.columns]
_TRACE_COLUMNS = [c.name for c in t.traces.columns]


class SqlTraces:
    """Spans and traces in the database ``db`` (``SqlStore`` delegates to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def log(self, spans: list[dict[str, Any]]) -> None:
        if not spans:
            return
        rows = [{k: s[k] for k in _SPAN_COLUMNS} for s in spans]
        roots = [s for s in spans if s["parent_id"] is None]
        s_ = t.spans.c

        def fn(conn: sa.Connection) -> None:
            conn.execute(
                self.db.insert(t.spans).on_conflict_do_nothing(
                    index_elements=["trace_id", "span_id"]
                ),
                rows,
            )
            if not roots:
                return
            totals: dict[str, Any] = {}
            ids = [r["trace_id"] for r in roots]
            for i in range(0, len(ids), 500):  # one grouped query per 500 traces
                totals.update(
                    (r[0], r)
                    for r in conn.execute(
                        sa.select(
                            s_.trace_id,
                            sa.func.count(),
                            sa.func.sum(s_.prompt_tokens),
                            sa.func.sum(s_.completion_tokens),
                            sa.func.sum(s_.cost),
                        )
                        .where(s_.trace_id.in_(ids[i : i + 500]))
                        .group_by(s_.trace_id)
                    )
                )
            conn.execute(
                self.db.insert(t.traces).on_conflict_do_nothing(index_elements=["trace_id"]),
                [
                    {
                        "trace_id": root["trace_id"],
                        "name": root["name"],
                        "status": root["status"],
                        "start_us": root["start_us"],
                        "duration_us": root["end_us"] - root["start_us"],
                        "run_id": root.get("run_id"),
                        "model_name": root.get("model_name"),
                        "model_version": root.get("model_version"),
                        "span_count": int(totals[root["trace_id"]][1]),
                        "prompt_tokens": totals[root["trace_id"]][2],
                        "completion_tokens": totals[root["trace_id"]][3],
                        "cost": totals[root["trace_id"]][4],
                    }
                    for root in roots
                ],
            )

        self.db.write("writing spans", fn)

    def search(self, where: dict[str, Any], limit: int) -> list[Trace]:
        c = t.traces.c
        q = sa.select(t.traces)
        for key in ("run_id", "name", "status", "model_name", "model_version"):
            if where.get(key) is not None:
                q = q.where(c[key] == where[key])
        if where.get("min_us") is not None:
            q = q.where(c.duration_us >= where["min_us"])
        if where.get("max_us") is not None:
            q = q.where(c.duration_us <= where["max_us"])
        q = q.order_by(c.start_us.desc(), c.trace_id).limit(limit)
        with self.db.read("searching traces") as conn:
            rows = conn.execute(q).mappings().all()
        return [Trace(**dict(r)) for r in rows]

    def get(self, trace_id: str) -> Trace:
        with self.db.read("reading a trace") as conn:
            row = conn.execute(sa.select(t.traces).where(t.traces.c.trace_id == trace_id)).first()
            if row is None:
                raise TraceNotFound(
                    f"no finished trace with id {trace_id!r}", details={"trace_id": trace_id}
                )
            spans = (
                conn.execute(
                    sa.select(t.spans)
                    .where(t.spans.c.trace_id == trace_id)
                    .order_by(t.spans.c.start_us, t.spans.c.span_id)
                )
                .mappings()
                .all()
            )
        return Trace(**row._asdict(), spans=[span_from_row(dict(s)) for s in spans])
