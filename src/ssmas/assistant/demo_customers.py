"""Simulated WhatsApp customers for ``ssmas demo``: Spanish and English conversations, a photo of
a receipt, a PDF invoice and one escalation, played through the real webhook (signed like Meta)
against the local Graph API fake, waiting for each reply before the next message.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ssmas.assistant.whatsapp.config import DEV_APP_SECRET
from ssmas.core.security import sign_sha256

BUSINESS_ID = "106540352242922"


@dataclass(frozen=True)
class Step:
    """One customer message: text, or an attachment (``media`` names a generated file)."""

    phone: str
    name: str
    text: str = ""
    media: str | None = None  # "receipt" (JPEG) or "invoice" (PDF)


SCRIPT: tuple[Step, ...] = (
    Step("5215512345678", "María López", "Hola"),
    Step("5215512345678", "María López", "¿Cómo puedo descargar mi factura?"),
    Step("5215512345678", "María López", "Foto del ticket de compra", media="receipt"),
    Step("16505551234", "Sheena Nelson", "Hi, how do I reset my password?"),
    Step("16505551234", "Sheena Nelson", "My invoice", media="invoice"),
    Step("16505551234", "Sheena Nelson", "Thanks!"),
    Step(
        "34600111222",
        "Carlos Ruiz",
        "Mi pedido llegó roto otra vez. Quiero cancelar y que me devuelvan el dinero. "
        "¡Es la tercera vez!",
    ),
)


@dataclass
class DemoReport:
    """What the demo sent and what came back from the bot."""

    sent: int = 0
    replies: int = 0
    missing: list[str] = field(default_factory=list)
    transcript: list[tuple[str, str, str]] = field(default_factory=list)  # (name, in, out)


def receipt_jpeg() -> bytes:
    """A Spanish receipt drawn with PIL (the OCR has something real to read)."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font_file = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    font = ImageFont.truetype(str(font_file), 34)
    image = Image.new("RGB", (900, 240), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(("Ticket de compra 4821", "Total: 59,90 EUR", "Gracias")):
        draw.text((24, 24 + row * 70), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def invoice_pdf() -> bytes:
    """A one-line PDF invoice with a real text layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"pdf.fonttype": 42}):
        figure = plt.figure(figsize=(5, 2))
        figure.text(0.05, 0.5, "Invoice 4821: 59.90 EUR, paid by card")
        out = io.BytesIO()
        figure.savefig(out, format="pdf")
        plt.close(figure)
    return out.getvalue()


MEDIA = {
    "receipt": ("image", "image/jpeg", receipt_jpeg),
    "invoice": ("document", "application/pdf", invoice_pdf),
}


def delivery(step: Step, message_id: str, media_id: str | None = None) -> bytes:
    """The webhook body Meta would send for ``step``."""
    message: dict[str, Any] = {
        "from": step.phone,
        "id": message_id,
        "timestamp": str(int(time.time())),
    }
    if step.media is None:
        message |= {"type": "text", "text": {"body": step.text}}
    else:
        kind, mime, _ = MEDIA[step.media]
        body: dict[str, Any] = {"id": media_id, "mime_type": mime, "caption": step.text}
        if kind == "document":
            body["filename"] = "invoice_4821.pdf"
        message |= {"type": kind, kind: body}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": BUSINESS_ID},
        "contacts": [{"profile": {"name": step.name}, "wa_id": step.phone}],
        "messages": [message],
    }
    change = {"value": value, "field": "messages"}
    envelope = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    return json.dumps(envelope, ensure_ascii=False).encode("utf-8")


def _replies_to(http: httpx.Client, fake_url: str, phone: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = http.get(f"{fake_url}/_fake/sent").json()
    return [s for s in sent if s.get("to") == phone]


def _reply_text(record: dict[str, Any]) -> str:
    body = record.get("body", {})
    if body.get("type") == "text":
        return str(body["text"]["body"])
    return f"<{body.get('type')}>"


def post_step(
    client: httpx.Client,
    api_url: str,
    fake_url: str,
    step: Step,
    *,
    app_secret: str = DEV_APP_SECRET,
) -> str:
    """Send one customer message through the signed webhook (its attachment uploaded to the
    Graph fake first); returns the WhatsApp message id."""
    media_id = None
    if step.media is not None:
        _, mime, make = MEDIA[step.media]
        media_id = str(uuid.uuid4().int)[:16]
        data = base64.b64encode(make()).decode()
        upload = {"id": media_id, "mime_type": mime, "data_b64": data}
        client.post(f"{fake_url}/_fake/media", json=upload).raise_for_status()
    message_id = f"wamid.demo.{uuid.uuid4().hex}"
    body = delivery(step, message_id, media_id)
    signature = sign_sha256(app_secret.encode(), body)
    client.post(
        f"{api_url}/whatsapp/webhook",
        content=body,
        headers={"x-hub-signature-256": signature, "content-type": "application/json"},
    ).raise_for_status()
    return message_id


def run_demo_customers(
    api_url: str,
    fake_url: str,
    *,
    app_secret: str = DEV_APP_SECRET,
    script: tuple[Step, ...] = SCRIPT,
    reply_timeout_s: float = 60.0,
    http: httpx.Client | None = None,
) -> DemoReport:
    """Play ``script`` through ``api_url``'s webhook; ``fake_url`` is the Graph API fake."""
    client = http or httpx.Client(timeout=10.0)
    report = DemoReport()
    try:
        for step in script:
            before = len(_replies_to(client, fake_url, step.phone))
            post_step(client, api_url, fake_url, step, app_secret=app_secret)
            report.sent += 1
            deadline = time.monotonic() + reply_timeout_s
            replies = _replies_to(client, fake_url, step.phone)
            while len(replies) <= before and time.monotonic() < deadline:
                time.sleep(0.1)
                replies = _replies_to(client, fake_url, step.phone)
            if len(replies) > before:
                report.replies += 1
                report.transcript.append((step.name, step.text, _reply_text(replies[-1])))
            else:
                report.missing.append(f"{step.name}: {step.text[:40]}")
    finally:
        if http is None:
            client.close()
    return report
