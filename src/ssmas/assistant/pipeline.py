"""The text worker: context → NLU → escalation → reply → send, once per WhatsApp message.

Messages come in batches (one bus consume). A batch is cut into rounds with at most one message
per customer, in arrival order, so each message still sees the context its predecessor left.
Per round, two short transactions bracket the thinking: the first finds (or creates) the
conversations and drops messages already handled; the second stores every message, decision
and reply together, the reply already claimed for sending (``sending``, with the claim time),
so a worker killed anywhere leaves either nothing (the bus redelivers and it starts again) or a
stored reply that the redelivery sends once its claim lapses (``Outbox``). Then the replies go
out concurrently over the Graph client's pooled keep-alive connections, and a third
transaction records them sent. While a human owns the conversation the bot stores messages and
says nothing.

A message that fails is given back to the bus (redelivered later); a customer's later messages
in the same batch are then given back too, unhandled (``EarlierMessageFailed``), so they are not
stored before it — except on their last allowed delivery (``deferrable`` false), so one message
that keeps failing never takes the customer's next ones to the dead-letter topic with it.

A brain may offer ``prepare(items)`` (``items``: ``(text, language hint)`` pairs of the round)
to do its work for the whole round at once (one vectorisation instead of one per message);
``understand`` and ``reply`` are still called per message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant import metrics, workspace
from ssmas.assistant.brain import (
    Brain,
    EscalationCall,
    Understanding,
    channel_message,
    media_error_message,
)
from ssmas.assistant.context import ContextStore, ContextWindow
from ssmas.assistant.events import (
    TOPIC_ESCALATION,
    TOPIC_OUTBOUND,
    EscalationEvent,
    OutboundRequest,
    TextMessageEvent,
)
from ssmas.assistant.handoff import open_handoff
from ssmas.assistant.inbound_limits import SenderLimit
from ssmas.assistant.outbox import Outbox, SendJob
from ssmas.assistant.store import (
    NewInbound,
    NewReply,
    Turn,
    conversations_for,
    insert_inbound_many,
    insert_replies_many,
    reply_of,
    seen_wa_ids,
    send_token,
)
from ssmas.assistant.tables import (
    IN_DONE,
    OUT_PENDING,
    OUT_SENDING,
    STATE_BOT,
    ChatMessage,
    Conversation,
    Handoff,
)
from ssmas.assistant.whatsapp.client import GraphClient
from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.core.bus import Bus
from ssmas.core.db import UnitOfWork
from ssmas.core.security import PiiCipher

log = structlog.get_logger(__name__)

SILENT_KINDS = frozenset({"reaction"})
AGENT_BUTTONS = frozenset({"talk_to_agent", "agent", "human"})
AGENT_INTENTS = frozenset({"contact_human_agent", "talk_to_agent", "human_agent"})


class EarlierMessageFailed(RuntimeError):
    """Not handled: an earlier message of the same customer in the batch failed."""


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
class _Item:
    """One message of a round on its way through the pipeline."""

    index: int
    event: TextMessageEvent
    conversation_id: int = 0
    window: ContextWindow | None = None
    plan: _Plan | None = None
    reply_id: int | None = None
    handoff: Handoff | None = None
    job: SendJob | None = None
    outcome: Outcome | None = None
    error: Exception | None = None
    turns: list[Turn] = field(default_factory=list)


def rounds(events: Sequence[TextMessageEvent]) -> list[list[int]]:
    """Indexes of ``events`` in rounds: each round holds at most one message per customer, and
    a customer's messages keep their order across rounds."""
    out: list[list[int]] = []
    depth: dict[tuple[str, str], int] = {}
    for i, event in enumerate(events):
        who = (event.business_id, event.phone)
        n = depth.get(who, 0)
        depth[who] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(i)
    return out


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
    settings: WhatsAppSettings
    clock: Callable[[], datetime]
    sender_limit: SenderLimit | None = None

    def handle(self, event: TextMessageEvent) -> Outcome:
        """One message (raises what handling it raised)."""
        [result] = self.handle_batch([event])
        if isinstance(result, Exception):
            raise result
        return result

    def handle_batch(
        self, events: Sequence[TextMessageEvent], deferrable: Sequence[bool] | None = None
    ) -> list[Outcome | Exception]:
        """Every message of ``events``: its ``Outcome``, or the exception that stopped it (the
        caller gives that delivery back to the bus; the others are done). A message after a
        failed one of the same customer is not handled (``EarlierMessageFailed``) unless
        ``deferrable`` (one flag per event; default all true) says it may not wait."""
        results: list[Outcome | Exception] = [RuntimeError("not handled")] * len(events)
        failed: dict[tuple[str, str], Exception] = {}
        for indexes in rounds(events):
            started = time.perf_counter()
            items: list[_Item] = []
            for i in indexes:
                who = (events[i].business_id, events[i].phone)
                if who in failed and (deferrable is None or deferrable[i]):
                    results[i] = EarlierMessageFailed(
                        f"an earlier message of this customer failed: {type(failed[who]).__name__}"
                    )
                    continue
                items.append(_Item(i, events[i]))
            if not items:
                continue
            try:
                self._round(items)
            except Exception as exc:  # a database failure: the whole round is given back
                log.warning("pipeline_round_failed", size=len(items), error=type(exc).__name__)
                for item in items:
                    if item.outcome is None and item.error is None:
                        item.error = exc
            elapsed = time.perf_counter() - started
            for item in items:
                result = item.outcome or item.error or RuntimeError("no outcome")
                results[item.index] = result
                if isinstance(result, Exception):
                    failed[(item.event.business_id, item.event.phone)] = result
                outcome = item.outcome.action if item.outcome is not None else "error"
                metrics.MESSAGES.labels(outcome, item.event.kind).inc()
                if item.outcome is not None and item.outcome.action in ("replied", "escalated"):
                    metrics.PIPELINE_SECONDS.observe(elapsed)
        return results

    def _round(self, items: list[_Item]) -> None:
        fresh = self._open(items)
        prepare = getattr(self.brain, "prepare", None)
        if callable(prepare):
            try:
                prepare(
                    [
                        (item.event.text, item.window.language if item.window else None)
                        for item in fresh
                    ]
                )
            except Exception as exc:
                # understanding the round at once only saves time: each message is then
                # understood alone, so one text the model fails on fails alone (below)
                # instead of sending the whole round back again and again
                log.warning("brain_prepare_failed", size=len(fresh), error=type(exc).__name__)
        thought: list[_Item] = []
        for item in fresh:
            assert item.window is not None
            if not self._may_answer(item):
                item.plan = _Plan(None, None, None)  # stored, not answered
                thought.append(item)
                continue
            try:
                item.plan = self._think(item.event, item.window)
            except Exception as exc:  # this message is retried; the others go on
                log.warning("pipeline_think_failed", error=type(exc).__name__)
                item.error = exc
                continue
            if item.plan.understanding is not None:
                metrics.CONFIDENCE.observe(item.plan.understanding.confidence)
                metrics.INTENTS.labels(item.plan.understanding.intent or "none").inc()
            thought.append(item)
        if not thought:
            return
        self._commit(thought)
        for item in thought:
            if item.outcome is None and item.window is not None:
                self.contexts.extend(item.window, *item.turns)
            if item.handoff is not None:
                self._announce(item.handoff, self.clock())
        self._send(thought)

    def _may_answer(self, item: _Item) -> bool:
        """False when the customer is past their inbound limit (counted only for messages the
        bot would answer)."""
        if self.sender_limit is None or item.window is None or item.window.state != STATE_BOT:
            return True
        if self.sender_limit.allow(item.event.business_id, item.event.phone):
            return True
        metrics.RATE_LIMITED.labels("sender").inc()
        log.info("inbound_sender_limited", conversation_id=item.conversation_id)
        return False

    def _open(self, items: list[_Item]) -> list[_Item]:
        """Transaction 1: conversations found or created, activity stamped, duplicates
        resumed; returns the items still to handle, each with its context window."""
        now = self.clock()
        idle = timedelta(seconds=self.settings.session_idle_s)
        with UnitOfWork(self.session_factory) as uow:
            customers = [(i.event.business_id, i.event.phone, i.event.name) for i in items]
            found = conversations_for(uow.session, self.cipher, customers, now=now)
            for item, (conversation, _) in zip(items, found, strict=True):
                if conversation.last_activity_at < now - idle:
                    conversation.session_no += 1
                    self.contexts.forget(conversation.id)
                conversation.last_activity_at = now
                item.conversation_id = conversation.id
            seen = seen_wa_ids(uow.session, [item.event.message_id for item in items])
            uow.commit()
            fresh: list[_Item] = []
            for item, (conversation, created) in zip(items, found, strict=True):
                if item.event.message_id in seen:
                    item.outcome = self._resume(
                        uow.session, item.conversation_id, item.event.message_id
                    )
                elif created:  # nothing to read back: a new customer has no history
                    item.window = ContextWindow(
                        conversation.id, conversation.session_no, conversation.state
                    )
                    fresh.append(item)
                else:
                    item.window = self.contexts.load(uow.session, conversation)
                    fresh.append(item)
        return fresh

    def _think(self, event: TextMessageEvent, window: ContextWindow) -> _Plan:
        """Everything that needs no database: understanding, decision and reply text."""
        if window.state != STATE_BOT or event.kind in SILENT_KINDS:
            return _Plan(None, None, None)
        hint = window.language
        if workspace.parse_csat(event.reply_id) is not None:  # the survey's answer: thank
            return _Plan(None, None, workspace.csat_thanks(hint))
        if event.media is not None and event.media.error:
            audio = event.kind == "audio"
            reply = media_error_message(event.media.error, hint, audio=audio, phone=event.phone)
            return _Plan(None, None, reply)
        if event.kind == "unsupported" or not event.text.strip():
            return _Plan(None, None, channel_message("unsupported", hint, event.phone))
        understanding = self.brain.understand(event.text, hint)
        follow = getattr(self.brain, "follow", None)
        if callable(follow):  # a form's question answered: the conversation says what it means
            understanding = follow(event.text, understanding, window)
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

    def _commit(self, items: list[_Item]) -> None:
        """Transaction 2: every message, decision and reply of the round, replies claimed."""
        now = self.clock()
        window_span = timedelta(hours=self.settings.window_hours)
        with UnitOfWork(self.session_factory) as uow:
            s = uow.session
            ids = [item.conversation_id for item in items]
            # Row locks (PostgreSQL) make the counters below exact even if two workers ever
            # hold one customer (a partition handed over while its old owner still runs).
            query = (
                sa.select(Conversation)
                .where(Conversation.id.in_(sorted(ids)))
                .order_by(Conversation.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            conversations = {c.id: c for c in s.scalars(query)}
            inbound: list[NewInbound] = []
            for item in items:
                event, plan = item.event, item.plan
                assert plan is not None
                u = plan.understanding
                conversation = conversations[item.conversation_id]
                inbound.append(
                    NewInbound(
                        conversation_id=conversation.id,
                        session_no=conversation.session_no,
                        wa_id=event.message_id,
                        kind=event.kind,
                        text=event.text,
                        wa_timestamp=event.timestamp,
                        state=IN_DONE,
                        language=u.language if u is not None else None,
                        intent=u.intent if u is not None else None,
                        confidence=u.confidence if u is not None else None,
                        sentiment=u.sentiment if u is not None else None,
                        meta=_inbound_meta(event),
                    )
                )
            stored = insert_inbound_many(s, self.cipher, inbound, now=now)
            replies: list[NewReply] = []
            replying: list[tuple[_Item, int]] = []
            for item in items:
                event, plan = item.event, item.plan
                assert plan is not None
                inbound_id = stored.get(event.message_id)
                if inbound_id is None:  # another worker got here first
                    continue
                u = plan.understanding
                conversation = conversations[item.conversation_id]
                if u is not None:
                    conversation.language = u.language
                conversation.turns += 1
                last = conversation.last_inbound_at
                if last is None or event.timestamp > last:
                    conversation.last_inbound_at = event.timestamp
                intent = u.intent if u is not None else None
                item.turns = [_turn("user", event.text, now, intent, event.kind)]
                # The agent workspace's status: reopen, wake, record a CSAT answer or a
                # customer's confirmation that it is solved.
                workspace.on_customer_message(
                    s,
                    conversation,
                    reply_id=event.reply_id,
                    intent=intent,
                    now=now,
                    csat_window=timedelta(hours=self.settings.csat_answer_hours),
                )
                # The state may have changed while we were thinking (an agent took over).
                if plan.reply is None or conversation.state != STATE_BOT:
                    continue
                if plan.decision is not None and plan.decision.escalate:
                    item.handoff, _ = open_handoff(
                        s,
                        conversation,
                        score=plan.decision.score,
                        reasons=plan.decision.reasons,
                        priority=plan.decision.priority,
                        department=plan.decision.department,
                        now=now,
                        intent=intent,
                        settings=self.settings,
                    )
                language = u.language if u is not None else conversation.language
                replies.append(
                    NewReply(
                        conversation.id, conversation.session_no, inbound_id, plan.reply, language
                    )
                )
                replying.append((item, inbound_id))
            reply_ids = insert_replies_many(s, self.cipher, replies, now=now)
            for (item, inbound_id), reply in zip(replying, replies, strict=True):
                item.reply_id = reply_ids.get(inbound_id)
                if item.reply_id is None:
                    continue
                conversation = conversations[item.conversation_id]
                item.turns.append(_turn("bot", reply.text, now, None, "text"))
                last_in = conversation.last_inbound_at
                item.job = SendJob(
                    message_id=item.reply_id,
                    to=item.event.phone,
                    text=reply.text,
                    kind="text",
                    reply_to=item.event.message_id,
                    language=reply.language or "es",
                    window_open=last_in is not None and now - last_in < window_span,
                    meta={},
                    token=send_token(item.reply_id, now),  # ``now`` is the row's created_at
                )
            uow.commit()
            for item in items:
                if item.event.message_id not in stored:
                    item.outcome = self._resume(s, item.conversation_id, item.event.message_id)
                    continue
                assert item.window is not None
                item.window.state = conversations[item.conversation_id].state
                if item.plan is not None and item.plan.understanding is not None:
                    item.window.language = item.plan.understanding.language

    def _send(self, items: list[_Item]) -> None:
        """The round's replies, concurrently; then one transaction records them."""
        jobs = [item.job for item in items if item.outcome is None and item.job is not None]
        states = self.outbox.send_claimed(jobs, mark_read=True) if jobs else {}
        for item in items:
            if item.outcome is not None or item.error is not None:
                continue
            if item.reply_id is None:
                item.outcome = Outcome("silent", item.conversation_id)
                continue
            state = states.get(item.reply_id)
            if isinstance(state, Exception):
                item.error = state  # retried on redelivery (the reply is pending again)
                continue
            action = "escalated" if item.handoff is not None else "replied"
            item.outcome = Outcome(action, item.conversation_id, item.reply_id)

    def _resume(self, session: Session, conversation_id: int, wa_id: str) -> Outcome:
        """A message seen before: finish sending its reply if a crash interrupted it. A reply
        another worker (one that died, likely) had claimed goes to the outbound queue, whose
        consumer takes it over once the claim lapses, unless a status proves it was sent by
        then; the text queue does not wait for that."""
        inbound = session.query(ChatMessage).filter(ChatMessage.wa_id == wa_id).first()
        reply = reply_of(session, inbound.id) if inbound is not None else None
        if reply is not None and reply.state in (OUT_PENDING, OUT_SENDING):
            self.contexts.forget(conversation_id)
            if reply.state == OUT_SENDING:
                request = OutboundRequest(message_id=reply.id, requested_at=self.clock())
                self.bus.publish(TOPIC_OUTBOUND, request.model_dump(mode="json"))
            else:
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
        # The escalation queue's consumer notifies the team (retried there, never in the way
        # of the conversation); the key makes a redelivered message announce once.
        self.bus.publish(TOPIC_ESCALATION, event.model_dump(mode="json"), key=f"h{handoff.id}")
        metrics.ESCALATIONS.labels(handoff.priority).inc()


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
