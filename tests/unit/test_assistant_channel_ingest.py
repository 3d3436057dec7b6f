"""Routing of every sample delivery: which queue each message and status goes to."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ssmas.assistant.events import TextMessageEvent, seal, seal_bytes, unseal, unseal_bytes
from ssmas.assistant.ingest import DeliveryUnreadable, split_delivery
from ssmas.core.security import PiiCipher

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "whatsapp"


def load(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "texts", "media", "statuses"),
    [
        ("01_text_es_complaint.json", 1, 0, 0),
        ("02_text_en_batch_two_messages.json", 2, 0, 0),
        ("03_image_with_caption.json", 0, 1, 0),
        ("04_document_pdf.json", 0, 1, 0),
        ("05_audio_voice_note.json", 0, 1, 0),
        ("06_location.json", 1, 0, 0),
        ("07_interactive_button_reply.json", 1, 0, 0),
        ("08_interactive_list_reply.json", 1, 0, 0),
        ("09_reaction.json", 1, 0, 0),
        ("10_unsupported_message.json", 1, 0, 0),
        ("11_statuses_sent_delivered_read.json", 0, 0, 3),
        ("12_status_failed_131047.json", 0, 0, 1),
    ],
)
def test_sample_routes(name: str, texts: int, media: int, statuses: int) -> None:
    split = split_delivery(load(name))
    assert (len(split.texts), len(split.media), len(split.statuses)) == (texts, media, statuses)
    assert split.unknown == []


def test_fields_of_routed_events() -> None:
    [text] = split_delivery(load("01_text_es_complaint.json")).texts
    assert (text.phone, text.name, text.business_id) == (
        "5215512345678",
        "María López",
        "106540352242922",
    )
    assert text.text.startswith(
        "Hola, mi pedido #4821"
    ) and text.timestamp == datetime.fromtimestamp(1749416383, tz=UTC)
    [button] = split_delivery(load("07_interactive_button_reply.json")).texts
    assert (button.kind, button.text, button.reply_id) == (
        "interactive",
        "Hablar con agente",
        "talk_to_agent",
    )
    [location] = split_delivery(load("06_location.json")).texts
    assert location.text == "Tienda Centro — Av. Juárez 10, Ciudad de México"
    [image] = split_delivery(load("03_image_with_caption.json")).media
    assert (image.media_id, image.caption, image.mime_type) == (
        "1003383421387256",
        "Foto del ticket de compra",
        "image/jpeg",
    )
    [failed] = split_delivery(load("12_status_failed_131047.json")).statuses
    assert (failed.status, failed.error_code) == ("failed", 131047)


def test_unknown_types_are_set_aside_and_garbage_refused() -> None:
    data = json.loads(load("01_text_es_complaint.json"))
    message = data["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "hologram"
    split = split_delivery(json.dumps(data).encode())
    assert split.unknown == [(message["id"], "hologram")]
    assert [t.kind for t in split.texts] == ["unsupported"]  # the customer still hears back
    for garbage in (b"\xff", b"{", b'{"object": "page", "entry": []}', b"[1]"):
        with pytest.raises(DeliveryUnreadable):
            split_delivery(garbage)


def test_sealing_round_trips_and_hides_personal_data() -> None:
    cipher = PiiCipher.from_secret("unit")
    [event] = split_delivery(load("01_text_es_complaint.json")).texts
    payload = seal(cipher, event)
    assert "5215512345678" not in json.dumps(payload)
    assert TextMessageEvent.model_validate(unseal(cipher, payload)) == event
    raw = b"\xff\x00 not utf-8 \xe9"
    assert unseal_bytes(cipher, seal_bytes(cipher, raw)) == raw


def test_status_callback_data_reaches_the_status_event() -> None:
    data = json.loads(load("11_statuses_sent_delivered_read.json"))
    statuses = data["entry"][0]["changes"][0]["value"]["statuses"]
    statuses[0]["biz_opaque_callback_data"] = "ssmas-out.42.1749416383"
    split = split_delivery(json.dumps(data).encode())
    assert [s.callback_data for s in split.statuses] == ["ssmas-out.42.1749416383", None, None]
