"""Core tables: API keys, dashboard sessions, the audit log and the PII key ring.

Products declare their own tables on ``Base``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ssmas.core.db.base import Base, JsonType, UtcDateTime, utcnow


class ApiKey(Base):
    """One API key: the public ``prefix`` finds the row, ``secret_hash`` proves the secret."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True, index=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    tier: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class WebSession(Base):
    """One dashboard session of a key: found by the SHA-256 of its random id, never the id.

    The server fixes ``expires_at`` at sign-in; signing out or revoking the key deletes the row.
    """

    __tablename__ = "core_sessions"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class AuditEntry(Base):
    """One audited action: who (``actor``) did what (``action``) to which ``target``."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(100), index=True)
    target: Mapped[str] = mapped_column(sa.String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # The hash chain (:mod:`ssmas.core.security.audit`): each entry's hash covers its content and
    # the previous entry's hash, so an altered or removed entry breaks every later link.
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class AuditChainHead(Base):
    """The audit chain's one head row: updating it first serialises appends on every backend."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    entries: Mapped[int] = mapped_column(sa.Integer(), default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64))


class PiiKey(Base):
    """One version of the PII encryption key (:mod:`ssmas.core.security.pii_keys`).

    Key 1 is derived from the platform's PII key or secret and has no ``wrapped`` material;
    later keys are random Fernet keys stored wrapped (encrypted) under a key-encryption key
    derived from that same secret, so this table alone decrypts nothing. ``state`` is
    ``active`` (encrypts; exactly one), ``decrypt`` (still read) or ``retired`` (gone).

    The blind-index key's versions live here too, as negative ids (version ``n`` is row
    ``-n``, :mod:`ssmas.core.security.pii_index_keys`), in state ``active`` (computes new
    indexes), ``lookup`` (still matched) or ``retired``.
    """

    __tablename__ = "core_pii_keys"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(sa.String(16))
    wrapped: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class WorkerLease(Base):
    """A named lease held by one worker process until ``expires_at_s`` (Unix seconds)."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(200))
    expires_at_s: Mapped[float] = mapped_column(sa.Float())
