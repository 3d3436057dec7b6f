"""The router worker: split a stored webhook delivery into the text, media and status queues.

Each message goes to its queue keyed by its WhatsApp id (statuses by id and status), so a
delivery Meta sends twice, or a router retried after a crash, stores nothing twice. Messages of
a type the assistant does not know are logged and dead-lettered; a delivery that cannot be
parsed at all goes to ``assistant.inbound.dlq`` whole, and each invalid element of an otherwise
readable delivery goes there alone (sealed, with its place and reason) while its good elements
are routed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from ssmas.assistant import metrics
from ssmas.assistant.events import (
    TOPIC_INBOUND,
    TOPIC_MEDIA,
    TOPIC_STATUS,
    TOPIC_TEXT,
    MediaMessageEvent,
    StatusEvent,
    TextMessageEvent,
    seal,
    seal_bytes,
    unseal_bytes,
)
from ssmas.assistant.whatsapp.models import (
    Event,
    InboundMessage,
    PayloadError,
    RejectedElement,
    StatusUpdate,
    iter_events,
    parse_delivery,
)
from ssmas.core.bus import Bus, dlq_topic
from ssmas.core.bus.base import HEADER_ERROR, HEADER_TOPIC
from ssmas.core.bus.dlq import HEADER_REPLAYABLE
from ssmas.core.security import PiiCipher
from ssmas.core.worker import partition_for, partition_topic

log = structlog.get_logger(__name__)


class DeliveryUnreadable(ValueError):
    """A stored delivery is not a WhatsApp envelope (it is dead-lettered)."""


@dataclass
class Split:
    """One delivery's events by destination queue."""

    texts: list[TextMessageEvent] = field(default_factory=list)
    media: list[MediaMessageEvent] = field(default_factory=list)
    statuses: list[StatusEvent] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (message id, type)
    rejected: list[RejectedElement] = field(default_factory=list)  # invalid elements


def _readable_text(message: InboundMessage) -> str:
    """What the text pipeline reads for a non-media message."""
    if message.type == "location":
        parts = (message.location_name, message.location_address)
        return " — ".join(p for p in parts if p)
    if message.type == "reaction":
        return message.reaction_emoji or ""
    return message.text or ""


def split_events(events: Iterable[Event]) -> Split:
    """Route parsed events: statuses, media to read first, everything else to the text queue.

    A message of a type nobody knows is listed in ``unknown`` (to dead-letter) and also goes to
    the text queue as ``unsupported``, so the customer hears what we can read.
    """
    out = Split()
    for event in events:
        if isinstance(event, StatusUpdate):
            first = event.errors[0] if event.errors else None
            out.statuses.append(
                StatusEvent(
                    message_id=event.message_id,
                    status=event.status,
                    timestamp=event.timestamp,
                    recipient=event.recipient_id,
                    error_code=first.code if first else None,
                    error_title=first.title if first else None,
                    callback_data=event.callback_data,
                )
            )
            continue
        common: dict[str, Any] = {
            "message_id": event.message_id,
            "business_id": event.phone_number_id or "",
            "phone": event.from_number,
            "name": event.contact_name,
            "timestamp": event.timestamp,
        }
        if event.is_media and event.media_id is not None:
            out.media.append(
                MediaMessageEvent(
                    **common,
                    kind=event.type,
                    media_id=event.media_id,
                    mime_type=event.mime_type or "",
                    caption=event.caption,
                    filename=event.filename,
                    voice=bool(event.voice),
                )
            )
            continue
        kind = event.type if event.is_supported else "unsupported"
        if not event.is_supported and event.type != "unsupported":
            out.unknown.append((event.message_id, event.type))
        out.texts.append(
            TextMessageEvent(
                **common,
                kind=kind,
                text=_readable_text(event),
                context_id=event.context_message_id,
                reply_id=event.reply_id,
            )
        )
    return out


def split_delivery(body: bytes) -> Split:
    """Parse raw webhook bytes and route them; raises ``DeliveryUnreadable``."""
    try:
        envelope, rejected = parse_delivery(body)
    except PayloadError as exc:
        raise DeliveryUnreadable(f"{exc.code}: {exc.message}") from exc
    split = split_events(iter_events(envelope))
    split.rejected = rejected
    return split


