"""Pydantic models of WhatsApp Cloud API webhook deliveries, as Meta documents and sends them.

Unknown fields are ignored (Meta adds fields without notice) and a message of a type we do not
know parses as ``UnsupportedMessage`` instead of failing the whole delivery. Timestamps arrive
as epoch-second strings and become UTC-aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag


def _epoch(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return value


EpochTime = Annotated[datetime, BeforeValidator(_epoch)]


class Model(BaseModel):
    """Base: tolerant of extra fields, immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class ErrorData(Model):
    details: str | None = None


class GraphErrorDetail(Model):
    """An error attached to a message or a status (e.g. 131047: 24-hour window closed)."""

    code: int
    title: str | None = None
    message: str | None = None
    error_data: ErrorData | None = None
    href: str | None = None


class Profile(Model):
    name: str | None = None


class Contact(Model):
    wa_id: str
    profile: Profile = Profile()


class Metadata(Model):
    display_phone_number: str
    phone_number_id: str


class MessageContext(Model):
    """What an inbound message replies to (a business message id), or forwarding flags."""

    from_: str | None = Field(default=None, alias="from")
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None


class TextBody(Model):
    body: str


class MediaObject(Model):
    id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class Location(Model):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class ButtonReply(Model):
    id: str
    title: str


class ListReply(Model):
    id: str
    title: str
    description: str | None = None


class Interactive(Model):
    type: str
    button_reply: ButtonReply | None = None
    list_reply: ListReply | None = None


class TemplateButton(Model):
    """A quick-reply button pressed on a template message (message type ``button``)."""

    payload: str | None = None
    text: str


class Reaction(Model):
    message_id: str
    emoji: str | None = None  # absent when the customer removes a reaction


class BaseMessage(Model):
    from_: str = Field(alias="from")
    id: str
    timestamp: EpochTime
    context: MessageContext | None = None
    errors: list[GraphErrorDetail] = []


class TextMessage(BaseMessage):
    type: Literal["text"]
    text: TextBody


class ImageMessage(BaseMessage):
    type: Literal["image"]
    image: MediaObject


class DocumentMessage(BaseMessage):
    type: Literal["document"]
    document: MediaObject


class AudioMessage(BaseMessage):
    type: Literal["audio"]
    audio: MediaObject


class VideoMessage(BaseMessage):
    type: Literal["video"]
    video: MediaObject


class StickerMessage(BaseMessage):
    type: Literal["sticker"]
    sticker: MediaObject


class LocationMessage(BaseMessage):
    type: Literal["location"]
    location: Location


class InteractiveMessage(BaseMessage):
    type: Literal["interactive"]
    interactive: Interactive


class ButtonMessage(BaseMessage):
    type: Literal["button"]
    button: TemplateButton


class ReactionMessage(BaseMessage):
    type: Literal["reaction"]
    reaction: Reaction


class UnsupportedMessage(BaseMessage):
    """Meta's ``unsupported`` type, and any type this code does not know yet."""

    type: str


KNOWN_TYPES = frozenset(
    {
        "text",
        "image",
        "document",
        "audio",
        "video",
        "sticker",
        "location",
        "interactive",
        "button",
        "reaction",
    }
)


def _message_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if kind in KNOWN_TYPES:
        # A known type without its body (e.g. "image" with no "image") is unreadable as such.
        has_body = value.get(kind) is not None if isinstance(value, dict) else True
        return str(kind) if has_body else "unsupported"
    return "unsupported"


Message = Annotated[
    Annotated[TextMessage, Tag("text")]
    | Annotated[ImageMessage, Tag("image")]
    | Annotated[DocumentMessage, Tag("document")]
    | Annotated[AudioMessage, Tag("audio")]
    | Annotated[VideoMessage, Tag("video")]
    | Annotated[StickerMessage, Tag("sticker")]
    | Annotated[LocationMessage, Tag("location")]
    | Annotated[InteractiveMessage, Tag("interactive")]
    | Annotated[ButtonMessage, Tag("button")]
    | Annotated[ReactionMessage, Tag("reaction")]
    | Annotated[UnsupportedMessage, Tag("unsupported")],
    Discriminator(_message_tag),
]


class ConversationOrigin(Model):
    type: str


class Conversation(Model):
    id: str
    expiration_timestamp: EpochTime | None = None
    origin: ConversationOrigin | None = None


class Pricing(Model):
    billable: bool | None = None
    pricing_model: str | None = None
    category: str | None = None


class Status(Model):
    """Delivery state of a message the business sent: sent, delivered, read or failed."""

    id: str
    status: str
    timestamp: EpochTime
    recipient_id: str
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: list[GraphErrorDetail] = []
    # Echo of the ``biz_opaque_callback_data`` the send carried (our per-reply token).
    biz_opaque_callback_data: str | None = None


class ChangeValue(Model):
    messaging_product: str = "whatsapp"
    metadata: Metadata | None = None
    contacts: list[Contact] = []
    messages: list[Message] = []
    statuses: list[Status] = []
    errors: list[GraphErrorDetail] = []


class Change(Model):
    field: str
    value: ChangeValue


class Entry(Model):
    id: str
    changes: list[Change] = []


class WebhookEnvelope(Model):
    """One POST body: ``{"object": "whatsapp_business_account", "entry": [...]}``."""

    object: Literal["whatsapp_business_account"]
    entry: list[Entry]
