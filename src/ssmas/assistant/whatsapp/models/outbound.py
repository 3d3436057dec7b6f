"""Request and response bodies of the Graph API calls the send client makes.

Shapes follow Meta's documentation (and ``shared/data/whatsapp/20-23``): text, interactive
buttons and lists, images and documents by link, templates, mark-as-read, the send response,
the error body and the media URL lookup. Limits that Meta enforces (4,096-character text,
3 buttons, 20-character titles) are checked here so a bad request fails before it leaves the
process.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Meta echoes this string in every status webhook of the message; it allows 512 characters
# (raised from 256: WhatsApp Business Platform changelog, developers.facebook.com).
CALLBACK_DATA_MAX = 512
CallbackData = Annotated[str, Field(min_length=1, max_length=CALLBACK_DATA_MAX)]


class ReplyTo(Body):
    message_id: str


class TextContent(Body):
    body: str = Field(min_length=1, max_length=4096)
    preview_url: bool = False


class SendText(Body):
    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str
    context: ReplyTo | None = None
    type: Literal["text"] = "text"
    text: TextContent
    biz_opaque_callback_data: CallbackData | None = None


class InteractiveText(Body):
    text: str = Field(min_length=1, max_length=1024)


class ReplyButtonId(Body):
    id: str = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=20)


class ReplyButton(Body):
    type: Literal["reply"] = "reply"
    reply: ReplyButtonId


class ButtonsAction(Body):
    buttons: list[ReplyButton] = Field(min_length=1, max_length=3)


class ListRow(Body):
    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=24)
    description: str | None = Field(default=None, max_length=72)


class ListSection(Body):
    title: str | None = Field(default=None, max_length=24)
    rows: list[ListRow] = Field(min_length=1, max_length=10)


class ListAction(Body):
    button: str = Field(min_length=1, max_length=20)
    sections: list[ListSection] = Field(min_length=1, max_length=10)


class InteractiveButtons(Body):
    type: Literal["button"] = "button"
    header: dict[str, Any] | None = None
    body: InteractiveText
    footer: InteractiveText | None = None
    action: ButtonsAction


class InteractiveList(Body):
    type: Literal["list"] = "list"
    header: dict[str, Any] | None = None
    body: InteractiveText
    footer: InteractiveText | None = None
    action: ListAction


class SendInteractive(Body):
    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str
    context: ReplyTo | None = None
    type: Literal["interactive"] = "interactive"
    interactive: InteractiveButtons | InteractiveList
    biz_opaque_callback_data: CallbackData | None = None


class MediaLink(Body):
    """An image or document Meta fetches from ``link`` (https in production)."""

    link: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")
    caption: str | None = Field(default=None, max_length=1024)
    filename: str | None = Field(default=None, max_length=240)


class SendImage(Body):
    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str
    context: ReplyTo | None = None
    type: Literal["image"] = "image"
    image: MediaLink
    biz_opaque_callback_data: CallbackData | None = None


class SendDocument(Body):
    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str
    context: ReplyTo | None = None
    type: Literal["document"] = "document"
    document: MediaLink
    biz_opaque_callback_data: CallbackData | None = None


class TemplateLanguage(Body):
    code: str


class Template(Body):
    name: str
    language: TemplateLanguage
    components: list[dict[str, Any]] = []


class SendTemplate(Body):
    """The only message Meta accepts outside the 24-hour customer-service window."""

    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual"] = "individual"
    to: str
    type: Literal["template"] = "template"
    template: Template
    biz_opaque_callback_data: CallbackData | None = None


SEND_MODELS: dict[str, type[Body]] = {}


class MarkRead(Body):
    messaging_product: Literal["whatsapp"] = "whatsapp"
    status: Literal["read"] = "read"
    message_id: str


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SentContact(Response):
    input: str
    wa_id: str


class SentMessage(Response):
    id: str
    message_status: str | None = None


class SendResponse(Response):
    messaging_product: str = "whatsapp"
    contacts: list[SentContact] = []
    messages: list[SentMessage]


class GraphErrorBody(Response):
    message: str
    type: str | None = None
    code: int
    error_subcode: int | None = None
    error_data: dict[str, Any] | None = None
    fbtrace_id: str | None = None


class GraphErrorResponse(Response):
    error: GraphErrorBody


class MediaUrl(Response):
    """``GET /{media-id}``: a short-lived download URL (minutes) and what it points at."""

    messaging_product: str = "whatsapp"
    url: str
    mime_type: str
    sha256: str | None = None
    file_size: int | None = None
    id: str

    @field_validator("file_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value


SEND_MODELS.update(
    {
        "text": SendText,
        "interactive": SendInteractive,
        "image": SendImage,
        "document": SendDocument,
        "template": SendTemplate,
    }
)
