"""ORM tables of the assistant: conversations, messages, delivery statuses and handoffs.

Phone numbers, names and message bodies are stored only encrypted (``*_enc``, Fernet through
``PiiCipher``); a phone number is found by its blind index. Two unique constraints make the
channel idempotent: one row per WhatsApp message id, and one bot reply per inbound message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db import Base, JsonType, UtcDateTime

# Conversation states: the bot answers only in ``bot``; ``handoff`` waits for an agent and
# ``human`` is owned by one, and in both the bot stays silent.
STATE_BOT = "bot"
STATE_HANDOFF = "handoff"
STATE_HUMAN = "human"

# Outbound message states (the send outbox).
OUT_PENDING = "pending"
OUT_SENDING = "sending"
OUT_SENT = "sent"
OUT_FAILED = "failed"

# Inbound message states.
IN_RECEIVED = "received"
IN_DONE = "done"


class Conversation(Base):
    """One customer's thread with one business number."""

    __tablename__ = "assistant_conversations"
    __table_args__ = (sa.UniqueConstraint("business_id", "phone_index"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    business_id: Mapped[str] = mapped_column(sa.String(64))
    phone_index: Mapped[str] = mapped_column(sa.String(64), index=True)
    phone_enc: Mapped[str] = mapped_column(sa.Text)
    name_enc: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    language: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)
    state: Mapped[str] = mapped_column(sa.String(16), default=STATE_BOT)
    agent: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    session_no: Mapped[int] = mapped_column(sa.Integer, default=1)
    turns: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_activity_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ChatMessage(Base):
    """One message in or out; outbound rows double as the send outbox."""

    __tablename__ = "assistant_messages"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assistant_conversations.id", ondelete="CASCADE"), index=True
    )
    wa_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True, nullable=True)
    direction: Mapped[str] = mapped_column(sa.String(4))
    author: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(32))
    body_enc: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16))
    reply_to_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("assistant_messages.id", ondelete="SET NULL"), unique=True, nullable=True
    )
    session_no: Mapped[int] = mapped_column(sa.Integer, default=1)
    language: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)
    intent: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    confidence: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    sentiment: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    error_code: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    wa_timestamp: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class DeliveryStatus(Base):
    """The furthest delivery status seen for one sent message; it only moves forward."""

    __tablename__ = "assistant_delivery_status"

    wa_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    rank: Mapped[int] = mapped_column(sa.Integer)
    error_code: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    status_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The send token Meta echoed (``biz_opaque_callback_data``): which outbox row this message
    # was sent for, so a takeover can find proof that a lapsed claim's send was accepted.
    callback_data: Mapped[str | None] = mapped_column(sa.String(512), nullable=True, index=True)


class Handoff(Base):
    """A conversation waiting for, or owned by, a human agent, with its SLA deadline."""

    __tablename__ = "assistant_handoffs"
    __table_args__ = (sa.Index(None, "state", "priority_rank", "sla_due_at"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assistant_conversations.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(sa.String(16))
    priority: Mapped[str] = mapped_column(sa.String(16))
    priority_rank: Mapped[int] = mapped_column(sa.Integer)
    department: Mapped[str] = mapped_column(sa.String(64))
    score: Mapped[int] = mapped_column(sa.Integer)
    reasons: Mapped[list[str]] = mapped_column(JsonType, default=list)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sla_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    agent: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    breach_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
