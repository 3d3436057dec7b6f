"""Ops: the self-healing journal in the database (one journal for every host's supervisor).

Revision ID: 0023_healing_journal
Revises: 0021_adops_agents
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023_healing_journal"
down_revision: str | None = "0021_adops_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ops_healing_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_healing_actions")),
    )
    op.create_index(op.f("ix_ops_healing_actions_at"), "ops_healing_actions", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ops_healing_actions_at"), table_name="ops_healing_actions")
    op.drop_table("ops_healing_actions")
