"""Assistant: the brain each worker process serves (NLU and knowledge-base versions).

Revision ID: 0024_brain_served
Revises: 0023_healing_journal
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_brain_served"
down_revision: str | None = "0023_healing_journal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_brain_served",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("nlu_version", sa.Integer(), nullable=True),
        sa.Column("kb_version", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_assistant_brain_served")),
    )
    op.create_index(
        op.f("ix_assistant_brain_served_seen_at"), "assistant_brain_served", ["seen_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_assistant_brain_served_seen_at"), table_name="assistant_brain_served")
    op.drop_table("assistant_brain_served")
