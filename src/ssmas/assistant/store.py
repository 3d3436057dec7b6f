"""Repository functions over the assistant tables; the caller owns the transaction.

Idempotency lives here: ``record_inbound`` returns the existing row for a WhatsApp message id seen
before, ``claim_outbound`` lets exactly one worker send a pending reply (or take over a send
whose worker died), and ``apply_status`` moves a delivery status forward only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ssmas.assistant.tables import (
    IN_RECEIVED,
    OUT_FAILED,
    OUT_PENDING,
    OUT_SENDING,
    OUT_SENT,
    STATE_BOT,
    ChatMessage,
    Conversation,
    DeliveryStatus,
)
from ssmas.core.security import PiiCipher

STATUS_RANK: dict[str, int] = {"sent": 1, "delivered": 2, "read": 3, "failed": 9}


@dataclass(frozen=True)
class Turn:
    """One decrypted message as the context and the agent console see it."""

    role: str  # user | bot | agent | system
    text: str
    at: datetime
    intent: str | None = None
    kind: str = "text"


def find_conversation(
    session: Session, cipher: PiiCipher, business_id: str, phone: str
) -> Conversation | None:
    """The conversation of ``phone`` with ``business_id``, found by blind index."""
    query = sa.select(Conversation).where(
        Conversation.business_id == business_id,
        Conversation.phone_index == cipher.blind_index(phone),
    )
    return session.scalars(query).first()


def get_or_create_conversation(
    session: Session,
    cipher: PiiCipher,
    *,
    business_id: str,
    phone: str,
    name: str | None,
    now: datetime,
) -> Conversation:
    """The conversation for this customer, created on first contact (safe under races)."""
    found = find_conversation(session, cipher, business_id, phone)
    if found is not None:
        return found
    row = Conversation(
        business_id=business_id,
        phone_index=cipher.blind_index(phone),
        phone_enc=cipher.encrypt(phone),
        name_enc=cipher.encrypt(name) if name else None,
        state=STATE_BOT,
        session_no=1,
        turns=0,
        last_activity_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = find_conversation(session, cipher, business_id, phone)
        if found is None:
            raise
        return found
    return row


def record_inbound(
    session: Session,
    cipher: PiiCipher,
    conversation: Conversation,
    *,
    wa_id: str,
    kind: str,
    text: str,
    wa_timestamp: datetime,
    now: datetime,
    meta: dict[str, Any] | None = None,
) -> tuple[ChatMessage, bool]:
    """Store an inbound message once: ``(row, True)`` when new, ``(existing, False)`` if seen."""
    existing = session.scalars(sa.select(ChatMessage).where(ChatMessage.wa_id == wa_id)).first()
    if existing is not None:
        return existing, False
    row = ChatMessage(
        conversation_id=conversation.id,
        wa_id=wa_id,
        direction="in",
        author="user",
        kind=kind,
        body_enc=cipher.encrypt(text),
        state=IN_RECEIVED,
        session_no=conversation.session_no,
        attempts=0,
        wa_timestamp=wa_timestamp,
        created_at=now,
        meta=meta or {},
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        again = session.scalars(sa.select(ChatMessage).where(ChatMessage.wa_id == wa_id)).first()
        if again is None:
            raise
        return again, False
    return row, True


def add_outbound(
    session: Session,
    cipher: PiiCipher,
    conversation: Conversation,
    *,
    text: str,
    author: str,
    now: datetime,
    kind: str = "text",
    reply_to: ChatMessage | None = None,
    language: str | None = None,
    meta: dict[str, Any] | None = None,
) -> ChatMessage:
    """Queue an outbound message (state ``pending``); one bot reply per inbound at most."""
    row = ChatMessage(
        conversation_id=conversation.id,
        direction="out",
        author=author,
        kind=kind,
        body_enc=cipher.encrypt(text),
        state=OUT_PENDING,
        reply_to_id=reply_to.id if reply_to is not None else None,
        session_no=conversation.session_no,
        language=language,
        attempts=0,
        created_at=now,
        meta=meta or {},
    )
    session.add(row)
    session.flush()
    return row


def reply_of(session: Session, inbound_id: int) -> ChatMessage | None:
    """The outbound reply already queued for an inbound message, if any."""
    query = sa.select(ChatMessage).where(ChatMessage.reply_to_id == inbound_id)
    return session.scalars(query).first()


def claim_outbound(session: Session, message_id: int, *, now: datetime, lease_s: float) -> bool:
    """Take the right to send ``message_id``: true for one caller while it is pending, or when
    the worker that was sending it has held it longer than ``lease_s`` (it died)."""
    stale = now - timedelta(seconds=lease_s)
    result = session.execute(
        sa.update(ChatMessage)
        .where(
            ChatMessage.id == message_id,
            sa.or_(
                ChatMessage.state == OUT_PENDING,
                sa.and_(ChatMessage.state == OUT_SENDING, ChatMessage.claimed_at < stale),
            ),
        )
        .values(state=OUT_SENDING, claimed_at=now, attempts=ChatMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def mark_sent(
    session: Session, message_id: int, *, wa_id: str, now: datetime, meta: dict[str, Any]
) -> None:
    """Record a successful send and the id WhatsApp gave it."""
    row = session.get(ChatMessage, message_id, populate_existing=True)
    if row is None:
        return
    row.state, row.wa_id, row.sent_at = OUT_SENT, wa_id, now
    row.meta = {**(row.meta or {}), **meta}


def mark_failed(
    session: Session, message_id: int, *, error_code: int | None, now: datetime
) -> None:
    """Record that a send was given up (kept for the agent console and analytics)."""
    row = session.get(ChatMessage, message_id, populate_existing=True)
    if row is not None:
        row.state, row.error_code, row.claimed_at = OUT_FAILED, error_code, now


def apply_status(
    session: Session,
    *,
    wa_id: str,
    status: str,
    status_at: datetime,
    error_code: int | None,
    now: datetime,
) -> bool:
    """Move the delivery status of ``wa_id`` forward (sent < delivered < read; failed is final).

    Atomic on both backends (one upsert guarded by rank); returns whether the status changed.
    """
    rank = STATUS_RANK.get(status)
    if rank is None:
        return False
    values = {
        "wa_id": wa_id,
        "status": status,
        "rank": rank,
        "error_code": error_code,
        "status_at": status_at,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(DeliveryStatus).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[DeliveryStatus.wa_id],
        set_={
            k: stmt.excluded[k] for k in ("status", "rank", "error_code", "status_at", "updated_at")
        },
        where=DeliveryStatus.rank < stmt.excluded.rank,
    )
    # RETURNING rather than rowcount: psycopg reports no rowcount for an upsert.
    return session.execute(stmt.returning(DeliveryStatus.wa_id)).first() is not None


def delivery_status(session: Session, wa_id: str) -> DeliveryStatus | None:
    return session.get(DeliveryStatus, wa_id)


def outbound_by_wa_id(session: Session, wa_id: str) -> ChatMessage | None:
    query = sa.select(ChatMessage).where(ChatMessage.wa_id == wa_id, ChatMessage.direction == "out")
    return session.scalars(query).first()


def recent_turns(
    session: Session, cipher: PiiCipher, conversation: Conversation, limit: int
) -> list[Turn]:
    """The last ``limit`` messages of the conversation's current session, oldest first."""
    query = (
        sa.select(ChatMessage)
        .where(
            ChatMessage.conversation_id == conversation.id,
            ChatMessage.session_no == conversation.session_no,
        )
        .order_by(ChatMessage.id.desc())
        .limit(limit)
    )
    return [to_turn(cipher, row) for row in reversed(list(session.scalars(query)))]


def to_turn(cipher: PiiCipher, row: ChatMessage) -> Turn:
    return Turn(
        role=row.author,
        text=cipher.decrypt(row.body_enc),
        at=row.created_at,
        intent=row.intent,
        kind=row.kind,
    )


def messages_of(session: Session, conversation_id: int, limit: int = 200) -> Sequence[ChatMessage]:
    """Up to ``limit`` newest messages of a conversation, oldest first."""
    query = (
        sa.select(ChatMessage)
        .where(ChatMessage.conversation_id == conversation_id)
        .order_by(ChatMessage.id.desc())
        .limit(limit)
    )
    return list(reversed(list(session.scalars(query))))


def is_sent(row: ChatMessage) -> bool:
    return row.state == OUT_SENT
