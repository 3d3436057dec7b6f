"""Live experiments and bandits of campaigns: experiments, their assigned units and recorded
outcomes, and Thompson-sampling bandits (``ssmas.campaigns.live``).

Revision ID: 0014_campaigns_experiments
Revises: 0013_key_tiers
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_campaigns_experiments"
down_revision: str | None = "0013_key_tiers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def _tenant(table: str) -> sa.ForeignKeyConstraint:
    return _fk(table, "tenant_id", "campaigns_tenants")


def _tenant_index(table: str) -> None:
    op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"])


def upgrade() -> None:
    op.create_table(
        "campaigns_experiments",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("variants", _json, nullable=False),
        sa.Column("metric", _json, nullable=False),
        sa.Column("guardrails", _json, nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("planned_total", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("winner", sa.String(64), nullable=True),
        sa.Column("decision", _json, nullable=False),
        _ts("created_at"),
        _ts("concluded_at", nullable=True),
        _tenant("campaigns_experiments"),
        _fk("campaigns_experiments", "campaign_id", "campaigns_campaigns", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_experiments")),
        sa.UniqueConstraint(
            "tenant_id", "key", name=op.f("uq_campaigns_experiments_tenant_id_key")
        ),
    )
    _tenant_index("campaigns_experiments")
    op.create_table(
        "campaigns_experiment_units",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(128), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("covariate", sa.Float(), nullable=True),
        _ts("assigned_at"),
        _tenant("campaigns_experiment_units"),
        _fk("campaigns_experiment_units", "experiment_id", "campaigns_experiments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_experiment_units")),
        sa.UniqueConstraint(
            "experiment_id", "unit", name=op.f("uq_campaigns_experiment_units_experiment_id_unit")
        ),
    )
    _tenant_index("campaigns_experiment_units")
    op.create_table(
        "campaigns_experiment_outcomes",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        _ts("recorded_at"),
        _tenant("campaigns_experiment_outcomes"),
        _fk("campaigns_experiment_outcomes", "experiment_id", "campaigns_experiments"),
        _fk("campaigns_experiment_outcomes", "unit_id", "campaigns_experiment_units"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_experiment_outcomes")),
        sa.UniqueConstraint(
            "unit_id", "metric", name=op.f("uq_campaigns_experiment_outcomes_unit_id_metric")
        ),
    )
    _tenant_index("campaigns_experiment_outcomes")
    op.create_index(
        op.f("ix_campaigns_experiment_outcomes_experiment_id"),
        "campaigns_experiment_outcomes",
        ["experiment_id"],
    )
    op.create_table(
        "campaigns_bandits",
        _id(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("arms", _json, nullable=False),
        sa.Column("pulls", _json, nullable=False),
        sa.Column("rewards", _json, nullable=False),
        sa.Column("true_rates", _json, nullable=True),
        sa.Column("history", _json, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _tenant("campaigns_bandits"),
        _fk("campaigns_bandits", "campaign_id", "campaigns_campaigns", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_bandits")),
    )
    _tenant_index("campaigns_bandits")


def downgrade() -> None:
    op.drop_table("campaigns_bandits")
    op.drop_table("campaigns_experiment_outcomes")
    op.drop_table("campaigns_experiment_units")
    op.drop_table("campaigns_experiments")
