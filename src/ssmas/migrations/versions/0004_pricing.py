"""Pricing retraining decisions: one row per run of the retraining workflow.

Revision ID: 0004_pricing
Revises: 0005_pricing_serving
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_pricing"
down_revision: str | None = "0005_pricing_serving"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pricing_retrain_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("drift_score", sa.Float(), nullable=True),
        sa.Column("drift_level", sa.String(16), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("challenger_version", sa.Integer(), nullable=True),
        sa.Column("champion_rmse", sa.Float(), nullable=True),
        sa.Column("challenger_rmse", sa.Float(), nullable=True),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_retrain_decisions")),
    )
    op.create_index(
        op.f("ix_pricing_retrain_decisions_decided_at"),
        "pricing_retrain_decisions",
        ["decided_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_pricing_retrain_decisions_decided_at"), table_name="pricing_retrain_decisions"
    )
    op.drop_table("pricing_retrain_decisions")
