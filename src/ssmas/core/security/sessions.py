"""Dashboard sessions kept by the server: started at sign-in, ended by sign-out or revocation.

A session id is 32 random bytes handed to the browser once; the ``core_sessions`` table keeps
only its SHA-256, the key it belongs to and an expiry the server fixes at sign-in (so nothing
the browser sends can lengthen it). A session counts while its row exists, has not expired and
its key is not revoked: :func:`end_session` (sign-out) and :func:`end_key_sessions` (revocation)
delete rows, and the next request with the old cookie finds nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ssmas.core.db.base import utcnow
from ssmas.core.db.models import ApiKey, WebSession

SESSION_ID_BYTES = 32
MAX_SESSION_ID_CHARS = 128


@dataclass(frozen=True)
class SessionRecord:
    """A live session: the key behind it (never its secret) and when the session ends."""

    key_id: int
    key_prefix: str
    key_name: str
    scopes: tuple[str, ...]
    expires_at: datetime


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


def start_session(
    session: Session, key_id: int, *, ttl_s: int, now: datetime | None = None
) -> tuple[str, datetime]:
    """A new session of key ``key_id`` lasting ``ttl_s`` seconds: ``(session id, expiry)``.

    Expired sessions are swept out on the way. The row is flushed; the caller commits.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    moment = now or utcnow()
    purge_expired(session, now=moment)
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    expires_at = moment + timedelta(seconds=ttl_s)
    session.add(
        WebSession(
            id_hash=_id_hash(session_id), key_id=key_id, created_at=moment, expires_at=expires_at
        )
    )
    session.flush()
    return session_id, expires_at


def find_session(
    session: Session, session_id: str | None, *, now: datetime | None = None
) -> SessionRecord | None:
    """The live session with this id; None if unknown, ended, expired or its key revoked."""
    if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
        return None
    row = session.execute(
        sa.select(ApiKey.id, ApiKey.prefix, ApiKey.name, ApiKey.scopes, WebSession.expires_at)
        .join(ApiKey, ApiKey.id == WebSession.key_id)
        .where(
            WebSession.id_hash == _id_hash(session_id),
            WebSession.expires_at > (now or utcnow()),
            ApiKey.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    key_id, prefix, name, scopes, expires_at = row
    return SessionRecord(key_id, prefix, name, tuple(scopes), expires_at)


def end_session(session: Session, session_id: str | None) -> bool:
    """End one session (sign-out); False if there was none. The caller commits."""
    if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
        return False
    result = session.execute(
        sa.delete(WebSession).where(WebSession.id_hash == _id_hash(session_id))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_key_sessions(session: Session, key_id: int) -> int:
    """End every session of key ``key_id`` (its revocation); how many. The caller commits."""
    result = session.execute(sa.delete(WebSession).where(WebSession.key_id == key_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete expired sessions; how many. The caller commits."""
    result = session.execute(
        sa.delete(WebSession).where(WebSession.expires_at <= (now or utcnow()))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
