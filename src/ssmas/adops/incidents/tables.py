"""Database tables of AdOps incidents and the stream's checkpoint (migration 0010)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db import Base, JsonType, UtcDateTime, utcnow


class IncidentRow(Base):
    """One incident: correlated alerts on one entity (and what cascaded from it)."""

    __tablename__ = "adops_incidents"

    incident_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    correlation_key: Mapped[str] = mapped_column(sa.String(300), index=True)
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[str] = mapped_column(sa.String(200))
    title: Mapped[str] = mapped_column(sa.String(500))
    problem_type: Mapped[str] = mapped_column(sa.String(64))
    severity: Mapped[str] = mapped_column(sa.String(16), index=True)
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_alert_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    automated: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    human_touched: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    alert_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    entities: Mapped[list[str]] = mapped_column(JsonType, default=list)


class AlertRow(Base):
    """One distinct alert (a fingerprint within an incident); repeats raise ``occurrences``.
    A silenced alert keeps its row with no incident and the silence that held it."""

    __tablename__ = "adops_alerts"

    alert_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), index=True)
    incident_id: Mapped[str | None] = mapped_column(
        sa.String(40), sa.ForeignKey("adops_incidents.incident_id"), nullable=True, index=True
    )
    silence_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    source: Mapped[str] = mapped_column(sa.String(40))
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[str] = mapped_column(sa.String(200))
    problem_type: Mapped[str] = mapped_column(sa.String(64))
    severity: Mapped[str] = mapped_column(sa.String(16))
    score: Mapped[float] = mapped_column(sa.Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonType)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_at: Mapped[datetime] = mapped_column(UtcDateTime())
    occurrences: Mapped[int] = mapped_column(sa.Integer, default=1)


class AlertKeyRow(Base):
    """Every alert (fingerprint and minute) ever taken in: a redelivered one is a no-op."""

    __tablename__ = "adops_alert_keys"

    alert_key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class TimelineRow(Base):
    """One line of an incident's timeline: an alert, a note, a state change, a notification."""

    __tablename__ = "adops_incident_timeline"

    entry_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("adops_incidents.incident_id"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class SilenceRow(Base):
    """A silence or a maintenance window: alerts matching it in ``[starts_at, ends_at)`` open
    no incident. Empty matchers match everything."""

    __tablename__ = "adops_silences"

    silence_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    matchers: Mapped[dict[str, str]] = mapped_column(JsonType)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(sa.String(200))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class NotificationRow(Base):
    """A notification sent once per incident and event (the dedup of the notifiers)."""

    __tablename__ = "adops_notifications"

    dedup_key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    incident_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(16))


class StreamCheckpointRow(Base):
    """The stream job's state and the bus offsets it has consumed, written in one transaction."""

    __tablename__ = "adops_stream_checkpoints"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    state: Mapped[bytes] = mapped_column(sa.LargeBinary)
    offsets: Mapped[dict[str, int]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
