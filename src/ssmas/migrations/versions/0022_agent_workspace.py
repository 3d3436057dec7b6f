"""The assistant's agent workspace: teams, agents, assignment rules, canned responses, private
notes, CSAT answers; conversation status (open / pending / snoozed / resolved); handoffs routed
to a team with a resolution clock.

Revision ID: 0022_agent_workspace
Revises: 0014_campaigns_experiments
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022_agent_workspace"
down_revision: str | None = "0014_campaigns_experiments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "assistant_teams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("rr_cursor", sa.Integer(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_assistant_teams_name")),
    )
    op.create_table(
        "assistant_agents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("handle", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("languages", _json, nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_agents")),
        sa.UniqueConstraint("handle", name=op.f("uq_assistant_agents_handle")),
    )
    op.create_table(
        "assistant_team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["assistant_teams.id"],
            name=op.f("fk_assistant_team_members_team_id_assistant_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["assistant_agents.id"],
            name=op.f("fk_assistant_team_members_agent_id_assistant_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "agent_id", name=op.f("pk_assistant_team_members")),
    )
    op.create_table(
        "assistant_assignment_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(64), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("priority", sa.String(16), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["assistant_teams.id"],
            name=op.f("fk_assistant_assignment_rules_team_id_assistant_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_assignment_rules")),
    )
    op.create_index(
        op.f("ix_assistant_assignment_rules_team_id"), "assistant_assignment_rules", ["team_id"]
    )
    op.create_table(
        "assistant_canned_responses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("shortcut", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["assistant_teams.id"],
            name=op.f("fk_assistant_canned_responses_team_id_assistant_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_canned_responses")),
        sa.UniqueConstraint(
            "team_id", "shortcut", name=op.f("uq_assistant_canned_responses_team_id_shortcut")
        ),
    )
    op.create_table(
        "assistant_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("body_enc", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["assistant_conversations.id"],
            name=op.f("fk_assistant_notes_conversation_id_assistant_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_notes")),
    )
    op.create_index(
        op.f("ix_assistant_notes_conversation_id"), "assistant_notes", ["conversation_id"]
    )
    op.create_table(
        "assistant_csat",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("agent", sa.String(200), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        _ts("asked_at"),
        _ts("answered_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["assistant_conversations.id"],
            name=op.f("fk_assistant_csat_conversation_id_assistant_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_csat")),
    )
    op.create_index(
        op.f("ix_assistant_csat_conversation_id"), "assistant_csat", ["conversation_id"]
    )
    op.create_index(op.f("ix_assistant_csat_answered_at"), "assistant_csat", ["answered_at"])
    with op.batch_alter_table("assistant_conversations") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="open"))
        batch.add_column(_ts("snoozed_until", nullable=True))
        batch.add_column(_ts("resolved_at", nullable=True))
    with op.batch_alter_table("assistant_handoffs") as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("intent", sa.String(64), nullable=True))
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))
        batch.add_column(_ts("resolution_due_at", nullable=True))
        batch.add_column(_ts("paused_at", nullable=True))
        batch.add_column(_ts("resolved_at", nullable=True))
        batch.add_column(_ts("resolution_breach_notified_at", nullable=True))
        batch.create_foreign_key(
            op.f("fk_assistant_handoffs_team_id_assistant_teams"),
            "assistant_teams",
            ["team_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_assistant_handoffs_team_id"), ["team_id"])


def downgrade() -> None:
    with op.batch_alter_table("assistant_handoffs") as batch:
        batch.drop_index(op.f("ix_assistant_handoffs_team_id"))
        batch.drop_constraint(
            op.f("fk_assistant_handoffs_team_id_assistant_teams"), type_="foreignkey"
        )
        for column in (
            "resolution_breach_notified_at",
            "resolved_at",
            "paused_at",
            "resolution_due_at",
            "language",
            "intent",
            "team_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("assistant_conversations") as batch:
        for column in ("resolved_at", "snoozed_until", "status"):
            batch.drop_column(column)
    for table in (
        "assistant_csat",
        "assistant_notes",
        "assistant_canned_responses",
        "assistant_assignment_rules",
        "assistant_team_members",
        "assistant_agents",
        "assistant_teams",
    ):
        op.drop_table(table)
