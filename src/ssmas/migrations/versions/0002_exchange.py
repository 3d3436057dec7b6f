"""Exchange tables: versioned control plane and injected faults.

Revision ID: 0002_exchange
Revises: 0001_core
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_exchange"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "exchange_control_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("change", _json, nullable=False),
        sa.Column("state", _json, nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_exchange_control_versions")),
    )
    op.create_index(
        op.f("ix_exchange_control_versions_created_at"),
        "exchange_control_versions",
        ["created_at"],
    )
    op.create_table(
        "exchange_faults",
        sa.Column("fault_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(100), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fault_id", name=op.f("pk_exchange_faults")),
    )
    op.create_index(op.f("ix_exchange_faults_start"), "exchange_faults", ["start"])
    op.create_index(op.f("ix_exchange_faults_end"), "exchange_faults", ["end"])


def downgrade() -> None:
    op.drop_index(op.f("ix_exchange_faults_end"), table_name="exchange_faults")
    op.drop_index(op.f("ix_exchange_faults_start"), table_name="exchange_faults")
    op.drop_table("exchange_faults")
    op.drop_index(
        op.f("ix_exchange_control_versions_created_at"), table_name="exchange_control_versions"
    )
    op.drop_table("exchange_control_versions")