def _reason_label(reason: str) -> str:
    """A closed-set label for a dead letter's reason (never the free text)."""
    if reason.startswith("unknown type"):
        return "unknown_type"
    if reason.startswith("entry."):
        return "invalid_element"
    return reason.split(":", 1)[0] if reason.split(":", 1)[0] in _DELIVERY_CODES else "unreadable"


_DELIVERY_CODES = frozenset({"not_utf8", "malformed_json", "invalid_payload"})


class Router:
    """Consumes ``assistant.inbound`` and fans out; safe to run again on the same delivery."""

    def __init__(self, bus: Bus, cipher: PiiCipher, text_partitions: int = 1) -> None:
        self.bus = bus
        self.cipher = cipher
        self.text_partitions = text_partitions

    def route(self, payload: dict[str, Any]) -> Split:
        return self.route_many([payload])[0]

    def route_many(self, payloads: Sequence[dict[str, Any]]) -> list[Split]:
        """Split many stored deliveries; their events go out in one publish per queue."""
        splits: list[Split] = []
        for payload in payloads:
            try:
                body = unseal_bytes(self.cipher, payload)
                split = split_delivery(body)
            except ValueError as exc:
                reason = exc.args[0] if isinstance(exc, DeliveryUnreadable) else type(exc).__name__
                self._dead_letter(TOPIC_INBOUND, payload, str(reason)[:300])
                log.warning("delivery_dead_lettered", reason=str(reason)[:120])
                split = Split()
            if split.rejected:
                self._dead_letter_elements(hashlib.sha256(body).hexdigest(), split.rejected)
            splits.append(split)
        texts: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for sp in splits:  # by customer partition, each in arrival order
            for e in sp.texts:
                k = partition_for(f"{e.business_id}:{e.phone}", self.text_partitions)
                texts.setdefault(partition_topic(TOPIC_TEXT, k), []).append(
                    (e.message_id, seal(self.cipher, e))
                )
        for topic, items in texts.items():
            self.bus.publish_batch(topic, items)
        media = [(e.message_id, seal(self.cipher, e)) for sp in splits for e in sp.media]
        if media:
            self.bus.publish_batch(TOPIC_MEDIA, media)
        statuses = [
            (f"{e.message_id}:{e.status}", seal(self.cipher, e))
            for sp in splits
            for e in sp.statuses
        ]
        if statuses:
            self.bus.publish_batch(TOPIC_STATUS, statuses)
        for split in splits:
            for message_id, kind in split.unknown:
                log.warning("unknown_message_type", type=kind[:40])
                self._dead_letter(
                    TOPIC_TEXT,
                    {"message_id": message_id, "type": kind},
                    f"unknown type {kind[:40]!r}",
                    key=message_id,
                )
        return splits

    def _dead_letter_elements(self, digest: str, rejected: Sequence[RejectedElement]) -> None:
        """Each bad element alone, sealed (it may hold a phone number or a message text) and
        keyed by delivery and place, so routing the same delivery again stores nothing twice."""
        for bad in rejected:
            raw = json.dumps(bad.element, ensure_ascii=False, default=str).encode()
            log.warning("delivery_element_rejected", where=bad.where, reason=bad.reason[:120])
            self._dead_letter(
                TOPIC_INBOUND,
                seal_bytes(self.cipher, raw),
                f"{bad.where}: {bad.reason}",
                key=f"{digest}:{bad.where}",
                replayable=False,  # an element alone is not a delivery
            )

    def _dead_letter(
        self,
        topic: str,
        payload: dict[str, Any],
        reason: str,
        *,
        key: str | None = None,
        replayable: bool = True,
    ) -> None:
        metrics.DEAD_LETTERS.labels(_reason_label(reason)).inc()
        headers = {HEADER_ERROR: reason, HEADER_TOPIC: topic}
        if not replayable:
            headers[HEADER_REPLAYABLE] = "no"
        self.bus.publish(dlq_topic(topic), payload, key=key, headers=headers)
