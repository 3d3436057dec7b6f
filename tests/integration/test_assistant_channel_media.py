"""Media end to end: Graph media URL → download → object store → OCR / PDF / DOCX / speech →
text pipeline → reply, with the clear fallbacks (404 media, audio in a language we can't hear)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont

from ssmas.assistant.media import PocketSphinxEnglish, TesseractOcr, docx_text, pdf_text
from ssmas.assistant.media.speech import CannotTranscribe
from ssmas.assistant.runtime import channel_cipher
from ssmas.assistant.tables import ChatMessage
from ssmas.core.db import UnitOfWork
from ssmas.core.security import PiiCipher, PiiDecryptError
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import (
    Channel,
    open_channel,
    sample_bytes,
)
from tests.integration.assistant_fixtures import deliver

MEDIA_CLOCK = datetime.fromtimestamp(1749416600, tz=UTC)


def spanish_receipt_jpeg() -> bytes:
    font_path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    font = ImageFont.truetype(str(font_path), 36)
    image = Image.new("RGB", (900, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 30), "Factura número 4821", fill="black", font=font)
    draw.text((20, 100), "Total: 59,90 € — devolución", fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return out.getvalue()


def invoice_pdf() -> bytes:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"pdf.fonttype": 42}):
        figure = plt.figure(figsize=(5, 2))
        figure.text(0.05, 0.5, "Invoice 4821: refund of 59.90 EUR requested")
        out = io.BytesIO()
        figure.savefig(out, format="pdf")
        plt.close(figure)
    return out.getvalue()


def tone_ogg(seconds: float = 0.5) -> bytes:
    rate = 48_000
    t = np.linspace(0, seconds, int(rate * seconds), endpoint=False)
    out = io.BytesIO()
    sf.write(
        out,
        (0.2 * np.sin(2 * np.pi * 440 * t)).astype("float32"),
        rate,
        format="OGG",
        subtype="OPUS",
    )
    return out.getvalue()


def test_ocr_reads_a_generated_spanish_image() -> None:
    text = TesseractOcr().read(spanish_receipt_jpeg())
    assert "Factura" in text and "4821" in text and "devolución" in text


def test_pdf_and_docx_text() -> None:
    assert "refund of 59.90 EUR" in pdf_text(invoice_pdf())
    import docx

    document = docx.Document()
    document.add_paragraph("Pedido 4821 llegó roto")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Importe"
    table.rows[0].cells[1].text = "59,90"
    out = io.BytesIO()
    document.save(out)
    assert docx_text(out.getvalue()) == "Pedido 4821 llegó roto Importe 59,90"


def test_spanish_audio_is_refused_with_a_reason() -> None:
    with pytest.raises(CannotTranscribe) as caught:
        PocketSphinxEnglish().transcribe(tone_ogg(), "es")
    assert caught.value.reason == "unsupported_language"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian espeak-ng to speak")
def test_english_speech_is_transcribed(tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), "where is my order"], check=True
    )
    assert "order" in PocketSphinxEnglish().transcribe(wav.read_bytes(), "en")


@pytest.fixture()
def channel(settings: Settings) -> Iterator[Channel]:
    """Overrides the shared ``channel``: the media samples are dated June 2025, so the clock
    stands just after them (inside the 24-hour window: free-text replies, not templates)."""
    with open_channel(settings, clock=lambda: MEDIA_CLOCK) as opened:
        yield opened


def inbound_texts(channel: Channel) -> list[str]:
    cipher = channel_cipher(channel.platform)
    with UnitOfWork(channel.platform.session_factory) as uow:
        rows = uow.session.scalars(
            sa.select(ChatMessage).where(ChatMessage.direction == "in").order_by(ChatMessage.id)
        ).all()
        return [cipher.decrypt(r.body_enc) for r in rows]


def test_image_is_downloaded_stored_read_and_answered(
    client: TestClient, channel: Channel, settings: Settings
) -> None:
    channel.fake.state.add_media("1003383421387256", spanish_receipt_jpeg(), "image/jpeg")
    deliver(client, sample_bytes("03_image_with_caption.json"))
    channel.drain()
    [text] = inbound_texts(channel)
    assert text.startswith("Foto del ticket de compra\n") and "Factura" in text
    [stored] = list((settings.data_dir / "media").rglob("*.jpg.enc"))
    on_disk = stored.read_bytes()
    image = spanish_receipt_jpeg()
    assert on_disk != image and image[:64] not in on_disk  # encrypted at rest
    assert hashlib.sha256(image).hexdigest() not in str(stored)  # no matchable content hash
    assert channel.runtime.media.store.get(stored) == image
    with pytest.raises(PiiDecryptError):  # unreadable without the key
        PiiCipher.from_secret("another-installation-secret").decrypt_bytes(on_disk)
    [reply] = channel.fake.state.sent_to("5215512345678")
    assert reply["body"]["text"]["body"].startswith("[es]")


def test_pdf_document_text_joins_the_conversation(client: TestClient, channel: Channel) -> None:
    channel.fake.state.add_media("1283479212037382", invoice_pdf(), "application/pdf")
    deliver(client, sample_bytes("04_document_pdf.json"))
    channel.drain()
    assert inbound_texts(channel) == ["My invoice\nInvoice 4821: refund of 59.90 EUR requested"]
    window = channel.runtime.contexts.cached(1)
    assert window is not None and "refund of 59.90" in window.turns[0].text


def test_voice_note_without_words_gets_a_clear_spanish_reply(
    client: TestClient, channel: Channel
) -> None:
    channel.fake.state.add_media("1148792340021553", tone_ogg(), "audio/ogg")
    deliver(client, sample_bytes("05_audio_voice_note.json"))
    channel.drain()
    [reply] = channel.fake.state.sent_to("5215512345678")
    assert reply["body"]["text"]["body"].endswith("¿Podrías escribirme tu consulta?")
    assert channel.brain.seen == []  # a tone is not guessed into words


def test_media_id_that_404s_is_answered_not_lost(client: TestClient, channel: Channel) -> None:
    data = json.loads(sample_bytes("03_image_with_caption.json"))
    deliver(client, json.dumps(data).encode())  # media id never registered at the fake
    channel.drain()
    [reply] = channel.fake.state.sent_to("5215512345678")
    assert reply["body"]["text"]["body"].startswith("No he podido descargar el archivo")
    with UnitOfWork(channel.platform.session_factory) as uow:
        row = uow.session.scalars(sa.select(ChatMessage).where(ChatMessage.direction == "in")).one()
        assert row.meta["media"]["error"] == "media_not_found"
