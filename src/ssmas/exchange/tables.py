"""Database tables of the exchange: control-plane versions and injected faults (migration 0002)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db import Base, JsonType, UtcDateTime, utcnow


class ControlVersionRow(Base):
    """One control-plane version: the full knob state, the change, who made it and why."""

    __tablename__ = "exchange_control_versions"

    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.Text)
    change: Mapped[dict[str, Any]] = mapped_column(JsonType)
    state: Mapped[dict[str, Any]] = mapped_column(JsonType)


class FaultRow(Base):
    """A fault injected into the live simulator, with its ground-truth window."""

    __tablename__ = "exchange_faults"

    fault_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    entity: Mapped[str] = mapped_column(sa.String(100))
    start: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    end: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    severity: Mapped[float] = mapped_column(sa.Float)
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
