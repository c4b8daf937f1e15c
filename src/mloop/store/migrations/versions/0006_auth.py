"""auth: API tokens, run heartbeats, who registered a model version

Revision ID: 0006_auth
Revises: 0004
Create Date: 2026-12-02 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_auth"
down_revision = "0005_loop"
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.Text(), server_default="{}", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), server_default="", nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
    )
    op.create_index("ix_api_tokens_name", "api_tokens", ["name"])
    if "heartbeat_time" not in _columns("runs"):
        with op.batch_alter_table("runs") as batch:
            batch.add_column(sa.Column("heartbeat_time", sa.BigInteger(), nullable=True))
    if "registered_by" not in _columns("model_versions"):
        with op.batch_alter_table("model_versions") as batch:
            batch.add_column(
                sa.Column("registered_by", sa.String(length=256), server_default="", nullable=False)
            )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("registered_by")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_time")
    op.drop_index("ix_api_tokens_name", table_name="api_tokens")
    op.drop_table("api_tokens")
