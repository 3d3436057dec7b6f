"""Repository functions over the assistant tables; the caller owns the transaction.

Idempotency lives here: ``record_inbound`` returns the existing row for a WhatsApp message id seen
before, ``claim_outbound`` lets exactly one worker send a pending reply (or take over a send
whose worker died), and ``apply_status`` moves a delivery status forward only.

Every send of an outbound row carries the row's ``send_token`` as ``biz_opaque_callback_data``;
Meta echoes it in the message's status webhooks. ``settle_by_token`` records a row sent from
such a status (its sender may have died before recording Meta's answer), and ``accepted_send``
is what a takeover consults before sending a lapsed claim again.

The text pipeline writes whole rounds at once: ``conversations_for`` (one SELECT, one
``INSERT … ON CONFLICT DO NOTHING`` for new customers), ``insert_inbound_many`` (dedup by
message id stays atomic: ON CONFLICT on the unique ``wa_id``), ``insert_replies_many`` (replies
stored already claimed) and ``mark_sent_many``; on SQLite and PostgreSQL alike.
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
SEND_TOKEN_PREFIX = "ssmas-out"

# What a status carrying a send token did to its outbox row (``settle_by_token``).
SETTLED = "settled"  # the row was not recorded as sent: now it is, with Meta's message id
RECORDED = "recorded"  # the row was already sent under this message id
OTHER_SEND = "other_send"  # the row was sent under another message id: it went out twice
UNKNOWN = "unknown"  # not one of our tokens, or no such row (another system, an old database)


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
    """The conversation of ``phone`` with ``business_id``, found by blind index under any
    version the key ring holds (a rotation may not have re-indexed this row yet)."""
    query = sa.select(Conversation).where(
        Conversation.business_id == business_id,
        Conversation.phone_index.in_(cipher.blind_indexes(phone)),
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


def _insert(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def conversations_for(
    session: Session,
    cipher: PiiCipher,
    customers: Sequence[tuple[str, str, str | None]],
    *,
    now: datetime,
) -> list[tuple[Conversation, bool]]:
    """The conversation of each ``(business_id, phone, name)`` and whether this call created it:
    one SELECT for those that exist, one INSERT (ON CONFLICT DO NOTHING: safe under races) for
    the rest, one SELECT to load what was inserted."""
    # Every index a customer has under the versions held, the active one first: a row a key
    # rotation has not re-indexed yet is still this customer's conversation.
    indexes = [cipher.blind_indexes(phone) for _, phone, _ in customers]

    def load(wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Conversation]:
        # ``business_id = ? AND phone_index IN (...)`` per business, not a row-value IN:
        # SQLite answers ``(a, b) IN (VALUES ...)`` by scanning the whole table (40 ms a round
        # at 200,000 conversations, and growing), these terms by the unique index.
        by_business: dict[str, set[str]] = {}
        for business, index in wanted:
            by_business.setdefault(business, set()).add(index)
        if not by_business:
            return {}
        query = sa.select(Conversation).where(
            sa.or_(
                *(
                    sa.and_(
                        Conversation.business_id == business,
                        Conversation.phone_index.in_(sorted(held)),
                    )
                    for business, held in by_business.items()
                )
            )
        )
        return {(c.business_id, c.phone_index): c for c in session.scalars(query)}

    found = load([(b, i) for (b, _, _), held in zip(customers, indexes, strict=True) for i in held])
    keys: list[tuple[str, str]] = []
    for (business, _, _), held in zip(customers, indexes, strict=True):
        stored = next((i for i in held if (business, i) in found), held[0])
        keys.append((business, stored))
    created: set[int] = set()
    missing: dict[tuple[str, str], tuple[str, str | None]] = {}
    for key, (_, phone, name) in zip(keys, customers, strict=True):
        if key not in found and key not in missing:
            missing[key] = (phone, name)
    if missing:
        rows = [
            {
                "business_id": business,
                "phone_index": index,
                "phone_enc": cipher.encrypt(phone),
                "name_enc": cipher.encrypt(name) if name else None,
                "state": STATE_BOT,
                "session_no": 1,
                "turns": 0,
                "last_activity_at": now,
                "created_at": now,
            }
            for (business, index), (phone, name) in missing.items()
        ]
        table = Conversation.__table__
        stmt = (
            _insert(session)(table)
            .on_conflict_do_nothing(index_elements=["business_id", "phone_index"])
            .returning(table.c.id)
        )
        created = {int(row[0]) for row in session.execute(stmt, rows)}
        found.update(load(list(missing)))
    return [(found[key], found[key].id in created) for key in keys]


@dataclass(frozen=True)
class NewInbound:
    """An inbound message to store (``insert_inbound_many``)."""

    conversation_id: int
    session_no: int
    wa_id: str
    kind: str
    text: str
    wa_timestamp: datetime
    state: str = IN_RECEIVED
    language: str | None = None
    intent: str | None = None
    confidence: float | None = None
    sentiment: str | None = None
    meta: dict[str, Any] | None = None


def insert_inbound_many(
    session: Session, cipher: PiiCipher, rows: Sequence[NewInbound], *, now: datetime
) -> dict[str, int]:
    """Store inbound messages in one statement; returns ``wa_id -> id`` of those stored now
    (a message id already stored is skipped: ON CONFLICT DO NOTHING on the unique ``wa_id``)."""
    if not rows:
        return {}
    table = ChatMessage.__table__
    values: list[dict[str, Any]] = [
        {
            "conversation_id": r.conversation_id,
            "wa_id": r.wa_id,
            "direction": "in",
            "author": "user",
            "kind": r.kind,
            "body_enc": cipher.encrypt(r.text),
            "state": r.state,
            "reply_to_id": None,
            "session_no": r.session_no,
            "language": r.language,
            "intent": r.intent,
            "confidence": r.confidence,
            "sentiment": r.sentiment,
            "attempts": 0,
            "wa_timestamp": r.wa_timestamp,
            "created_at": now,
            "meta": r.meta or {},
        }
        for r in rows
    ]
    stmt = (
        _insert(session)(table)
        .on_conflict_do_nothing(index_elements=["wa_id"])
        .returning(table.c.wa_id, table.c.id)
    )
    return {str(wa_id): int(row_id) for wa_id, row_id in session.execute(stmt, values)}


@dataclass(frozen=True)
class NewReply:
    """A bot reply to store already claimed for sending (``insert_replies_many``)."""

    conversation_id: int
    session_no: int
    reply_to_id: int
    text: str
    language: str | None


def insert_replies_many(
    session: Session, cipher: PiiCipher, rows: Sequence[NewReply], *, now: datetime
) -> dict[int, int]:
    """Store bot replies in state ``sending`` (claimed now, first attempt) in one statement;
    returns ``reply_to_id -> id`` (one reply per inbound: a second one is skipped)."""
    if not rows:
        return {}
    table = ChatMessage.__table__
    values: list[dict[str, Any]] = [
        {
            "conversation_id": r.conversation_id,
            "wa_id": None,
            "direction": "out",
            "author": "bot",
            "kind": "text",
            "body_enc": cipher.encrypt(r.text),
            "state": OUT_SENDING,
            "reply_to_id": r.reply_to_id,
            "session_no": r.session_no,
            "language": r.language,
            "attempts": 1,
            "claimed_at": now,
            "created_at": now,
            "meta": {},
        }
        for r in rows
    ]
    stmt = (
        _insert(session)(table)
        .on_conflict_do_nothing(index_elements=["reply_to_id"])
        .returning(table.c.reply_to_id, table.c.id)
    )
    return {int(reply_to): int(row_id) for reply_to, row_id in session.execute(stmt, values)}


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
    claimed_at: datetime | None = None,
) -> ChatMessage:
    """Queue an outbound message (state ``pending``); one bot reply per inbound at most.

    With ``claimed_at`` the row is stored already claimed by the caller (``sending``, first
    attempt), as ``claim_outbound`` would leave it, saving a transaction."""
    row = ChatMessage(
        conversation_id=conversation.id,
        direction="out",
        author=author,
        kind=kind,
        body_enc=cipher.encrypt(text),
        state=OUT_PENDING if claimed_at is None else OUT_SENDING,
        claimed_at=claimed_at,
        reply_to_id=reply_to.id if reply_to is not None else None,
        session_no=conversation.session_no,
        language=language,
        attempts=0 if claimed_at is None else 1,
        created_at=now,
        meta=meta or {},
    )
    session.add(row)
    session.flush()
    return row


def seen_wa_ids(session: Session, wa_ids: Sequence[str]) -> set[str]:
    """Which of ``wa_ids`` are already stored (one query)."""
    if not wa_ids:
        return set()
    query = sa.select(ChatMessage.wa_id).where(ChatMessage.wa_id.in_(list(wa_ids)))
    return {str(w) for w in session.scalars(query)}


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


def mark_sent_many(
    session: Session, sent: Sequence[tuple[int, str, dict[str, Any]]], *, now: datetime
) -> None:
    """``mark_sent`` for many ``(message id, wa_id, meta)``: one executemany for the rows
    without new meta (the usual case)."""
    plain = [
        {"id": message_id, "state": OUT_SENT, "wa_id": wa_id, "sent_at": now}
        for message_id, wa_id, meta in sent
        if not meta
    ]
    if plain:
        session.execute(sa.update(ChatMessage), plain)
    for message_id, wa_id, meta in sent:
        if meta:
            mark_sent(session, message_id, wa_id=wa_id, now=now, meta=meta)


def mark_failed(
    session: Session, message_id: int, *, error_code: int | None, now: datetime
) -> None:
    """Record that a send was given up (kept for the agent console and analytics).

    A row already recorded as sent stays sent: a status webhook proved an earlier try of it was
    accepted (the try that failed here was a retry of a send whose answer was lost)."""
    row = session.get(ChatMessage, message_id, populate_existing=True)
    if row is not None and row.state != OUT_SENT:
        row.state, row.error_code, row.claimed_at = OUT_FAILED, error_code, now


def send_token(message_id: int, created_at: datetime) -> str:
    """The ``biz_opaque_callback_data`` every send of outbound row ``message_id`` carries.

    Stable across attempts (a takeover sends the same token as the worker that died). The
    creation second makes it unique beyond the row id, so a late status of a message sent from
    another database (a reset, a staging copy sharing the number) never matches a new row that
    reused the id; the prefix keeps tokens of other systems on the same number apart."""
    return f"{SEND_TOKEN_PREFIX}.{message_id}.{int(created_at.timestamp())}"


def parse_send_token(token: str | None) -> tuple[int, int] | None:
    """``(row id, creation second)`` of a ``send_token``; None for anything else."""
    if not token:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != SEND_TOKEN_PREFIX:
        return None
    row_id, second = parts[1], parts[2]
    if not (row_id.isdigit() and second.lstrip("-").isdigit()):
        return None
    return int(row_id), int(second)


def settle_by_token(session: Session, token: str | None, *, wa_id: str, now: datetime) -> str:
    """A status webhook for ``wa_id`` echoed ``token``: Meta accepted a send of that outbound
    row. Record the row sent under ``wa_id`` unless it already is; returns ``SETTLED``,
    ``RECORDED``, ``OTHER_SEND`` or ``UNKNOWN`` (see their comments).

    One conditional UPDATE, so it is atomic against a worker claiming or recording the row on
    either backend; the worker that later records the same answer writes the same values."""
    parsed = parse_send_token(token)
    if parsed is None:
        return UNKNOWN
    row_id, second = parsed
    row = session.get(ChatMessage, row_id, populate_existing=True)
    if row is None or row.direction != "out" or int(row.created_at.timestamp()) != second:
        return UNKNOWN
    if row.state == OUT_SENT:
        return RECORDED if row.wa_id == wa_id else OTHER_SEND
    holder = outbound_by_wa_id(session, wa_id)
    if holder is not None and holder.id != row_id:
        return OTHER_SEND  # never move Meta's id off the row that holds it
    result = session.execute(
        sa.update(ChatMessage)
        .where(ChatMessage.id == row_id, ChatMessage.state != OUT_SENT)
        .values(state=OUT_SENT, wa_id=wa_id, sent_at=now)
        .returning(ChatMessage.id)
        .execution_options(synchronize_session=False)
    )
    if result.first() is not None:
        session.expire(row)
        return SETTLED
    again = session.get(ChatMessage, row_id, populate_existing=True)
    return RECORDED if again is not None and again.wa_id == wa_id else OTHER_SEND


def accepted_send(session: Session, token: str) -> DeliveryStatus | None:
    """The earliest status webhook that echoed ``token``: proof that Meta accepted a send of
    that row (any status, ``failed`` included: Meta gave the message an id)."""
    query = (
        sa.select(DeliveryStatus)
        .where(DeliveryStatus.callback_data == token)
        .order_by(DeliveryStatus.status_at, DeliveryStatus.wa_id)
        .limit(1)
    )
    return session.scalars(query).first()


def apply_status(
    session: Session,
    *,
    wa_id: str,
    status: str,
    status_at: datetime,
    error_code: int | None,
    now: datetime,
    callback_data: str | None = None,
) -> bool:
    """Move the delivery status of ``wa_id`` forward (sent < delivered < read; failed is final).

    Atomic on both backends (one upsert guarded by rank); returns whether the status changed.
    ``callback_data`` (the send token Meta echoed) is kept once known.
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
        "callback_data": callback_data,
    }
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(DeliveryStatus).values(**values)
    set_: dict[str, Any] = {
        k: stmt.excluded[k] for k in ("status", "rank", "error_code", "status_at", "updated_at")
    }
    set_["callback_data"] = sa.func.coalesce(
        DeliveryStatus.__table__.c.callback_data, stmt.excluded.callback_data
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[DeliveryStatus.wa_id],
        set_=set_,
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
