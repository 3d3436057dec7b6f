"""Bus subscriptions of the assistant, and the worker loops its product declares.

``assistant_subscriptions(platform)`` gives the router, text, media, status and outbound
consumers for ``ssmas.core.worker.run_worker``, and the template sends other products request
(``templates``, ``ssmas.assistant.template_sends``). ``run(platform, stop)`` consumes them all and
``run_sla_sweep(platform, stop)`` notifies handoffs past their SLA: ``ssmas up`` runs both,
``ssmas worker assistant [--only consumers]`` runs them in a process of their own.

Scale-out: the router's queue is one partition and the text queue ``text_partitions``
partitions (by customer), each leased by one worker process at a time
(``ssmas.core.leases``), so a customer's messages are routed and answered in order however many
workers run; media, statuses and outbound sends are shared by every worker. One timeout rules
them (``SSMAS_WHATSAPP_SEND_LEASE_S``, 8 s): a message not acknowledged within it is handed
out again, a reply claimed for sending is taken over after it (media: 300 s).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from ssmas.assistant import metrics
from ssmas.assistant.brain import guess_language
from ssmas.assistant.brain_reload import brain_reloader
from ssmas.assistant.brain_served import ServedRecord
from ssmas.assistant.console import Console
from ssmas.assistant.events import (
    TOPIC_ESCALATION,
    TOPIC_INBOUND,
    TOPIC_MEDIA,
    TOPIC_OUTBOUND,
    TOPIC_STATUS,
    TOPIC_TEMPLATE_SEND,
    TOPIC_TEXT,
    EscalationEvent,
    MediaMessageEvent,
    OutboundRequest,
    StatusEvent,
    TextMessageEvent,
    seal,
    unseal,
)
from ssmas.assistant.handoff import due_breaches, escalation_notice, escalation_notification
from ssmas.assistant.ingest import Router
from ssmas.assistant.runtime import AssistantRuntime, assistant_runtime
from ssmas.assistant.store import (
    OTHER_SEND,
    SETTLED,
    add_outbound,
    apply_status,
    find_conversation,
    outbound_by_wa_id,
    settle_by_token,
)
from ssmas.assistant.tables import Conversation, Handoff, Team
from ssmas.assistant.template_sends import TemplateSends
from ssmas.assistant.whatsapp.client import CODE_WINDOW_CLOSED
from ssmas.core.bus import Delivery
from ssmas.core.db import UnitOfWork
from ssmas.core.leases import LeaseStore
from ssmas.core.notify import NotifyError
from ssmas.core.platform import Platform
from ssmas.core.worker import Subscription, partition_for, partition_topic, run_worker

log = structlog.get_logger(__name__)

QUEUES = ("inbound", "text", "media", "status", "outbound", "templates", "escalations")
MEDIA_VISIBILITY_S = 300.0
LEASE_SCOPE = "assistant"
TEXT_BATCH = 100
# A routing step must feed every text partition's next batch, with room to spare: at 200 a
# step, the router (one partition) shared its worker's loop with that worker's long text
# rounds, routed 200 messages a round, and the other worker's partitions went hungry while
# the router's queue grew (49,665 waiting there, ~100 in each text partition, at 500/s).
ROUTER_BATCH_MIN = 200
SLA_SWEEP_S = 30.0


def text_topic(business_id: str, phone: str, partitions: int) -> str:
    """The text queue partition of one customer."""
    return partition_topic(TOPIC_TEXT, partition_for(f"{business_id}:{phone}", partitions))


class AssistantHandlers:
    """The handler of each assistant queue, bound to one runtime."""

    def __init__(self, runtime: AssistantRuntime) -> None:
        self.rt = runtime
        self.router = Router(runtime.platform.bus, runtime.cipher, runtime.wa.text_partitions)

    def inbound(self, delivery: Delivery) -> None:
        self.router.route(delivery.message.payload)

    def inbound_batch(self, deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        """Route a batch of deliveries (one publish per queue); all or nothing."""
        self.router.route_many([d.message.payload for d in deliveries])
        return [None] * len(deliveries)

    def text(self, delivery: Delivery) -> None:
        event = TextMessageEvent.model_validate(unseal(self.rt.cipher, delivery.message.payload))
        self.rt.pipeline.handle(event)

    def text_batch(self, deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        """The text pipeline over a batch; a message that cannot be read fails alone."""
        errors: list[BaseException | None] = [None] * len(deliveries)
        events: list[TextMessageEvent] = []
        positions: list[int] = []
        for i, delivery in enumerate(deliveries):
            try:
                payload = unseal(self.rt.cipher, delivery.message.payload)
                events.append(TextMessageEvent.model_validate(payload))
            except ValueError as exc:  # pydantic's ValidationError and PiiDecryptError too
                errors[i] = exc
                continue
            positions.append(i)
        # a message on its last allowed delivery is handled even after a failed one
        last = int(getattr(self.rt.platform.bus, "max_deliveries", 0))
        deferrable = [not last or deliveries[i].attempt < last for i in positions]
        handled = self.rt.pipeline.handle_batch(events, deferrable)
        for i, result in zip(positions, handled, strict=True):
            if isinstance(result, Exception):
                errors[i] = result
        return errors

    def media(self, delivery: Delivery) -> None:
        event = MediaMessageEvent.model_validate(unseal(self.rt.cipher, delivery.message.payload))
        language = self._language_of(event)
        read = self.rt.media.read(event, language)
        text = "\n".join(part for part in (event.caption, read.text) if part)
        follow = TextMessageEvent(
            message_id=event.message_id,
            business_id=event.business_id,
            phone=event.phone,
            name=event.name,
            kind=event.kind,
            text=text,
            timestamp=event.timestamp,
            media=read.info,
        )
        topic = text_topic(event.business_id, event.phone, self.rt.wa.text_partitions)
        self.rt.platform.bus.publish(topic, seal(self.rt.cipher, follow), key=event.message_id)

    def _language_of(self, event: MediaMessageEvent) -> str:
        with UnitOfWork(self.rt.platform.session_factory) as uow:
            found = find_conversation(uow.session, self.rt.cipher, event.business_id, event.phone)
            if found is not None and found.language:
                return found.language
        return guess_language(event.phone)

    def status(self, delivery: Delivery) -> None:
        """Record a delivery status. One that echoes a send token (``callback_data``) also
        proves Meta accepted that outbox row: the row is recorded sent under the status's
        message id if its sender died before doing so (before the template fallback, which
        finds the row by that id)."""
        event = StatusEvent.model_validate(unseal(self.rt.cipher, delivery.message.payload))
        now = self.rt.clock()
        fallback_id: int | None = None
        settled: str | None = None
        with UnitOfWork(self.rt.platform.session_factory) as uow:
            changed = apply_status(
                uow.session,
                wa_id=event.message_id,
                status=event.status,
                status_at=event.timestamp,
                error_code=event.error_code,
                now=now,
                callback_data=event.callback_data,
            )
            if event.callback_data is not None:
                settled = settle_by_token(
                    uow.session, event.callback_data, wa_id=event.message_id, now=now
                )
            if changed and event.status == "failed" and event.error_code == CODE_WINDOW_CLOSED:
                fallback_id = self._queue_template(uow.session, event.message_id, now)
            uow.commit()
        if settled == SETTLED:
            log.info("send_settled_by_status", status=event.status, token=event.callback_data)
        elif settled == OTHER_SEND and changed:
            # a takeover sent again although the first send had been accepted
            log.warning("send_duplicate_detected", status=event.status, token=event.callback_data)
        if fallback_id is not None:
            request = OutboundRequest(message_id=fallback_id, requested_at=now)
            self.rt.platform.bus.publish(
                TOPIC_OUTBOUND, request.model_dump(mode="json"), key=f"out{fallback_id}"
            )

    def _queue_template(self, session: Session, wa_id: str, now: datetime) -> int | None:
        """A free-text message that failed with 131047 is followed by the re-engagement
        template (once: the status only turns ``failed`` once)."""
        original = outbound_by_wa_id(session, wa_id)
        if original is None or original.kind == "template":
            return None
        conversation = session.get(Conversation, original.conversation_id)
        if conversation is None:
            return None
        row = add_outbound(
            session,
            self.rt.cipher,
            conversation,
            text=self.rt.cipher.decrypt(original.body_enc),
            author="system",
            kind="template",
            now=now,
            language=original.language,
            meta={"fallback_for": original.id},
        )
        return row.id

    def outbound(self, delivery: Delivery) -> None:
        request = OutboundRequest.model_validate(delivery.message.payload)
        self.rt.outbox.deliver(request.message_id, wait=False)  # claimed elsewhere: later

    def escalation(self, delivery: Delivery) -> None:
        """Tell the team (the configured notifiers) a conversation needs a person. A failure a
        retry can fix is raised (the bus redelivers, then dead-letters); one it cannot (a 4xx
        from the receiver) is logged and the message is done."""
        event = EscalationEvent.model_validate(delivery.message.payload)
        team, agent = self._routed(event.handoff_id)
        try:
            self.rt.notifier.send(escalation_notice(event, team=team, agent=agent))
        except NotifyError as exc:
            if exc.retryable:
                raise
            log.warning("escalation_notify_refused", handoff_id=event.handoff_id, error=str(exc))

    def _routed(self, handoff_id: int) -> tuple[str | None, str | None]:
        """The team and agent a handoff was routed to (the workspace's assignment on open)."""
        with UnitOfWork(self.rt.platform.session_factory) as uow:
            found = uow.session.execute(
                sa.select(Team.name, Handoff.agent)
                .select_from(Handoff)
                .outerjoin(Team, Team.id == Handoff.team_id)
                .where(Handoff.id == handoff_id)
            ).first()
        return (found[0], found[1]) if found is not None else (None, None)

    def sweep_sla(self) -> int:
        """One pass of the SLA worker: notify handoffs past their first-response target
        without an agent reply, count those past their resolution target, wake snoozed
        conversations and move unanswered handoffs off agents who are away or over capacity;
        returns how many breaches it found."""
        now = self.rt.clock()
        with UnitOfWork(self.rt.platform.session_factory) as uow:
            breaches = due_breaches(uow.session, now)
            uow.commit()
        for handoff in breaches:
            metrics.SLA_BREACHES.labels("first_response", handoff.priority).inc()
            try:
                self.rt.notifier.send(escalation_notification(handoff, breached=True))
            except Exception as exc:
                log.warning("sla_notify_failed", handoff_id=handoff.id, error=str(exc))
        console = Console(
            self.rt.platform.session_factory,
            self.rt.cipher,
            self.rt.platform.bus,
            self.rt.platform.cache,
            self.rt.wa,
        )
        swept = console.sweep(now)
        for handoff in swept["resolution_breaches"]:
            metrics.SLA_BREACHES.labels("resolution", handoff.priority).inc()
        if swept["woken"] or swept["moves"]:
            log.info("sla_sweep", woken=len(swept["woken"]), reassigned=len(swept["moves"]))
        return len(breaches) + len(swept["resolution_breaches"])


def assistant_subscriptions(
    platform: Platform,
    *,
    runtime: AssistantRuntime | None = None,
    queues: Sequence[str] = QUEUES,
    visibility_timeout_s: float | None = None,
) -> list[Subscription]:
    """The assistant's consumers (only ``queues``); the visibility timeout defaults to the
    settings' (``visibility_timeout_s``, else ``send_lease_s``; media 300 s)."""
    rt = runtime or assistant_runtime(platform)
    handlers = AssistantHandlers(rt)
    templates = TemplateSends(rt)
    lease = rt.wa.visibility_timeout_s or rt.wa.send_lease_s
    parts = rt.wa.text_partitions
    table = {
        "inbound": Subscription(
            TOPIC_INBOUND,
            "assistant-router",
            handlers.inbound,
            max(ROUTER_BATCH_MIN, 2 * parts * TEXT_BATCH),
            lease,
            handlers.inbound_batch,
            partitions=1,  # one router at a time: a customer's messages keep their order
        ),
        "text": Subscription(
            TOPIC_TEXT,
            "assistant-text",
            handlers.text,
            TEXT_BATCH,
            lease,
            handlers.text_batch,
            partitions=parts,
        ),
        "media": Subscription(
            TOPIC_MEDIA, "assistant-media", handlers.media, 4, MEDIA_VISIBILITY_S
        ),
        "status": Subscription(TOPIC_STATUS, "assistant-status", handlers.status, 200, lease),
        "outbound": Subscription(
            TOPIC_OUTBOUND, "assistant-outbound", handlers.outbound, 20, lease
        ),
        "templates": Subscription(
            TOPIC_TEMPLATE_SEND, "assistant-templates", templates.handle, 20, lease
        ),
        "escalations": Subscription(
            TOPIC_ESCALATION, "assistant-escalations", handlers.escalation, 20, lease
        ),
    }
    unknown = set(queues) - set(table)
    if unknown:
        raise ValueError(f"unknown assistant queues: {sorted(unknown)}; choose from {QUEUES}")
    subs = [table[name] for name in queues]
    if visibility_timeout_s is not None:
        subs = [replace(s, visibility_timeout_s=visibility_timeout_s) for s in subs]
    return subs


def run(platform: Platform, stop: threading.Event) -> None:
    """Every assistant consumer, until ``stop`` is set."""
    runtime = assistant_runtime(platform)
    subs = assistant_subscriptions(platform, runtime=runtime)
    leases = LeaseStore(platform.session_factory)
    # Reload hook: a promoted NLU or a reloaded knowledge base is swapped in between rounds
    # (ssmas.assistant.brain_reload; nothing for a configured brain), and what is served is
    # kept in the database for GET /assistant/brain (ssmas.assistant.brain_served).
    served = ServedRecord(platform.session_factory)
    reloader = brain_reloader(runtime.brain, platform.settings, served)
    if reloader is not None:
        reloader.start(stop, platform.bus)
    run_worker(platform.bus, subs, stop, leases=leases, scope=LEASE_SCOPE)


def run_sla_sweep(platform: Platform, stop: threading.Event) -> None:
    """Notify handoffs past their SLA every ``SLA_SWEEP_S``, until ``stop`` is set."""
    handlers = AssistantHandlers(assistant_runtime(platform))
    while not stop.wait(SLA_SWEEP_S):
        try:
            handlers.sweep_sla()
        except Exception:
            log.exception("sla_sweep_failed")
