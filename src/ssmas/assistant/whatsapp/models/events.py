"""From raw webhook bytes to flat, typed events: ``parse_webhook`` then ``iter_events``.

``parse_webhook`` raises ``PayloadError`` (with a short ``code``) for bodies that are not UTF-8,
not JSON, or not a WhatsApp delivery; the webhook maps it to a 400 and a dead letter.
``parse_delivery`` is what the live path uses: a well-formed envelope with some bad elements
(a message without an id, a status of an unknown shape) keeps its good elements and lists the
bad ones as ``RejectedElement`` — so one broken message never costs the customers beside it
their answers; the router dead-letters each rejected element with its reason.
``iter_events`` yields one ``InboundMessage`` per customer message and one ``StatusUpdate`` per
delivery status, in the order Meta sent them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ssmas.assistant.whatsapp.models.webhook import (
    AudioMessage,
    ButtonMessage,
    DocumentMessage,
    GraphErrorDetail,
    ImageMessage,
    InteractiveMessage,
    LocationMessage,
    Message,
    ReactionMessage,
    StickerMessage,
    TextMessage,
    UnsupportedMessage,
    VideoMessage,
    WebhookEnvelope,
)

MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker"})
WINDOW_CLOSED = 131047
PAIR_RATE_LIMIT = 131056
# Later states win; "failed" can follow any of them.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4, "deleted": 5}

PayloadErrorCode = Literal["not_utf8", "malformed_json", "invalid_payload"]


class PayloadError(ValueError):
    """A webhook body we cannot read; ``code`` is one of ``not_utf8``, ``malformed_json``,
    ``invalid_payload``."""

    def __init__(self, code: PayloadErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: PayloadErrorCode = code
        self.message = message


class InboundMessage(BaseModel):
    """One customer message, flattened; ``text`` is the body, caption or chosen reply title."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    from_number: str
    contact_name: str | None = None
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    timestamp: datetime
    type: str
    text: str | None = None
    caption: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    filename: str | None = None
    voice: bool | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_name: str | None = None
    location_address: str | None = None
    reply_id: str | None = None
    reaction_emoji: str | None = None
    reacted_message_id: str | None = None
    context_message_id: str | None = None
    supported: bool = True
    errors: list[GraphErrorDetail] = []

    @property
    def is_media(self) -> bool:
        return self.type in MEDIA_TYPES and self.media_id is not None

    @property
    def is_supported(self) -> bool:
        """False for Meta's ``unsupported`` type and for types or shapes this code cannot read."""
        return self.supported


