"""The audit log of administrative actions: append-only and hash-chained.

``record_audit`` appends who did what to which target; nothing in the code updates or deletes an
entry, and the database refuses it too (a trigger on ``audit_log`` raises on UPDATE and DELETE,
on SQLite and PostgreSQL; migration ``0016_security_ops``). Each entry carries the SHA-256 of its
content and of the previous entry's hash, so :func:`verify_audit_chain` finds an entry altered
or removed behind the database's back (by someone who dropped the trigger). Appends are
serialised by updating the one ``audit_chain_head`` row first: a row lock on PostgreSQL, the
write lock on SQLite, so two concurrent appends never fork the chain.

Actions in use: ``api_key.created``, ``api_key.revoked``, ``tenant.key_issued``,
``pricing.promote``, ``pricing.rollback``, ``pricing.floor_config``, ``backup.restored``,
``pii_key.rotated``, ``pii_key.reencrypted``, ``pii_key.retired``, ``web.login``...
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from ssmas.core.db.base import utcnow
from ssmas.core.db.engine import json_dumps
from ssmas.core.db.models import AuditChainHead, AuditEntry

GENESIS_HASH = "0" * 64
HEAD_ID = 1


class AuditRecord(BaseModel):
    """One audit entry as callers see it."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    hash: str | None = None

    @classmethod
    def from_row(cls, row: AuditEntry) -> AuditRecord:
        return cls(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            details=dict(row.details or {}),
            hash=row.hash,
        )


def chain_hash(
    prev_hash: str, at: datetime, actor: str, action: str, target: str, details: dict[str, Any]
) -> str:
    """SHA-256 (hex) of an entry's content after ``prev_hash``: one JSON array (so no field's
    text can pass for a boundary between two fields), microsecond UTC timestamp."""
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    body = json.dumps(
        [prev_hash, stamp, actor, action, target, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _normalised(details: dict[str, Any] | None) -> dict[str, Any]:
    """``details`` as it reads back from the JSON column (tuples become lists...)."""
    value = json.loads(json_dumps(details or {}))
    if not isinstance(value, dict):
        raise TypeError("audit details must be a JSON object")
    return value


def _lock_head(session: Session) -> AuditChainHead:
    """The head row, locked for this transaction (made if a database lacks it)."""
    updated = session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(entries=AuditChainHead.entries + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(updated, "rowcount", 0) == 0:
        session.add(AuditChainHead(id=HEAD_ID, entries=1, last_hash=GENESIS_HASH))
        session.flush()
    head = session.get(AuditChainHead, HEAD_ID, populate_existing=True)
    assert head is not None
    return head


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
    moment = at or utcnow()
    clean = _normalised(details)
    head = _lock_head(session)
    digest = chain_hash(head.last_hash, moment, actor, action, target, clean)
    row = AuditEntry(
        at=moment,
        actor=actor,
        action=action,
        target=target,
        details=clean,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(row)
    head.last_hash = digest
    session.flush()
    return AuditRecord.from_row(row)


def list_audit(
    session: Session,
    limit: int = 100,
    *,
    action: str | None = None,
    before_id: int | None = None,
) -> list[AuditRecord]:
    """The newest ``limit`` entries (older than ``before_id`` if given), newest first,
    optionally only one ``action`` (``pii_key.*`` matches every action of that family)."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc())
    if action is not None:
        if action.endswith(".*"):
            query = query.where(AuditEntry.action.startswith(action[:-1], autoescape=True))
        else:
            query = query.where(AuditEntry.action == action)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return [AuditRecord.from_row(row) for row in session.scalars(query.limit(max(0, limit)))]


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_audit_chain` found: entries checked and the first broken one."""

    entries: int
    broken_at: int | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_audit_chain(session: Session, *, batch: int = 1000) -> ChainReport:
    """Walk the chain in id order; the first entry whose links or content don't match."""
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.id > last_id)
                .order_by(AuditEntry.id)
                .limit(batch)
            )
        )
        if not rows:
            break
        for row in rows:
            checked += 1
            last_id = row.id
            if row.prev_hash != prev:
                return ChainReport(
                    checked, row.id, "links to another previous entry (one removed?)"
                )
            expected = chain_hash(
                prev, row.at, row.actor, row.action, row.target, dict(row.details or {})
            )
            if row.hash != expected:
                return ChainReport(checked, row.id, "content does not match its hash (altered)")
            prev = row.hash
    head = session.get(AuditChainHead, HEAD_ID)
    if head is not None and checked and head.last_hash != prev:
        newer = session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.id > last_id)
        )
        if not newer:  # (entries appended while we walked are fine)
            return ChainReport(checked, last_id, "the newest entries were removed after this one")
    return ChainReport(checked, None, "")
