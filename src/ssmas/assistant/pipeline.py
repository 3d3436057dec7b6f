"""The text worker: context → NLU → escalation → reply → send, once per WhatsApp message.

Two short transactions bracket the thinking: the first finds (or creates) the conversation and
drops messages already handled; the second stores the message, the decision and the reply
together, so a worker killed anywhere leaves either nothing (the bus redelivers and it starts
again) or a stored reply that the redelivery sends (``Outbox`` makes that send happen once).
While a human owns the conversation the bot stores messages and says nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant.brain import (
    Brain,
    EscalationCall,
    Understanding,
    channel_message,
    media_error_message,
)
from ssmas.assistant.context import ContextStore, ContextWindow
from ssmas.assistant.events import TOPIC_ESCALATION, EscalationEvent, TextMessageEvent
from ssmas.assistant.handoff import escalation_notification, open_handoff
from ssmas.assistant.outbox import Outbox
from ssmas.assistant.store import (
    Turn,
    add_outbound,
    find_conversation,
    get_or_create_conversation,
    record_inbound,
    reply_of,
)
from ssmas.assistant.tables import (
    IN_DONE,
    OUT_PENDING,
    OUT_SENDING,
    STATE_BOT,
    ChatMessage,
    Handoff,
)
from ssmas.assistant.whatsapp.client import GraphClient, GraphError
from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.core.bus import Bus
from ssmas.core.db import UnitOfWork
from ssmas.core.notify import Notifier
from ssmas.core.security import PiiCipher

log = structlog.get_logger(__name__)

SILENT_KINDS = frozenset({"reaction"})
AGENT_BUTTONS = frozenset({"talk_to_agent", "agent", "human"})
AGENT_INTENTS = frozenset({"contact_human_agent", "talk_to_agent", "human_agent"})


@dataclass(frozen=True)
class Outcome:
    """What the pipeline did with one message."""

    action: str  # replied | escalated | silent | duplicate
    conversation_id: int
    reply_id: int | None = None


@dataclass
class _Plan:
    understanding: Understanding | None
    decision: EscalationCall | None
    reply: str | None


@dataclass
class TextPipeline:
    """Handles ``TextMessageEvent``s; idempotent per WhatsApp message id."""

    session_factory: sessionmaker[Session]
    cipher: PiiCipher
    contexts: ContextStore
    brain: Brain
    outbox: Outbox
    client: GraphClient
    bus: Bus
    notifier: Notifier
    settings: WhatsAppSettings
    clock: Callable[[], datetime]

    def handle(self, event: TextMessageEvent) -> Outcome:
        now = self.clock()
        with UnitOfWork(self.session_factory) as uow:
            conversation = get_or_create_conversation(
                uow.session,
                self.cipher,
                business_id=event.business_id,
                phone=event.phone,
                name=event.name,
                now=now,
            )
            if conversation.last_activity_at < now - timedelta(
                seconds=self.settings.session_idle_s
            ):
                conversation.session_no += 1
                self.contexts.forget(conversation.id)
            conversation.last_activity_at = now
            seen = uow.session.query(ChatMessage.id).filter(ChatMessage.wa_id == event.message_id)
            duplicate = seen.first() is not None
            uow.commit()
            if duplicate:
                return self._resume(uow.session, conversation.id, event.message_id)
            window = self.contexts.load(uow.session, conversation)
        plan = self._think(event, window)
        return self._commit(event, plan, window)

    def _think(self, event: TextMessageEvent, window: ContextWindow) -> _Plan:
        """Everything that needs no database: understanding, decision and reply text."""
        if window.state != STATE_BOT or event.kind in SILENT_KINDS:
            return _Plan(None, None, None)
        hint = window.language
        if event.media is not None and event.media.error:
            audio = event.kind == "audio"
            return _Plan(None, None, media_error_message(event.media.error, hint, audio=audio))
        if event.kind == "unsupported" or not event.text.strip():
            return _Plan(None, None, channel_message("unsupported", hint))
        understanding = self.brain.understand(event.text, hint)
        decision = self.brain.judge(event.text, understanding, window)
        asked = event.reply_id in AGENT_BUTTONS or (
            understanding.intent in AGENT_INTENTS and understanding.confidence >= 0.5
        )
        if asked and not decision.escalate:
            # An explicit request for a person is honoured whatever the score says.
            decision = EscalationCall(
                True,
                decision.score,
                [*decision.reasons, "Customer asked for a human agent"],
                "medium" if decision.priority == "low" else decision.priority,
                decision.department,
            )
        if decision.escalate:
            return _Plan(
                understanding, decision, channel_message("handoff", understanding.language)
            )
        return _Plan(understanding, decision, self.brain.reply(event.text, understanding, window))

    def _commit(self, event: TextMessageEvent, plan: _Plan, window: ContextWindow) -> Outcome:
        now = self.clock()
        u = plan.understanding
        handoff: Handoff | None = None
        with UnitOfWork(self.session_factory) as uow:
            s = uow.session
            conversation = find_conversation(s, self.cipher, event.business_id, event.phone)
            assert conversation is not None
            inbound, created = record_inbound(
                s,
                self.cipher,
                conversation,
                wa_id=event.message_id,
                kind=event.kind,
                text=event.text,
                wa_timestamp=event.timestamp,
                now=now,
                meta=_inbound_meta(event),
            )
            if not created:  # another worker got here first
                uow.commit()
                return self._resume(s, conversation.id, event.message_id)
            if u is not None:
                inbound.language, inbound.intent = u.language, u.intent
                inbound.confidence, inbound.sentiment = u.confidence, u.sentiment
                conversation.language = u.language
            inbound.state = IN_DONE
            conversation.turns += 1
            last = conversation.last_inbound_at
            if last is None or event.timestamp > last:
                conversation.last_inbound_at = event.timestamp
            reply: ChatMessage | None = None
            # The state may have changed while we were thinking (an agent took over).
            if plan.reply is not None and conversation.state == STATE_BOT:
                if plan.decision is not None and plan.decision.escalate:
                    handoff, _ = open_handoff(
                        s,
                        conversation,
                        score=plan.decision.score,
                        reasons=plan.decision.reasons,
                        priority=plan.decision.priority,
                        department=plan.decision.department,
                        now=now,
                    )
                reply = add_outbound(
                    s,
                    self.cipher,
                    conversation,
                    text=plan.reply,
                    author="bot",
                    now=now,
                    reply_to=inbound,
                    language=u.language if u is not None else conversation.language,
                )
            uow.commit()
            conversation_id, state = conversation.id, conversation.state
            turns = [_turn(inbound.author, event.text, now, inbound.intent, event.kind)]
            if reply is not None:
                turns.append(_turn("bot", plan.reply or "", now, None, "text"))
            reply_id = reply.id if reply is not None else None
        window.state = state
        if u is not None:
            window.language = u.language
        self.contexts.extend(window, *turns)
        if handoff is not None:
            self._announce(handoff, now)
        if reply_id is None:
            return Outcome("silent", conversation_id)
        self.outbox.deliver(reply_id)
        self._mark_read(event.message_id)
        return Outcome("escalated" if handoff else "replied", conversation_id, reply_id)

    def _resume(self, session: Session, conversation_id: int, wa_id: str) -> Outcome:
        """A message seen before: finish sending its reply if a crash interrupted it."""
        inbound = session.query(ChatMessage).filter(ChatMessage.wa_id == wa_id).first()
        reply = reply_of(session, inbound.id) if inbound is not None else None
        if reply is not None and reply.state in (OUT_PENDING, OUT_SENDING):
            self.contexts.forget(conversation_id)
            self.outbox.deliver(reply.id)
        log.info("duplicate_message", conversation_id=conversation_id)
        return Outcome("duplicate", conversation_id, reply.id if reply is not None else None)

    def _announce(self, handoff: Handoff, now: datetime) -> None:
        event = EscalationEvent(
            conversation_id=handoff.conversation_id,
            handoff_id=handoff.id,
            priority=handoff.priority,
            department=handoff.department,
            score=handoff.score,
            reasons=list(handoff.reasons or []),
            sla_due_at=handoff.sla_due_at,
            timestamp=now,
        )
        self.bus.publish(TOPIC_ESCALATION, event.model_dump(mode="json"), key=f"h{handoff.id}")
        try:
            self.notifier.send(escalation_notification(handoff))
        except Exception as exc:  # a notifier outage must not lose the conversation
            log.warning("escalation_notify_failed", handoff_id=handoff.id, error=str(exc))

    def _mark_read(self, wa_id: str) -> None:
        try:
            self.client.mark_read(wa_id)
        except GraphError as exc:
            log.info("mark_read_failed", code=exc.code, status=exc.status)


def _turn(role: str, text: str, at: datetime, intent: str | None, kind: str) -> Turn:
    return Turn(role=role, text=text, at=at, intent=intent, kind=kind)


def _inbound_meta(event: TextMessageEvent) -> dict[str, object]:
    meta: dict[str, object] = {}
    if event.context_id:
        meta["context_id"] = event.context_id
    if event.reply_id:
        meta["reply_id"] = event.reply_id
    if event.media is not None:
        meta["media"] = event.media.model_dump(exclude_none=True)
    return meta