class StatusUpdate(BaseModel):
    """What happened to one message the business sent."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    status: str
    timestamp: datetime
    recipient_id: str
    phone_number_id: str | None = None
    conversation_id: str | None = None
    conversation_expires_at: datetime | None = None
    conversation_origin: str | None = None
    billable: bool | None = None
    pricing_category: str | None = None
    errors: list[GraphErrorDetail] = []
    callback_data: str | None = None  # ``biz_opaque_callback_data`` echoed from the send

    @property
    def rank(self) -> int:
        """Order of states, so a late ``delivered`` never overwrites ``read``."""
        return STATUS_RANK.get(self.status, 0)

    @property
    def error_codes(self) -> list[int]:
        return [e.code for e in self.errors]

    @property
    def window_closed(self) -> bool:
        return WINDOW_CLOSED in self.error_codes


Event = InboundMessage | StatusUpdate


def parse_webhook(body: bytes) -> WebhookEnvelope:
    """Validate one raw POST body strictly (every element); raise ``PayloadError`` with a
    one-line reason otherwise."""
    data = _decode(body)
    try:
        return WebhookEnvelope.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


ELEMENT_LISTS = ("messages", "statuses", "contacts", "errors")
MAX_REJECTED = 200  # a delivery with more bad elements than this is refused whole


@dataclass(frozen=True)
class RejectedElement:
    """One element of a delivery that failed validation: where it was, why, and its raw JSON."""

    where: str  # e.g. "entry.0.changes.0.value.messages.2"
    reason: str
    element: object


def _decode(body: bytes) -> object:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("not_utf8", f"body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError("malformed_json", f"body is not JSON: {exc.msg} at {exc.pos}") from None


def _invalid(exc: ValidationError) -> PayloadError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return PayloadError("invalid_payload", f"not a WhatsApp webhook: {where}: {first['msg']}")


def _element_at(loc: tuple[int | str, ...]) -> tuple[int, int, str, int] | None:
    """``(entry, change, list name, index)`` when an error lies inside one list element."""
    if (
        len(loc) >= 7
        and loc[0] == "entry"
        and loc[2] == "changes"
        and loc[4] == "value"
        and loc[5] in ELEMENT_LISTS
        and isinstance(loc[1], int)
        and isinstance(loc[3], int)
        and isinstance(loc[6], int)
    ):
        return loc[1], loc[3], str(loc[5]), loc[6]
    return None


def parse_delivery(body: bytes) -> tuple[WebhookEnvelope, list[RejectedElement]]:
    """Validate a delivery element by element: the envelope and its good elements, and the bad
    ones with their reasons. Raises ``PayloadError`` when the envelope itself is unusable."""
    data = _decode(body)
    rejected: list[RejectedElement] = []
    while True:
        try:
            return WebhookEnvelope.model_validate(data), rejected
        except ValidationError as exc:
            bad: dict[tuple[int, int, str, int], str] = {}
            for error in exc.errors():
                at = _element_at(tuple(error["loc"]))
                if at is None:  # the envelope's own shape is wrong: refuse it whole
                    raise _invalid(exc) from None
                where = ".".join(str(p) for p in error["loc"][7:]) or "element"
                bad.setdefault(at, f"{where}: {error['msg']}")
            if len(rejected) + len(bad) > MAX_REJECTED:
                raise _invalid(exc) from None
            assert isinstance(data, dict)  # an element error implies the dict envelope
            # Drop from the highest index down so earlier indexes stay valid.
            for (e, c, name, i), reason in sorted(bad.items(), reverse=True):
                elements = data["entry"][e]["changes"][c]["value"][name]
                rejected.append(
                    RejectedElement(
                        where=f"entry.{e}.changes.{c}.value.{name}.{i}",
                        reason=reason[:300],
                        element=elements[i],
                    )
                )
                del elements[i]


def _flatten(message: Message) -> dict[str, object]:
    fields: dict[str, object] = {"supported": not isinstance(message, UnsupportedMessage)}
    media = None
    if isinstance(message, TextMessage):
        fields["text"] = message.text.body
    elif isinstance(message, ImageMessage):
        media = message.image
    elif isinstance(message, DocumentMessage):
        media = message.document
    elif isinstance(message, AudioMessage):
        media = message.audio
    elif isinstance(message, VideoMessage):
        media = message.video
    elif isinstance(message, StickerMessage):
        media = message.sticker
    elif isinstance(message, LocationMessage):
        loc = message.location
        fields |= {
            "latitude": loc.latitude,
            "longitude": loc.longitude,
            "location_name": loc.name,
            "location_address": loc.address,
        }
    elif isinstance(message, InteractiveMessage):
        reply = message.interactive.button_reply or message.interactive.list_reply
        if reply is not None:
            fields |= {"text": reply.title, "reply_id": reply.id}
    elif isinstance(message, ButtonMessage):
        fields |= {"text": message.button.text, "reply_id": message.button.payload}
    elif isinstance(message, ReactionMessage):
        fields |= {
            "reaction_emoji": message.reaction.emoji,
            "reacted_message_id": message.reaction.message_id,
        }
    if media is not None:
        fields |= {
            "media_id": media.id,
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "caption": media.caption,
            "filename": media.filename,
            "voice": media.voice,
            "text": media.caption,
        }
    return fields


def iter_events(envelope: WebhookEnvelope) -> Iterator[Event]:
    """Every message and status of a delivery, messages of a change before its statuses."""
    for entry in envelope.entry:
        for change in entry.changes:
            if change.field != "messages":
                continue
            value = change.value
            meta = value.metadata
            names = {c.wa_id: c.profile.name for c in value.contacts}
            for message in value.messages:
                yield InboundMessage(
                    message_id=message.id,
                    from_number=message.from_,
                    contact_name=names.get(message.from_),
                    phone_number_id=meta.phone_number_id if meta else None,
                    display_phone_number=meta.display_phone_number if meta else None,
                    timestamp=message.timestamp,
                    type=message.type,
                    context_message_id=message.context.id if message.context else None,
                    errors=message.errors,
                    **_flatten(message),  # type: ignore[arg-type]
                )
            for status in value.statuses:
                conversation = status.conversation
                yield StatusUpdate(
                    message_id=status.id,
                    status=status.status,
                    timestamp=status.timestamp,
                    recipient_id=status.recipient_id,
                    phone_number_id=meta.phone_number_id if meta else None,
                    conversation_id=conversation.id if conversation else None,
                    conversation_expires_at=(
                        conversation.expiration_timestamp if conversation else None
                    ),
                    conversation_origin=(
                        conversation.origin.type if conversation and conversation.origin else None
                    ),
                    billable=status.pricing.billable if status.pricing else None,
                    pricing_category=status.pricing.category if status.pricing else None,
                    errors=status.errors,
                    callback_data=status.biz_opaque_callback_data,
                )
