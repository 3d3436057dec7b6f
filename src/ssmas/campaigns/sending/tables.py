"""ORM tables of campaign sending: the send ledger and the opt-outs.

The ledger holds one row per (tenant, campaign, lead): its ``idem_key`` is unique, so a
campaign launched twice queues nobody twice, and the row is the unit a sender claims, sends
and records. Phone numbers and message bodies are stored only encrypted (``*_enc``), found by
their keyed blind index (``phone_index``). ``tenant_id`` is a plain integer: the tenants table
belongs to the tenants migration.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db import Base, UtcDateTime

# Ledger states. ``pending`` waits for its time (``not_before``); ``sending`` is claimed by one
# sender until ``lease_until``; the provider's receipts move ``sent`` on to ``delivered``,
# ``undelivered`` or ``failed``. ``opted_out`` and ``capped`` were never sent.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"
OPTED_OUT = "opted_out"
CAPPED = "capped"
STATES = (PENDING, SENDING, SENT, DELIVERED, UNDELIVERED, FAILED, OPTED_OUT, CAPPED)


class SendRow(Base):
    """One message of one campaign to one lead, from queued to its last receipt."""

    __tablename__ = "campaigns_send_ledger"
    __table_args__ = (
        sa.Index("ix_campaigns_send_ledger_due", "state", "not_before"),
        sa.Index("ix_campaigns_send_ledger_campaign", "tenant_id", "campaign_id", "state"),
        sa.Index("ix_campaigns_send_ledger_recipient", "tenant_id", "phone_index", "sent_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    idem_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    tenant_id: Mapped[int] = mapped_column(sa.Integer)
    campaign_id: Mapped[int] = mapped_column(sa.Integer)
    lead_id: Mapped[int] = mapped_column(sa.Integer)
    channel: Mapped[str] = mapped_column(sa.String(16))
    phone_index: Mapped[str] = mapped_column(sa.String(64))
    phone_enc: Mapped[str] = mapped_column(sa.Text)
    body_enc: Mapped[str] = mapped_column(sa.Text)
    tz: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16))
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    first_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    provider_sid: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, unique=True)
    error_code: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    converted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OptOut(Base):
    """A phone number that asked a tenant to stop (tenant 0: every tenant). Never deleted."""

    __tablename__ = "campaigns_opt_outs"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "phone_index"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(sa.Integer)
    phone_index: Mapped[str] = mapped_column(sa.String(64), index=True)
    keyword: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# The Core tables, for bulk statements (typed: ``__table__`` is only a ``FromClause`` to mypy).
LEDGER: sa.Table = SendRow.__table__  # type: ignore[assignment]
OPT_OUTS: sa.Table = OptOut.__table__  # type: ignore[assignment]
