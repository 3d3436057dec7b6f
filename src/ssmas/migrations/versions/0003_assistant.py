"""Assistant tables: conversations, messages (the send outbox), delivery statuses, handoffs.

Revision ID: 0003_assistant
Revises: 0002_exchange
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_assistant"
down_revision: str | None = "0002_exchange"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "assistant_conversations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_id", sa.String(64), nullable=False),
        sa.Column("phone_index", sa.String(64), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(200), nullable=True),
        sa.Column("session_no", sa.Integer(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        _ts("last_inbound_at", nullable=True),
        _ts("last_activity_at"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_conversations")),
        sa.UniqueConstraint(
            "business_id",
            "phone_index",
            name=op.f("uq_assistant_conversations_business_id_phone_index"),
        ),
    )
    op.create_index(
        op.f("ix_assistant_conversations_phone_index"), "assistant_conversations", ["phone_index"]
    )
    op.create_table(
        "assistant_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("wa_id", sa.String(255), nullable=True),
        sa.Column("direction", sa.String(4), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body_enc", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reply_to_id", sa.Integer(), nullable=True),
        sa.Column("session_no", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("intent", sa.String(64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("sentiment", sa.String(16), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("wa_timestamp", nullable=True),
        _ts("claimed_at", nullable=True),
        _ts("sent_at", nullable=True),
        _ts("created_at"),
        sa.Column("meta", _json, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["assistant_conversations.id"],
            name=op.f("fk_assistant_messages_conversation_id_assistant_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reply_to_id"],
            ["assistant_messages.id"],
            name=op.f("fk_assistant_messages_reply_to_id_assistant_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_messages")),
        sa.UniqueConstraint("wa_id", name=op.f("uq_assistant_messages_wa_id")),
        sa.UniqueConstraint("reply_to_id", name=op.f("uq_assistant_messages_reply_to_id")),
    )
    op.create_index(
        op.f("ix_assistant_messages_conversation_id"), "assistant_messages", ["conversation_id"]
    )
    op.create_index(op.f("ix_assistant_messages_created_at"), "assistant_messages", ["created_at"])
    op.create_table(
        "assistant_delivery_status",
        sa.Column("wa_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        _ts("status_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("wa_id", name=op.f("pk_assistant_delivery_status")),
    )
    op.create_table(
        "assistant_handoffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", _json, nullable=False),
        _ts("opened_at"),
        _ts("sla_due_at"),
        sa.Column("agent", sa.String(200), nullable=True),
        _ts("assigned_at", nullable=True),
        _ts("first_response_at", nullable=True),
        _ts("closed_at", nullable=True),
        _ts("breach_notified_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["assistant_conversations.id"],
            name=op.f("fk_assistant_handoffs_conversation_id_assistant_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_handoffs")),
    )
    op.create_index(
        op.f("ix_assistant_handoffs_conversation_id"), "assistant_handoffs", ["conversation_id"]
    )
    op.create_index(
        op.f("ix_assistant_handoffs_state_priority_rank_sla_due_at"),
        "assistant_handoffs",
        ["state", "priority_rank", "sla_due_at"],
    )


def downgrade() -> None:
    op.drop_table("assistant_handoffs")
    op.drop_table("assistant_delivery_status")
    op.drop_table("assistant_messages")
    op.drop_table("assistant_conversations")
