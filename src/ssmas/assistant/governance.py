"""Data governance: a customer's data export and erasure on request, and retention by data kind.

GDPR (arts. 15, 17, 20) and Mexico's LFPDPPP (ARCO rights) give a customer the right to get
their data and to have it deleted. A customer is a phone number (optionally on one business
number); their data lives in four places, and erasure reaches each:

- the database: conversations, messages, handoffs, private notes, CSAT answers, and the
  delivery statuses of the messages sent to them;
- the cache: each conversation's context window;
- the bus archive: every retained message of the assistant's topics and dead-letter topics
  that names the phone anywhere, sealed or not (a webhook delivery is read whole), deleted with
  the bus's ``forget``;
- the media folder: every file their messages stored.

Retention deletes by age, per kind (``SSMAS_WHATSAPP_RETENTION_*_DAYS``, 0 keeps forever):
messages (with their delivery statuses, and the assistant's bus topics trimmed at the same
age), media files, and conversations idle that long (everything of theirs, as an erasure). The
``retention`` worker runs it every ``retention_sweep_s``. Erasures are audited (who, when, what
was counted — never the phone); an export is audited too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from ssmas.assistant.context import ContextStore
from ssmas.assistant.events import unseal, unseal_bytes
from ssmas.assistant.media import ObjectStore
from ssmas.assistant.tables import (
    ChatMessage,
    Conversation,
    CsatAnswer,
    DeliveryStatus,
    Handoff,
    PrivateNote,
)
from ssmas.core.bus import Bus, dlq_topic
from ssmas.core.cache import Cache
from ssmas.core.db import UnitOfWork, utcnow
from ssmas.core.platform import Platform
from ssmas.core.security import PiiCipher, PiiDecryptError, record_audit

log = structlog.get_logger(__name__)

PAGE = 1000


class NoSuchCustomer(LookupError):
    """No conversation holds this phone number."""


@dataclass
class ErasureReport:
    """What an erasure (or a retention pass) deleted, by place."""

    conversations: int = 0
    messages: int = 0
    handoffs: int = 0
    notes: int = 0
    csat_answers: int = 0
    delivery_statuses: int = 0
    cache_entries: int = 0
    media_files: int = 0
    bus_messages: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "messages": self.messages,
            "handoffs": self.handoffs,
            "notes": self.notes,
            "csat_answers": self.csat_answers,
            "delivery_statuses": self.delivery_statuses,
            "cache_entries": self.cache_entries,
            "media_files": self.media_files,
            "bus_messages": dict(self.bus_messages),
        }


def customer_conversations(
    session: Session, cipher: PiiCipher, phone: str, business_id: str | None = None
) -> list[Conversation]:
    """The conversations of ``phone`` (on ``business_id`` only, when given), matched under
    every blind-index version held (rows a key rotation has not re-indexed yet included)."""
    query = sa.select(Conversation).where(Conversation.phone_index.in_(cipher.blind_indexes(phone)))
    if business_id is not None:
        query = query.where(Conversation.business_id == business_id)
    return list(session.scalars(query.order_by(Conversation.id)))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _media_path(row: ChatMessage) -> str | None:
    return _media_path_of(row.meta)


def export_customer(
    session: Session,
    cipher: PiiCipher,
    phone: str,
    business_id: str | None = None,
    *,
    actor: str = "system",
) -> dict[str, Any]:
    """Everything held about ``phone``, decrypted, as one JSON-ready document (audited)."""
    conversations = customer_conversations(session, cipher, phone, business_id)
    if not conversations:
        raise NoSuchCustomer("no conversation holds this phone number")
    out: list[dict[str, Any]] = []
    for conversation in conversations:
        rows = session.scalars(
            sa.select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation.id)
            .order_by(ChatMessage.id)
        ).all()
        sent = [r.wa_id for r in rows if r.direction == "out" and r.wa_id]
        statuses = (
            session.scalars(sa.select(DeliveryStatus).where(DeliveryStatus.wa_id.in_(sent))).all()
            if sent
            else []
        )
        handoffs = session.scalars(
            sa.select(Handoff).where(Handoff.conversation_id == conversation.id)
        ).all()
        notes = session.scalars(
            sa.select(PrivateNote)
            .where(PrivateNote.conversation_id == conversation.id)
            .order_by(PrivateNote.id)
        ).all()
        surveys = session.scalars(
            sa.select(CsatAnswer)
            .where(CsatAnswer.conversation_id == conversation.id)
            .order_by(CsatAnswer.id)
        ).all()
        out.append(
            {
                "business_id": conversation.business_id,
                "name": cipher.decrypt(conversation.name_enc) if conversation.name_enc else None,
                "language": conversation.language,
                "state": conversation.state,
                "status": conversation.status,
                "created_at": _iso(conversation.created_at),
                "last_activity_at": _iso(conversation.last_activity_at),
                "messages": [
                    {
                        "direction": r.direction,
                        "author": r.author,
                        "kind": r.kind,
                        "text": cipher.decrypt(r.body_enc),
                        "language": r.language,
                        "intent": r.intent,
                        "sentiment": r.sentiment,
                        "state": r.state,
                        "created_at": _iso(r.created_at),
                        "sent_at": _iso(r.sent_at),
                        "has_media": _media_path(r) is not None,
                    }
                    for r in rows
                ],
                "delivery_statuses": [
                    {"status": s.status, "at": _iso(s.status_at)} for s in statuses
                ],
                "handoffs": [
                    {
                        "state": h.state,
                        "priority": h.priority,
                        "department": h.department,
                        "reasons": list(h.reasons or []),
                        "opened_at": _iso(h.opened_at),
                        "closed_at": _iso(h.closed_at),
                    }
                    for h in handoffs
                ],
                # what agents wrote about the customer is their data too (GDPR art. 15)
                "notes": [
                    {
                        "author": n.author,
                        "text": cipher.decrypt(n.body_enc),
                        "created_at": _iso(n.created_at),
                    }
                    for n in notes
                ],
                "satisfaction": [
                    {
                        "score": c.score,
                        "asked_at": _iso(c.asked_at),
                        "answered_at": _iso(c.answered_at),
                    }
                    for c in surveys
                ],
            }
        )
    record_audit(
        session,
        actor=actor,
        action="assistant.customer_exported",
        target=f"customer:{cipher.blind_index(phone)[:16]}",
        details={"conversations": len(out)},
    )
    return {"phone": phone, "exported_at": utcnow().isoformat(), "conversations": out}


def _delete_conversations(
    session: Session, conversation_ids: Sequence[int], report: ErasureReport
) -> list[str]:
    """Delete the conversations and everything of theirs; returns their media paths."""
    if not conversation_ids:
        return []
    rows = session.execute(
        sa.select(ChatMessage.wa_id, ChatMessage.direction, ChatMessage.meta).where(
            ChatMessage.conversation_id.in_(conversation_ids)
        )
    ).all()
    sent = [wa for wa, direction, _ in rows if direction == "out" and wa]
    media = [p for _, _, meta in rows if (p := _media_path_of(meta)) is not None]
    for start in range(0, len(sent), 500):
        report.delivery_statuses += _count(
            session.execute(
                sa.delete(DeliveryStatus).where(DeliveryStatus.wa_id.in_(sent[start : start + 500]))
            )
        )
    report.handoffs += _count(
        session.execute(sa.delete(Handoff).where(Handoff.conversation_id.in_(conversation_ids)))
    )
    report.notes += _count(
        session.execute(
            sa.delete(PrivateNote).where(PrivateNote.conversation_id.in_(conversation_ids))
        )
    )
    report.csat_answers += _count(
        session.execute(
            sa.delete(CsatAnswer).where(CsatAnswer.conversation_id.in_(conversation_ids))
        )
    )
    session.execute(
        sa.update(ChatMessage)
        .where(ChatMessage.conversation_id.in_(conversation_ids))
        .values(reply_to_id=None)
    )
    report.messages += _count(
        session.execute(
            sa.delete(ChatMessage).where(ChatMessage.conversation_id.in_(conversation_ids))
        )
    )
    report.conversations += _count(
        session.execute(sa.delete(Conversation).where(Conversation.id.in_(conversation_ids)))
    )
    return media


def _media_path_of(meta: Any) -> str | None:
    media = meta.get("media") if isinstance(meta, dict) else None
    path = media.get("stored_path") if isinstance(media, dict) else None
    return path if isinstance(path, str) and path else None


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _names(value: Any, phone: str) -> bool:
    """True when ``phone`` is a whole string value anywhere in ``value``."""
    if isinstance(value, str):
        return value == phone
    if isinstance(value, dict):
        return any(_names(v, phone) for v in value.values())
    if isinstance(value, list):
        return any(_names(v, phone) for v in value)
    return False


def _payload_names(cipher: PiiCipher, payload: dict[str, Any], phone: str) -> bool:
    """Whether a bus payload of the assistant names ``phone``, opened as it was sealed."""
    try:
        if isinstance(payload.get("sealed_raw"), str):
            body = unseal_bytes(cipher, payload)
            try:
                return _names(json.loads(body), phone)
            except ValueError:  # an unreadable delivery kept as it came
                return phone.encode() in body
        return _names(unseal(cipher, payload), phone)
    except (PiiDecryptError, ValueError):
        return False  # sealed under another key or not ours: it cannot be matched


def _pages(bus: Bus, topic: str) -> Iterator[list[Any]]:
    offset = 0
    while True:
        page = bus.replay(topic, from_offset=offset, limit=PAGE)
        if not page:
            return
        yield page
        offset = page[-1].offset + 1


def forget_on_bus(bus: Bus, cipher: PiiCipher, topics: Iterable[str], phone: str) -> dict[str, int]:
    """Delete every retained message of ``topics`` and their dead-letter topics that names
    ``phone``; returns how many per topic. A bus without ``forget`` raises ``RuntimeError``.

    Each message's offset, as ``replay`` gave it, goes to ``forget`` as a hint, so the bus
    reads just those entries instead of scanning the topic for the ids."""
    forget = getattr(bus, "forget", None)
    if not callable(forget):
        raise RuntimeError("this bus cannot delete single messages (no forget)")
    counts: dict[str, int] = {}
    for source in topics:
        for topic in (source, dlq_topic(source)):
            named = [
                m
                for page in _pages(bus, topic)
                for m in page
                if _payload_names(cipher, m.payload, phone)
            ]
            if named:
                ids = [m.id for m in named]
                counts[topic] = int(forget(topic, ids, offsets=[m.offset for m in named]))
    return counts


@dataclass
class Governance:
    """The assistant's data governance over one platform's stores."""

    session_factory: Any
    cipher: PiiCipher
    bus: Bus
    cache: Cache
    media: ObjectStore
    topics: Sequence[str]

    def export(self, phone: str, business_id: str | None = None, *, actor: str) -> dict[str, Any]:
        with UnitOfWork(self.session_factory) as uow:
            document = export_customer(uow.session, self.cipher, phone, business_id, actor=actor)
            uow.commit()
        return document

    def erase(self, phone: str, business_id: str | None = None, *, actor: str) -> ErasureReport:
        """Delete everything held about ``phone`` (``NoSuchCustomer`` when nothing is)."""
        report = ErasureReport()
        with UnitOfWork(self.session_factory) as uow:
            found = customer_conversations(uow.session, self.cipher, phone, business_id)
            if not found:
                raise NoSuchCustomer("no conversation holds this phone number")
            ids = [c.id for c in found]
            media = _delete_conversations(uow.session, ids, report)
            uow.commit()
        self._forget_contexts(ids, report)
        report.media_files += self._delete_media(media)
        report.bus_messages = forget_on_bus(self.bus, self.cipher, self.topics, phone)
        with UnitOfWork(self.session_factory) as uow:
            record_audit(
                uow.session,
                actor=actor,
                action="assistant.customer_erased",
                target=f"customer:{self.cipher.blind_index(phone)[:16]}",
                details=report.as_dict(),
            )
            uow.commit()
        log.info("customer_erased", **{k: v for k, v in report.as_dict().items()})
        return report

    def _forget_contexts(self, conversation_ids: Iterable[int], report: ErasureReport) -> None:
        for conversation_id in conversation_ids:
            self.cache.delete(ContextStore.key(conversation_id))
            report.cache_entries += 1

    def _delete_media(self, paths: Iterable[str]) -> int:
        deleted = 0
        for path in set(paths):
            try:
                deleted += self.media.delete(Path(path))
            except ValueError:  # a path outside the store is not ours to delete
                log.warning("media_path_outside_store")
        return deleted

    def apply_retention(
        self,
        *,
        now: datetime,
        messages_days: float,
        media_days: float,
        conversations_days: float,
    ) -> ErasureReport:
        """Delete what is older than its kind's retention (0 keeps that kind forever)."""
        report = ErasureReport()
        media: list[str] = []
        idle: list[int] = []
        with UnitOfWork(self.session_factory) as uow:
            session = uow.session
            if conversations_days > 0:
                cut = now - timedelta(days=conversations_days)
                idle = list(
                    session.scalars(
                        sa.select(Conversation.id).where(Conversation.last_activity_at < cut)
                    )
                )
                media += _delete_conversations(session, idle, report)
            if messages_days > 0:
                media += self._expire_messages(session, now - timedelta(days=messages_days), report)
            uow.commit()
        self._forget_contexts(idle, report)
        report.media_files += self._delete_media(media)
        if media_days > 0:
            cut_ts = (now - timedelta(days=media_days)).timestamp()
            for path in self.media.files():
                if path.stat().st_mtime < cut_ts:
                    report.media_files += self.media.delete(path)
        if messages_days > 0:
            before = now - timedelta(days=messages_days)
            for source in self.topics:
                for topic in (source, dlq_topic(source)):
                    dropped = self.bus.trim(topic, before=before)
                    if dropped:
                        report.bus_messages[topic] = dropped
        return report

    @staticmethod
    def _expire_messages(session: Session, cut: datetime, report: ErasureReport) -> list[str]:
        rows = session.execute(
            sa.select(ChatMessage.id, ChatMessage.wa_id, ChatMessage.direction, ChatMessage.meta)
            .where(ChatMessage.created_at < cut)
            .limit(50_000)
        ).all()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        sent = [r[1] for r in rows if r[2] == "out" and r[1]]
        media = [p for r in rows if (p := _media_path_of(r[3])) is not None]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            session.execute(
                sa.update(ChatMessage)
                .where(ChatMessage.reply_to_id.in_(chunk))
                .values(reply_to_id=None)
            )
            report.messages += _count(
                session.execute(sa.delete(ChatMessage).where(ChatMessage.id.in_(chunk)))
            )
        for start in range(0, len(sent), 500):
            report.delivery_statuses += _count(
                session.execute(
                    sa.delete(DeliveryStatus).where(
                        DeliveryStatus.wa_id.in_(sent[start : start + 500])
                    )
                )
            )
        return media


def governance_for(platform: Platform) -> Governance:
    """The assistant's governance over ``platform``'s stores (no brain is loaded for it)."""
    from ssmas.assistant.dlq_commands import assistant_topics
    from ssmas.assistant.runtime import channel_cipher

    cipher = channel_cipher(platform)
    return Governance(
        platform.session_factory,
        cipher,
        platform.bus,
        platform.cache,
        ObjectStore(platform.settings.data_dir / "media", cipher),
        assistant_topics(platform.settings),
    )


def run_retention(platform: Platform, stop: threading.Event) -> None:
    """The ``retention`` worker: apply retention every ``retention_sweep_s``, until stopped."""
    from ssmas.assistant.runtime import channel_settings

    wa = channel_settings(platform)
    governance = governance_for(platform)
    while True:
        try:
            report = governance.apply_retention(
                now=utcnow(),
                messages_days=wa.retention_messages_days,
                media_days=wa.retention_media_days,
                conversations_days=wa.retention_conversations_days,
            )
            log.info("retention_applied", **report.as_dict())
        except Exception:
            log.exception("retention_failed")
        if stop.wait(wa.retention_sweep_s):
            return
