"""Dashboard sessions kept by the server, so signing out and revoking a key end them.

Revision ID: 0007_core_sessions
Revises: 0006_assistant_send_token
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_core_sessions"
down_revision: str | None = "0006_assistant_send_token"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_core_sessions_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_core_sessions")),
    )
    op.create_index(op.f("ix_core_sessions_key_id"), "core_sessions", ["key_id"])
    op.create_index(op.f("ix_core_sessions_expires_at"), "core_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_core_sessions_expires_at"), table_name="core_sessions")
    op.drop_index(op.f("ix_core_sessions_key_id"), table_name="core_sessions")
    op.drop_table("core_sessions")
