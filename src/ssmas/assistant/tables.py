"""ORM tables of the assistant: conversations, messages, delivery statuses and handoffs; the agent
workspace's teams, agents, assignment rules, canned responses, private notes and CSAT answers;
the brain each worker process serves.

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

# Conversation statuses (the agent workspace's workflow, beside who speaks: ``state``).
# open: someone on our side owes an answer; pending: waiting for the customer (the resolution
# clock is paused); snoozed: put aside until ``snoozed_until`` or the customer's next message;
# resolved: done (reopens on the customer's next message, a CSAT answer excepted).
STATUS_OPEN = "open"
STATUS_PENDING = "pending"
STATUS_SNOOZED = "snoozed"
STATUS_RESOLVED = "resolved"
STATUSES = (STATUS_OPEN, STATUS_PENDING, STATUS_SNOOZED, STATUS_RESOLVED)

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
    status: Mapped[str] = mapped_column(sa.String(16), default=STATUS_OPEN)
    snoozed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
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
    # The agent workspace: the team it was routed to, what routed it, the resolution clock
    # (paused while the conversation is pending: ``paused_at``) and its breach.
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("assistant_teams.id", ondelete="SET NULL"), nullable=True, index=True
    )
    intent: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    language: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolution_breach_notified_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, nullable=True
    )


AGENT_AVAILABLE = "available"
AGENT_AWAY = "away"


class Team(Base):
    """A group of agents escalations are routed to (round robin among its members)."""

    __tablename__ = "assistant_teams"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    rr_cursor: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)  # last agent id
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Agent(Base):
    """A person who answers customers; ``handle`` is who acts (``web:<name>``,
    ``apikey:<prefix>``)."""

    __tablename__ = "assistant_agents"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    handle: Mapped[str] = mapped_column(sa.String(200), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    languages: Mapped[list[str]] = mapped_column(JsonType, default=list)
    capacity: Mapped[int] = mapped_column(sa.Integer, default=5)
    status: Mapped[str] = mapped_column(sa.String(16), default=AGENT_AVAILABLE)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TeamMember(Base):
    __tablename__ = "assistant_team_members"

    team_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assistant_teams.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assistant_agents.id", ondelete="CASCADE"), primary_key=True
    )


class AssignmentRule(Base):
    """Escalations matching intent / language / priority (None: any) go to ``team_id``; the
    lowest ``position`` that matches wins."""

    __tablename__ = "assistant_assignment_rules"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assistant_teams.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(sa.Integer, default=100)
    intent: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    language: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)
    priority: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CannedResponse(Base):
    """A reply agents reuse, per team (None: every team), with ``{{variables}}``."""

    __tablename__ = "assistant_canned_responses"
    __table_args__ = (sa.UniqueConstraint("team_id", "shortcut"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("assistant_teams.id", ondelete="CASCADE"), nullable=True
    )
    shortcut: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PrivateNote(Base):
    """An agent's note on a conversation: never sent, never in the bot's context; encrypted."""

    __tablename__ = "assistant_notes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assistant_conversations.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(sa.String(200))
    body_enc: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CsatAnswer(Base):
    """A satisfaction survey sent after resolution and, once the customer picks 1-5, its score;
    ``agent`` and ``team_id`` are who resolved it (CSAT per agent and team)."""

    __tablename__ = "assistant_csat"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("assistant_conversations.id", ondelete="CASCADE"), index=True
    )
    handoff_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    agent: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    team_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    score: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)


class BrainServed(Base):
    """What one worker process answers with: the NLU registry version (None: never registered)
    and the knowledge-base version of its brain, since when, and when it last said so
    (``ssmas.assistant.brain_served``)."""

    __tablename__ = "assistant_brain_served"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(200))
    pid: Mapped[int] = mapped_column(sa.Integer)
    nlu_version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    kb_version: Mapped[int] = mapped_column(sa.Integer)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
