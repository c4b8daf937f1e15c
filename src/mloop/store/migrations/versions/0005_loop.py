"""the closed loop: deployment records, loop state, transitions, monitor results, alerts

Revision ID: 0005_loop
Revises: 0004
Create Date: 2026-12-02 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_loop"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=256), server_default="", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name=op.f("fk_deployments_name_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployments")),
    )
    op.create_table(
        "loops",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.String(length=256), nullable=True),
        sa.Column("lease_expires", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_loops")),
    )
    op.create_table(
        "loop_transitions",
        sa.Column("transition_id", _ID, autoincrement=True, nullable=False),
        sa.Column("loop_name", sa.String(length=256), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=False),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("evidence", sa.Text(), server_default="{}", nullable=False),
        sa.Column("actor", sa.String(length=256), server_default="", nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loop_name"],
            ["loops.name"],
            name=op.f("fk_loop_transitions_loop_name_loops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transition_id", name=op.f("pk_loop_transitions")),
        sa.UniqueConstraint("loop_name", "seq", name=op.f("uq_loop_transitions_loop_name_seq")),
    )
    op.create_table(
        "loop_monitor_results",
        sa.Column("result_id", _ID, autoincrement=True, nullable=False),
        sa.Column("loop_name", sa.String(length=256), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loop_name"],
            ["loops.name"],
            name=op.f("fk_loop_monitor_results_loop_name_loops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", name=op.f("pk_loop_monitor_results")),
    )
    op.create_index(
        "ix_loop_monitor_results_loop_name_time",
        "loop_monitor_results",
        ["loop_name", "time"],
        unique=False,
    )
    op.create_table(
        "loop_alerts",
        sa.Column("alert_id", _ID, autoincrement=True, nullable=False),
        sa.Column("loop_name", sa.String(length=256), nullable=False),
        sa.Column("condition", sa.String(length=256), nullable=False),
        sa.Column("sink", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loop_name"],
            ["loops.name"],
            name=op.f("fk_loop_alerts_loop_name_loops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_loop_alerts")),
    )
    op.create_index(
        "ix_loop_alerts_loop_name_condition",
        "loop_alerts",
        ["loop_name", "condition", "time"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_loop_alerts_loop_name_condition", table_name="loop_alerts")
    op.drop_table("loop_alerts")
    op.drop_index("ix_loop_monitor_results_loop_name_time", table_name="loop_monitor_results")
    op.drop_table("loop_monitor_results")
    op.drop_table("loop_transitions")
    op.drop_table("loops")
    op.drop_table("deployments")
