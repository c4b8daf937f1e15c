"""tune journal

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 17:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tune_journal",
        sa.Column("journal_key", sa.String(length=256), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("journal_key", "idx", name=op.f("pk_tune_journal")),
    )


def downgrade() -> None:
    op.drop_table("tune_journal")
