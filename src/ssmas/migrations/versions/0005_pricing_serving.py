"""Pricing serving tables: captured predictions, floor decisions, outcomes, floor configs, drift.

Revision ID: 0005_pricing_serving
Revises: 0003_assistant
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_pricing_serving"
down_revision: str | None = "0003_assistant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    op.create_table(
        "pricing_captures",
        _id(),
        _ts("captured_at"),
        sa.Column("impression_id", sa.String(128), nullable=False),
        sa.Column("variant", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("request", _json, nullable=False),
        sa.Column("predicted_cpm", sa.Float(), nullable=False),
        sa.Column("lower", sa.Float(), nullable=False),
        sa.Column("upper", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_captures")),
    )
    _index("pricing_captures", "captured_at")
    _index("pricing_captures", "impression_id")
    op.create_table(
        "pricing_floor_decisions",
        _id(),
        _ts("decided_at"),
        sa.Column("impression_id", sa.String(128), nullable=False),
        sa.Column("publisher_id", sa.String(64), nullable=True),
        sa.Column("floor", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("predicted_cpm", sa.Float(), nullable=True),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("variant", sa.String(16), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_floor_decisions")),
    )
    _index("pricing_floor_decisions", "decided_at")
    _index("pricing_floor_decisions", "impression_id")
    _index("pricing_floor_decisions", "publisher_id")
    op.create_table(
        "pricing_outcomes",
        _id(),
        _ts("received_at"),
        sa.Column("impression_id", sa.String(128), nullable=False),
        sa.Column("variant", sa.String(16), nullable=True),
        sa.Column("model_version", sa.String(32), nullable=True),
        sa.Column("predicted_cpm", sa.Float(), nullable=True),
        sa.Column("clearing_cpm", sa.Float(), nullable=True),
        sa.Column("filled", sa.Boolean(), nullable=False),
        sa.Column("revenue_eur", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_outcomes")),
    )
    _index("pricing_outcomes", "received_at")
    _index("pricing_outcomes", "impression_id")
    op.create_table(
        "pricing_floor_configs",
        sa.Column("publisher_id", sa.String(64), nullable=False),
        sa.Column("config", _json, nullable=False),
        _ts("updated_at"),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("publisher_id", name=op.f("pk_pricing_floor_configs")),
    )
    op.create_table(
        "pricing_drift_reports",
        _id(),
        _ts("computed_at"),
        _ts("window_start"),
        _ts("window_end"),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("report", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_drift_reports")),
    )
    _index("pricing_drift_reports", "computed_at")


def downgrade() -> None:
    op.drop_index(op.f("ix_pricing_drift_reports_computed_at"), table_name="pricing_drift_reports")
    op.drop_table("pricing_drift_reports")
    op.drop_table("pricing_floor_configs")
    for table, columns in (
        ("pricing_outcomes", ("received_at", "impression_id")),
        ("pricing_floor_decisions", ("decided_at", "impression_id", "publisher_id")),
        ("pricing_captures", ("captured_at", "impression_id")),
    ):
        for column in columns:
            op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
        op.drop_table(table)
