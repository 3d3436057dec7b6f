"""The opt-in transcription service (``voice_engine=http``): an OpenAI-compatible
``/audio/transcriptions`` fake on loopback, the confidence floor on its segments, and the offline
engine taking over when the service fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from ssmas.assistant.media.speech import CannotTranscribe, HttpTranscription, speech_engine
from ssmas.settings import Settings, SettingsError, WhatsAppSettings, load_settings
from tests.fakes.webhook_sink import Captured, HttpSink, Reply
from tests.integration.assistant_channel_support import Channel, open_channel, sample_bytes
from tests.integration.assistant_fixtures import deliver

AUDIO = b"OggS fake opus bytes"


def verbose(text: str, language: str = "spanish", logprob: float = -0.1) -> dict[str, object]:
    segment = {
        "text": text,
        "tokens": [1, 2, 3, 4],
        "avg_logprob": logprob,
        "compression_ratio": 1.2,
    }
    return {"text": text, "language": language, "segments": [segment]}


class FakeTranscriptions(HttpSink):
    """Answers ``POST /v1/audio/transcriptions`` with the scripted JSON; 404 elsewhere."""

    def reply(self, request: Captured) -> Reply:
        if request.path != "/v1/audio/transcriptions":
            return Reply(404, {"error": "no such route"})
        return super().reply(request)


class RecordingFallback:
    languages = frozenset({"es", "en"})

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, str]] = []

    def transcribe(self, audio: bytes, language: str) -> str:
        self.calls.append((audio, language))
        return "offline transcript"


@pytest.fixture()
def service() -> Iterator[FakeTranscriptions]:
    with FakeTranscriptions() as sink:
        yield sink


def engine(service: HttpSink, **kwargs: object) -> HttpTranscription:
    return HttpTranscription(service.url + "/v1", api_key="sk-test", **kwargs)  # type: ignore[arg-type]


def test_the_request_is_openai_shaped_and_the_text_comes_back(
    service: FakeTranscriptions,
) -> None:
    service.script(Reply(200, verbose(" Necesito la factura  del mes pasado. ")))
    assert engine(service).transcribe(AUDIO, "es") == "Necesito la factura del mes pasado."
    [request] = service.requests
    assert request.method == "POST" and request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="model"\r\n\r\nwhisper-1' in request.body
    assert b'name="response_format"\r\n\r\nverbose_json' in request.body
    assert b'filename="voice-note.ogg"' in request.body and AUDIO in request.body


def test_unsure_or_foreign_answers_are_not_acted_on(service: FakeTranscriptions) -> None:
    service.script(
        Reply(200, verbose("no recibimos el palo", logprob=-0.9)),
        Reply(200, verbose("je voudrais ma facture", language="french")),
        Reply(200, {"text": "   "}),
    )
    reasons = []
    for _ in range(3):
        with pytest.raises(CannotTranscribe) as caught:
            engine(service, fallback=RecordingFallback()).transcribe(AUDIO, "es")
        reasons.append(caught.value.reason)
    assert reasons == ["low_confidence", "unsupported_language", "no_speech_recognised"]
    service.script(Reply(200, {"text": "hello there", "language": "en"}))  # no segments to judge
    assert engine(service).transcribe(AUDIO, "en") == "hello there"


@pytest.mark.parametrize(
    "failure",
    [Reply(500, {"error": "overloaded"}), Reply(401, {"error": "bad key"}), Reply(200, b"<html>")],
)
def test_a_failing_service_hands_over_to_the_offline_engine(
    service: FakeTranscriptions, failure: Reply
) -> None:
    service.script(failure)
    fallback = RecordingFallback()
    assert engine(service, fallback=fallback).transcribe(AUDIO, "en") == "offline transcript"
    assert fallback.calls == [(AUDIO, "en")]
    service.script(failure)
    with pytest.raises(CannotTranscribe) as caught:  # no fallback: said plainly
        engine(service).transcribe(AUDIO, "en")
    assert caught.value.reason == "no_engine"


def test_a_slow_service_times_out_into_the_fallback(service: FakeTranscriptions) -> None:
    service.script(Reply(200, verbose("tarde"), delay_s=1.0))
    fallback = RecordingFallback()
    slow = engine(service, fallback=fallback, timeout_s=0.2)
    assert slow.transcribe(AUDIO, "es") == "offline transcript"


def test_settings_build_the_service_with_the_offline_fallback(
    service: FakeTranscriptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = speech_engine(WhatsAppSettings(voice_engine="http", voice_api_url=service.url + "/v1"))
    assert isinstance(built, HttpTranscription)
    assert built.url == service.url + "/v1/audio/transcriptions"
    monkeypatch.setenv("SSMAS_WHATSAPP_VOICE_ENGINE", "http")
    with pytest.raises(SettingsError, match="voice_api_url"):
        load_settings()


@pytest.fixture()
def channel(settings: Settings, service: FakeTranscriptions) -> Iterator[Channel]:
    clock = datetime.fromtimestamp(1749416600, tz=UTC)
    with open_channel(
        settings,
        clock=lambda: clock,
        voice_engine="http",
        voice_api_url=service.url + "/v1",
    ) as opened:
        yield opened


def test_voice_note_is_answered_with_the_service_through_the_live_channel(
    client: TestClient, channel: Channel, service: FakeTranscriptions
) -> None:
    service.script(Reply(200, verbose("Hola, quiero saber dónde está mi pedido")))
    note = b"OggS voice note bytes"
    channel.fake.state.add_media("1148792340021553", note, "audio/ogg")
    deliver(client, sample_bytes("05_audio_voice_note.json"))
    channel.drain()
    [request] = service.requests
    assert note in request.body  # the downloaded note went to the service
    assert channel.brain.seen == ["Hola, quiero saber dónde está mi pedido"]
    [reply] = channel.fake.state.sent_to("5215512345678")
    assert reply["body"]["text"]["body"].startswith("[es] answer about order_status")
