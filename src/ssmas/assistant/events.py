"""Events on the assistant's queues, and the sealing that keeps personal data off the bus in clear.

``assistant.inbound`` holds raw webhook deliveries; the router splits them into
``assistant.text`` (``TextMessageEvent``), ``assistant.media`` (``MediaMessageEvent``) and
``assistant.status`` (``StatusEvent``); ``assistant.outbound`` asks for one stored message to be
sent; ``assistant.template_send`` takes other products' template requests
(``TemplateSendRequest``); ``assistant.knowledge`` says the knowledge base was reloaded (no
consumer group: running workers tail it, ``brain_reload``). Payloads that carry phone numbers
or bodies travel sealed (Fernet, ``PiiCipher``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from ssmas.core.security import PiiCipher

TOPIC_INBOUND = "assistant.inbound"
TOPIC_TEXT = "assistant.text"
TOPIC_MEDIA = "assistant.media"
TOPIC_STATUS = "assistant.status"
TOPIC_OUTBOUND = "assistant.outbound"
TOPIC_ESCALATION = "assistant.escalation"
# Other products (campaigns) ask for approved templates to be sent here.
TOPIC_TEMPLATE_SEND = "assistant.template_send"
# ``ssmas assistant kb load | remove`` announce a rebuilt knowledge base here.
TOPIC_KNOWLEDGE = "assistant.knowledge"


class MediaInfo(BaseModel):
    """What the media worker learnt about an attachment (no personal data beside the text)."""

    media_id: str
    mime_type: str = ""
    filename: str | None = None
    stored_path: str | None = None
    extracted_chars: int = 0
    error: str | None = None
    transcribed: bool | None = None


class TextMessageEvent(BaseModel):
    """A customer message ready for the text pipeline (media arrive here after extraction)."""

    event_type: Literal["text_message_received"] = "text_message_received"
    message_id: str
    business_id: str
    phone: str
    name: str | None = None
    kind: str = "text"
    text: str = ""
    timestamp: AwareDatetime
    context_id: str | None = None
    reply_id: str | None = None
    media: MediaInfo | None = None


class MediaMessageEvent(BaseModel):
    """An attachment to download and read before the text pipeline sees it."""

    event_type: Literal["media_message_received"] = "media_message_received"
    message_id: str
    business_id: str
    phone: str
    name: str | None = None
    kind: str
    media_id: str
    mime_type: str = ""
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    timestamp: AwareDatetime


class StatusEvent(BaseModel):
    """A delivery status of a message we sent."""

    event_type: Literal["status_received"] = "status_received"
    message_id: str
    status: str
    timestamp: AwareDatetime
    recipient: str | None = None
    error_code: int | None = None
    error_title: str | None = None
    # The send's ``biz_opaque_callback_data`` echoed by Meta: the outbox row's send token.
    callback_data: str | None = None


class OutboundRequest(BaseModel):
    """Send the stored outbound message ``message_id`` (an agent reply, a template fallback)."""

    event_type: Literal["outbound_requested"] = "outbound_requested"
    message_id: int
    requested_at: AwareDatetime


class TemplateSendRequest(BaseModel):
    """Send the approved template ``template`` to ``to`` (digits, WhatsApp's form), its body
    parameters in order; ``callback_data`` comes back on the message's status webhooks (and on
    ``assistant.status``), so the requester can follow its delivery. Published sealed."""

    event_type: Literal["template_send_requested"] = "template_send_requested"
    to: str = Field(min_length=8, max_length=20, pattern=r"^[0-9]+$")
    template: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=16)
    parameters: list[str] = Field(default_factory=list, max_length=20)
    callback_data: str = Field(min_length=1, max_length=512)


class EscalationEvent(BaseModel):
    """A conversation went to the human queue (the seed's ``escalation_triggered``)."""

    event_type: Literal["escalation_triggered"] = "escalation_triggered"
    conversation_id: int
    handoff_id: int
    priority: str
    department: str
    score: int
    reasons: list[str] = Field(default_factory=list)
    sla_due_at: AwareDatetime
    timestamp: AwareDatetime


def seal(cipher: PiiCipher, model: BaseModel) -> dict[str, Any]:
    """A bus payload holding ``model`` encrypted, with its event type readable for routing."""
    data = model.model_dump(mode="json")
    return {"event_type": data.get("event_type", ""), "sealed": cipher.encrypt(json.dumps(data))}


def unseal(cipher: PiiCipher, payload: dict[str, Any]) -> dict[str, Any]:
    """The plain dict of a sealed payload (a payload that is not sealed is returned as is)."""
    token = payload.get("sealed")
    if not isinstance(token, str):
        return payload
    data = json.loads(cipher.decrypt(token))
    if not isinstance(data, dict):
        raise ValueError("sealed payload is not a JSON object")
    return data


def seal_bytes(cipher: PiiCipher, body: bytes) -> dict[str, Any]:
    """A bus payload holding a raw webhook body, encrypted (bytes kept exactly via latin-1)."""
    return {"event_type": "webhook_delivery", "sealed_raw": cipher.encrypt(body.decode("latin-1"))}


def unseal_bytes(cipher: PiiCipher, payload: dict[str, Any]) -> bytes:
    """The raw body of a ``seal_bytes`` payload."""
    token = payload.get("sealed_raw")
    if not isinstance(token, str):
        raise ValueError("payload holds no sealed webhook body")
    return cipher.decrypt(token).encode("latin-1")
