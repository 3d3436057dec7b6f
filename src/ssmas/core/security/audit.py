"""The audit log: append who did what to which target; read the newest entries first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from ssmas.core.db.base import utcnow
from ssmas.core.db.models import AuditEntry


class AuditRecord(BaseModel):
    """One audit entry as callers see it."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: AuditEntry) -> AuditRecord:
        return cls(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            details=dict(row.details or {}),
        )


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append an entry in ``session`` (the caller commits). No personal data in ``details``."""
    row = AuditEntry(
        at=at or utcnow(), actor=actor, action=action, target=target, details=details or {}
    )
    session.add(row)
    session.flush()
    return AuditRecord.from_row(row)


def list_audit(
    session: Session, limit: int = 100, *, action: str | None = None
) -> list[AuditRecord]:
    """The newest ``limit`` entries, newest first, optionally only one ``action``."""
    query = sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return [AuditRecord.from_row(row) for row in session.scalars(query.limit(max(0, limit)))]
