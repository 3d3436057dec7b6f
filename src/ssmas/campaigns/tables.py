"""ORM tables of tenants, leads, imports, segments and campaigns (migration ``0011_campaigns``).

Every row but a tenant's own carries ``tenant_id``; only :class:`ssmas.campaigns.scope.TenantScope`
queries these tables for a tenant, and it filters on that column, so a row of another tenant is
never found. Phone numbers and the free columns of an import (names, template variables) are
stored encrypted (``*_enc``, ``PiiCipher``); a number is found by its blind index, unique per
tenant (the dedup key).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db import Base, JsonType, UtcDateTime, utcnow

__all__ = [
    "Campaign",
    "Lead",
    "LeadImport",
    "Segment",
    "SegmentMember",
    "Tenant",
    "TenantKey",
    "UsageRecord",
]


class Tenant(Base):
    """A customer of the platform: its public ``slug``, tier and state."""

    __tablename__ = "campaigns_tenants"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    tier: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TenantKey(Base):
    """Which tenant an API key (core ``api_keys`` row) acts for; a key has at most one."""

    __tablename__ = "campaigns_tenant_keys"

    api_key_id: Mapped[int] = mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )


class UsageRecord(Base):
    """A tenant's metered use of one ``metric`` on one UTC day (added to, never rewritten)."""

    __tablename__ = "campaigns_usage"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "day", "metric"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE")
    )
    day: Mapped[date] = mapped_column(sa.Date())
    metric: Mapped[str] = mapped_column(sa.String(32))
    quantity: Mapped[int] = mapped_column(sa.BigInteger(), default=0)


class LeadImport(Base):
    """One file imported: its counts and the rejected rows with their reasons (``report``)."""

    __tablename__ = "campaigns_imports"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    report: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Lead(Base):
    """One validated number of a tenant, with what the import and the validation told of it."""

    __tablename__ = "campaigns_leads"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "phone_index"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )
    import_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("campaigns_imports.id", ondelete="SET NULL"), nullable=True
    )
    phone_index: Mapped[str] = mapped_column(sa.String(64))
    phone_enc: Mapped[str] = mapped_column(sa.Text())
    phone_last4: Mapped[str] = mapped_column(sa.String(4))
    line_type: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    lada: Mapped[str | None] = mapped_column(sa.String(3), nullable=True)
    city: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    state: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    time_zone: Mapped[str] = mapped_column(sa.String(64))
    whatsapp: Mapped[bool | None] = mapped_column(nullable=True)
    instagram: Mapped[bool | None] = mapped_column(nullable=True)
    facebook: Mapped[bool | None] = mapped_column(nullable=True)
    google: Mapped[bool | None] = mapped_column(nullable=True)
    apple: Mapped[bool | None] = mapped_column(nullable=True)
    quality: Mapped[float | None] = mapped_column(nullable=True)
    attributes_enc: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    attribute_names: Mapped[list[str]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Segment(Base):
    """An audience: leads matching ``rules`` (evaluated when used), or one k-means cluster
    (its members stored in :class:`SegmentMember`)."""

    __tablename__ = "campaigns_segments"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    profile: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    size: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SegmentMember(Base):
    """A lead of a cluster segment."""

    __tablename__ = "campaigns_segment_members"

    segment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_segments.id", ondelete="CASCADE"), primary_key=True
    )
    lead_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_leads.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Campaign(Base):
    """A message to a segment on one channel, drafted, scheduled, then launched once."""

    __tablename__ = "campaigns_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_tenants.id", ondelete="CASCADE"), index=True
    )
    segment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns_segments.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(16))
    template: Mapped[str] = mapped_column(sa.Text())
    variables: Mapped[list[str]] = mapped_column(JsonType, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    launched_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    recipients: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    enqueued: Mapped[dict[str, int]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
