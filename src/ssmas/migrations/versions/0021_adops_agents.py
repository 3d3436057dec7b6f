"""AdOps agents: cases (the agents' work on an incident), actions and approvals.

Revision ID: 0021_adops_agents
Revises: 0016_security_ops
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021_adops_agents"
down_revision: str | None = "0016_security_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "adops_agent_cases",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("agent", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("hypotheses", _json, nullable=False),
        sa.Column("next_hypothesis", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        _ts("reference_at"),
        _ts("opened_at"),
        _ts("updated_at"),
        sa.Column("planner", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_adops_agent_cases")),
    )
    op.create_index(
        op.f("ix_adops_agent_cases_state"), "adops_agent_cases", ["state"], unique=False
    )
    op.create_table(
        "adops_agent_actions",
        sa.Column("action_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("agent", sa.String(length=40), nullable=False),
        sa.Column("tool", sa.String(length=60), nullable=False),
        sa.Column("args", _json, nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("risk", sa.String(length=10), nullable=False),
        sa.Column("blast_radius", sa.Float(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("change", _json, nullable=False),
        sa.Column("undo", _json, nullable=False),
        sa.Column("version_before", sa.Integer(), nullable=True),
        sa.Column("version_after", sa.Integer(), nullable=True),
        sa.Column("verify", _json, nullable=False),
        _ts("created_at"),
        _ts("applied_at", True),
        _ts("verified_at", True),
        sa.Column("approval_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("action_id", name=op.f("pk_adops_agent_actions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_adops_agent_actions_idempotency_key")),
    )
    for column in ("incident_id", "target", "status", "created_at"):
        op.create_index(
            op.f(f"ix_adops_agent_actions_{column}"),
            "adops_agent_actions",
            [column],
            unique=False,
        )
    op.create_table(
        "adops_approvals",
        sa.Column("approval_id", sa.String(length=40), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("tool", sa.String(length=60), nullable=False),
        sa.Column("args", _json, nullable=False),
        sa.Column("risk", sa.String(length=10), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        _ts("requested_at"),
        _ts("expires_at"),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        _ts("decided_at", True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("approval_id", name=op.f("pk_adops_approvals")),
    )
    for column in ("action_id", "incident_id", "state"):
        op.create_index(
            op.f(f"ix_adops_approvals_{column}"), "adops_approvals", [column], unique=False
        )


def downgrade() -> None:
    op.drop_table("adops_approvals")
    op.drop_table("adops_agent_actions")
    op.drop_table("adops_agent_cases")
