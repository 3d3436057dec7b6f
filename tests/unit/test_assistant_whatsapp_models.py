"""WhatsApp payload models: every shared sample parses, bad bodies fail clearly, events are flat."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from ssmas.assistant.whatsapp.models import (
    GraphErrorResponse,
    InboundMessage,
    MarkRead,
    MediaUrl,
    PayloadError,
    SendInteractive,
    SendResponse,
    SendText,
    StatusUpdate,
    iter_events,
    parse_delivery,
    parse_webhook,
)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "whatsapp"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"shared WhatsApp samples not found at {SAMPLES}"
)


def webhook_samples() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.glob("*.json") if p.name[:2].isdigit() and p.name < "20")


def events_of(name: str) -> list[InboundMessage | StatusUpdate]:
    return list(iter_events(parse_webhook((SAMPLES / name).read_bytes())))


def envelope(message: dict[str, object]) -> bytes:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550001111",
                                "phone_number_id": "99",
                            },
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body).encode()


@needs_samples
def test_every_webhook_sample_parses_into_events() -> None:
    samples = [p for p in webhook_samples() if not p.name.startswith("00_")]
    assert len(samples) >= 12
    for path in samples:
        events = list(iter_events(parse_webhook(path.read_bytes())))
        assert events, path.name
        for event in events:
            assert event.timestamp.tzinfo is not None, path.name


@needs_samples
def test_text_message_fields() -> None:
    (msg,) = events_of("01_text_es_complaint.json")
    assert isinstance(msg, InboundMessage)
    assert msg.type == "text" and msg.from_number == "5215512345678"
    assert msg.contact_name == "María López"
    assert msg.phone_number_id == "106540352242922"
    assert msg.text is not None and msg.text.startswith("Hola, mi pedido #4821")
    assert msg.timestamp == datetime.fromtimestamp(1749416383, tz=UTC)
    assert not msg.is_media


@needs_samples
def test_batch_keeps_order_and_reply_context() -> None:
    first, second = events_of("02_text_en_batch_two_messages.json")
    assert isinstance(first, InboundMessage) and isinstance(second, InboundMessage)
    assert (first.text, second.text) == ("Hi, where is my order?", "I want to talk to a manager")
    assert first.context_message_id is None
    assert second.context_message_id == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


@needs_samples
@pytest.mark.parametrize(
    ("name", "kind", "media_id", "text"),
    [
        ("03_image_with_caption.json", "image", "1003383421387256", "Foto del ticket de compra"),
        ("04_document_pdf.json", "document", "1283479212037382", "My invoice"),
        ("05_audio_voice_note.json", "audio", "1148792340021553", None),
    ],
)
def test_media_messages(name: str, kind: str, media_id: str, text: str | None) -> None:
    (msg,) = events_of(name)
    assert isinstance(msg, InboundMessage)
    assert (msg.type, msg.media_id, msg.text) == (kind, media_id, text)
    assert msg.is_media and msg.mime_type
    if kind == "document":
        assert msg.filename == "invoice_4821.pdf"
    if kind == "audio":
        assert msg.voice is True


@needs_samples
def test_location_interactive_reaction_unsupported() -> None:
    (loc,) = events_of("06_location.json")
    (button,) = events_of("07_interactive_button_reply.json")
    (chosen,) = events_of("08_interactive_list_reply.json")
    (reaction,) = events_of("09_reaction.json")
    (odd,) = events_of("10_unsupported_message.json")
    assert isinstance(loc, InboundMessage) and loc.latitude == pytest.approx(19.432608)
    assert loc.location_name == "Tienda Centro"
    assert isinstance(button, InboundMessage)
    assert (button.reply_id, button.text) == ("talk_to_agent", "Hablar con agente")
    assert isinstance(chosen, InboundMessage)
    assert (chosen.reply_id, chosen.text) == ("refund_status", "Refund status")
    assert isinstance(reaction, InboundMessage) and reaction.reaction_emoji == "👍"
    assert reaction.reacted_message_id is not None
    assert isinstance(odd, InboundMessage) and not odd.is_supported
    assert [e.code for e in odd.errors] == [131051]


@needs_samples
def test_statuses_and_failure() -> None:
    sent, delivered, read = events_of("11_statuses_sent_delivered_read.json")
    assert all(isinstance(s, StatusUpdate) for s in (sent, delivered, read))
    assert isinstance(sent, StatusUpdate) and isinstance(read, StatusUpdate)
    assert [s.status for s in (sent, delivered, read)] == ["sent", "delivered", "read"]  # type: ignore[union-attr]
    assert sent.rank < read.rank and sent.conversation_id == "7270432eae37498234f4444b35ffc5"
    assert sent.conversation_expires_at == datetime.fromtimestamp(1749502800, tz=UTC)
    (failed,) = events_of("12_status_failed_131047.json")
    assert isinstance(failed, StatusUpdate)
    assert failed.status == "failed" and failed.window_closed and failed.error_codes == [131047]


def test_unknown_message_type_parses_as_unsupported() -> None:
    body = envelope(
        {
            "from": "1",
            "id": "wamid.x",
            "timestamp": "1749416383",
            "type": "hologram",
            "hologram": {"depth": 3},
        }
    )
    (msg,) = list(iter_events(parse_webhook(body)))
    assert isinstance(msg, InboundMessage) and msg.type == "hologram" and not msg.is_supported


def test_known_type_without_its_body_is_unsupported_not_an_error() -> None:
    body = envelope({"from": "1", "id": "wamid.y", "timestamp": "1749416383", "type": "image"})
    (msg,) = list(iter_events(parse_webhook(body)))
    assert isinstance(msg, InboundMessage) and msg.media_id is None and not msg.is_media


def test_other_change_fields_are_ignored() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [{"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}],
            }
        ],
    }
    assert list(iter_events(parse_webhook(json.dumps(body).encode()))) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe{not utf8", "not_utf8"),
        (b'{"object": "whatsapp_business_account", "entry": [', "malformed_json"),
        (b"[]", "invalid_payload"),
        (b'{"object": "page", "entry": []}', "invalid_payload"),
        (b'{"object": "whatsapp_business_account", "entry": [{"changes": []}]}', "invalid_payload"),
    ],
)
def test_bad_bodies_raise_payload_error(body: bytes, code: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_webhook(body)
    assert caught.value.code == code and caught.value.message


def test_message_without_id_is_invalid() -> None:
    with pytest.raises(PayloadError, match="id"):
        parse_webhook(
            envelope({"from": "1", "timestamp": "1", "type": "text", "text": {"body": "hi"}})
        )


def test_parse_delivery_keeps_good_elements_and_names_the_bad_ones() -> None:
    good = {"from": "1", "id": "w1", "timestamp": "1", "type": "text", "text": {"body": "hi"}}
    no_id = {"from": "2", "timestamp": "1", "type": "text", "text": {"body": "yo"}}
    no_body = {"from": "3", "id": "w3", "timestamp": "yesterday", "type": "text"}
    data = json.loads(envelope(good))
    value = data["entry"][0]["changes"][0]["value"]
    value["messages"] = [no_id, good, no_body, {**good, "id": "w4"}]
    value["statuses"] = [{"id": "s1", "status": "read"}]  # no timestamp, no recipient
    envelope_ok, rejected = parse_delivery(json.dumps(data).encode())
    kept = [e.message_id for e in iter_events(envelope_ok)]
    assert kept == ["w1", "w4"]
    where = sorted(r.where for r in rejected)
    assert where == [
        "entry.0.changes.0.value.messages.0",
        "entry.0.changes.0.value.messages.2",
        "entry.0.changes.0.value.statuses.0",
    ]
    by_place = {r.where: r for r in rejected}
    assert by_place["entry.0.changes.0.value.messages.0"].element == no_id
    assert "id" in by_place["entry.0.changes.0.value.messages.0"].reason
    assert by_place["entry.0.changes.0.value.messages.2"].element == no_body


def test_parse_delivery_refuses_a_broken_envelope_whole() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_delivery(b'{"object": "whatsapp_business_account", "entry": [{"changes": []}]}')
    assert caught.value.code == "invalid_payload"
    many = json.loads(envelope({"from": "1", "timestamp": "1", "type": "text"}))
    many["entry"][0]["changes"][0]["value"]["messages"] *= 500
    with pytest.raises(PayloadError):  # a flood of bad elements is not a delivery
        parse_delivery(json.dumps(many).encode())


@needs_samples
def test_send_request_samples_validate_and_round_trip() -> None:
    send = json.loads((SAMPLES / "20_send_text_request_response.json").read_text())
    text = SendText.model_validate(send["request"]["body"])
    assert text.model_dump(exclude_none=True) == send["request"]["body"]
    assert SendResponse.model_validate(send["response_200"]).messages[0].id.startswith("wamid.")
    error = GraphErrorResponse.model_validate(send["response_error_example"])
    assert error.error.code == 131056
    buttons = json.loads((SAMPLES / "21_send_interactive_buttons_request.json").read_text())
    assert SendInteractive.model_validate(buttons).model_dump(exclude_none=True) == buttons
    read = json.loads((SAMPLES / "22_mark_read_request.json").read_text())
    assert MarkRead.model_validate(read).model_dump() == read
    media = json.loads((SAMPLES / "23_media_url_response.json").read_text())["response_200"]
    assert MediaUrl.model_validate(media).file_size == 303833


def test_send_models_enforce_meta_limits() -> None:
    reply = {"type": "reply", "reply": {"id": "a", "title": "ok"}}
    body = {
        "to": "1",
        "interactive": {
            "type": "button",
            "body": {"text": "?"},
            "action": {"buttons": [reply] * 4},
        },
    }
    with pytest.raises(ValidationError):
        SendInteractive.model_validate(body)
    with pytest.raises(ValidationError):
        SendText.model_validate({"to": "1", "text": {"body": "x" * 4097}})
    ok = SendText(to="34600000000", text={"body": "hola"})  # type: ignore[arg-type]
    assert ok.model_dump(exclude_none=True)["type"] == "text"


def test_status_echo_of_callback_data_is_kept_and_send_models_accept_it() -> None:
    def delivery(*statuses: dict[str, str]) -> bytes:
        value = {"messaging_product": "whatsapp", "statuses": list(statuses)}
        change = {"field": "messages", "value": value}
        body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
        return json.dumps(body).encode()

    status = {
        "id": "wamid.out1",
        "status": "delivered",
        "timestamp": "1749416400",
        "recipient_id": "34600000000",
    }
    echoed = {**status, "biz_opaque_callback_data": "ssmas-out.7.1749416383"}
    events = list(iter_events(parse_webhook(delivery(echoed, {**status, "id": "w2"}))))
    assert [(e.message_id, e.callback_data) for e in events if isinstance(e, StatusUpdate)] == [
        ("wamid.out1", "ssmas-out.7.1749416383"),
        ("w2", None),
    ]
    text = {"to": "1", "text": {"body": "hola"}, "biz_opaque_callback_data": "ssmas-out.7.1"}
    assert SendText.model_validate(text).biz_opaque_callback_data == "ssmas-out.7.1"
    with pytest.raises(ValidationError):  # Meta's limit is 512 characters
        SendText.model_validate({**text, "biz_opaque_callback_data": "x" * 513})
