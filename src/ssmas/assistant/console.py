"""The agent console's use cases: list and read conversations, take over, reply, hand back.

Each call is one transaction. An agent reply is stored as an outbound message and published to
``assistant.outbound`` for the outbound worker to send (with the template fallback when the
24-hour window has closed); replying implies taking the conversation over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant.events import TOPIC_OUTBOUND, OutboundRequest
from ssmas.assistant.handoff import (
    QueueEntry,
    agent_queue,
    hand_back,
    note_agent_response,
    take_over,
)
from ssmas.assistant.store import add_outbound, messages_of
from ssmas.assistant.tables import Conversation
from ssmas.core.bus import Bus
from ssmas.core.cache import Cache
from ssmas.core.db import UnitOfWork
from ssmas.core.security import PiiCipher, record_audit


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    state: str
    agent: str | None
    language: str | None
    turns: int
    phone_last4: str
    name: str | None
    last_activity_at: datetime


@dataclass(frozen=True)
class MessageView:
    id: int
    direction: str
    author: str
    kind: str
    text: str
    state: str
    intent: str | None
    sentiment: str | None
    created_at: datetime


@dataclass
class Console:
    """Agent actions over the platform's database and bus."""

    session_factory: sessionmaker[Session]
    cipher: PiiCipher
    bus: Bus
    cache: Cache

    def _summary(self, row: Conversation) -> ConversationSummary:
        phone = self.cipher.decrypt(row.phone_enc)
        return ConversationSummary(
            id=row.id,
            state=row.state,
            agent=row.agent,
            language=row.language,
            turns=row.turns,
            phone_last4=phone[-4:],
            name=self.cipher.decrypt(row.name_enc) if row.name_enc else None,
            last_activity_at=row.last_activity_at,
        )

    def conversations(
        self, *, state: str | None = None, limit: int = 100
    ) -> list[ConversationSummary]:
        """Most recently active first, optionally only one state."""
        query = sa.select(Conversation).order_by(Conversation.last_activity_at.desc()).limit(limit)
        if state:
            query = query.where(Conversation.state == state)
        with UnitOfWork(self.session_factory) as uow:
            return [self._summary(row) for row in uow.session.scalars(query)]

    def conversation(
        self, conversation_id: int, *, actor: str, limit: int = 200
    ) -> tuple[ConversationSummary, list[MessageView]]:
        """One conversation with its decrypted messages; the read is audited."""
        from ssmas.assistant.handoff import ConversationNotFound

        with UnitOfWork(self.session_factory) as uow:
            row = uow.session.get(Conversation, conversation_id)
            if row is None:
                raise ConversationNotFound(message=f"no conversation {conversation_id}")
            views = [
                MessageView(
                    id=m.id,
                    direction=m.direction,
                    author=m.author,
                    kind=m.kind,
                    text=self.cipher.decrypt(m.body_enc),
                    state=m.state,
                    intent=m.intent,
                    sentiment=m.sentiment,
                    created_at=m.created_at,
                )
                for m in messages_of(uow.session, conversation_id, limit)
            ]
            record_audit(
                uow.session,
                actor=actor,
                action="assistant.conversation.read",
                target=f"conversation:{conversation_id}",
            )
            uow.commit()
            return self._summary(row), views

    def take_over(
        self, conversation_id: int, agent: str, now: datetime, *, label: str | None = None
    ) -> ConversationSummary:
        """``agent`` (the authenticated caller: ``apikey:<prefix>``, ``web:<name>``) owns the
        conversation; ``label`` (a name the caller gives itself) is recorded beside it."""
        with UnitOfWork(self.session_factory) as uow:
            row = take_over(uow.session, conversation_id, agent, now)
            record_audit(
                uow.session,
                actor=agent,
                action="assistant.takeover",
                target=f"conversation:{row.id}",
                details=_labelled(label),
            )
            uow.commit()
            return self._summary(row)

    def hand_back(
        self, conversation_id: int, agent: str, now: datetime, *, label: str | None = None
    ) -> ConversationSummary:
        with UnitOfWork(self.session_factory) as uow:
            row = hand_back(uow.session, conversation_id, agent, now)
            record_audit(
                uow.session,
                actor=agent,
                action="assistant.handback",
                target=f"conversation:{row.id}",
                details=_labelled(label),
            )
            uow.commit()
            summary = self._summary(row)
        self.cache.delete(f"assistant:ctx:{conversation_id}")
        return summary

    def reply(
        self,
        conversation_id: int,
        agent: str,
        text: str,
        now: datetime,
        *,
        label: str | None = None,
    ) -> int:
        """Queue an agent's message to the customer (audited, never its text); returns the
        stored message id."""
        with UnitOfWork(self.session_factory) as uow:
            row = take_over(uow.session, conversation_id, agent, now)
            message = add_outbound(
                uow.session,
                self.cipher,
                row,
                text=text,
                author="agent",
                now=now,
                language=row.language,
                meta={"agent": agent, **_labelled(label)},
            )
            note_agent_response(uow.session, conversation_id, now)
            record_audit(
                uow.session,
                actor=agent,
                action="assistant.reply",
                target=f"conversation:{row.id}",
                details={"message_id": message.id, **_labelled(label)},
            )
            uow.commit()
            message_id = message.id
        request = OutboundRequest(message_id=message_id, requested_at=now)
        self.bus.publish(TOPIC_OUTBOUND, request.model_dump(mode="json"), key=f"out{message_id}")
        self.cache.delete(f"assistant:ctx:{conversation_id}")
        return message_id

    def queue(self, now: datetime) -> list[QueueEntry]:
        with UnitOfWork(self.session_factory) as uow:
            return agent_queue(uow.session, now)


def _labelled(label: str | None) -> dict[str, str]:
    return {"agent_name": label} if label else {}
