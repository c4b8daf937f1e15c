"""dataset checks: the stored outcome of data checks run on a dataset version

Revision ID: 0008_checks
Revises: 0007_genai
Create Date: 2026-12-02 11:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_checks"
down_revision = "0007_genai"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_checks",
        sa.Column(
            "check_pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "dataset_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("num_checks", sa.Integer(), nullable=False),
        sa.Column("num_failed", sa.Integer(), nullable=False),
        sa.Column("num_errors", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=256), server_default="", nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_pk"],
            ["datasets.dataset_pk"],
            name=op.f("fk_dataset_checks_dataset_pk_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("check_pk", name=op.f("pk_dataset_checks")),
    )
    op.create_index(
        "ix_dataset_checks_dataset_pk_check_pk",
        "dataset_checks",
        ["dataset_pk", "check_pk"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_dataset_checks_dataset_pk_check_pk", table_name="dataset_checks")
    op.drop_table("dataset_checks")
