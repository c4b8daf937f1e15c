"""search statistics: PostgreSQL's planner learns which values go with which param and tag key

Revision ID: 0009_search_stats
Revises: 0008_checks
Create Date: 2026-12-02 15:00:00.000000

``params`` and ``tags`` hold every key's values in one column, so PostgreSQL, which by default
takes ``key`` and ``value`` as independent, misjudges ``key = 'p0' AND value = 'a'``: with ten
keys of which one has five values and nine a thousand, it expected about 200 rows where 2,002
match (10,000 runs), started the search from that condition and sorted every match; at
100,000 runs it chose a parallel plan (70 to 250 ms, loaded). Extended statistics (the most
common (key, value) pairs, and how far the key decides the value) give it the true counts: it
then walks the order key's index and stops after the page (13 to 50 ms, loaded). SQLite keeps
its own statistics (``ANALYZE``, run by the store) and needs nothing here.
"""

from __future__ import annotations

from alembic import op

revision = "0009_search_stats"
down_revision = "0008_checks"
branch_labels = None
depends_on = None

_TABLES = ("params", "tags")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(
            f"CREATE STATISTICS IF NOT EXISTS st_{table}_key_value (mcv, dependencies) "
            f"ON key, value FROM {table}"
        )
        # Sampled (300 rows per statistics target), so seconds at most on a large store;
        # autovacuum would take them too, later.
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"DROP STATISTICS IF EXISTS st_{table}_key_value")
