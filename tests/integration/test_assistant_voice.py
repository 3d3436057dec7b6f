"""Voice notes end to end with the real offline engine (Whisper base from its PyPI wheels):
espeak-ng speech encoded as WhatsApp's Ogg Opus, delivered through the signed webhook, fetched
from the Graph fake, transcribed, understood and answered in the customer's language; a note
that cannot be understood gets "please write" in the language of the customer's country code."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.assistant.brain import Understanding
from ssmas.assistant.context import ContextWindow
from ssmas.assistant.knowledge import KnowledgeBase
from ssmas.assistant.media.speech import CannotTranscribe, WhisperSpeech
from ssmas.assistant.media.voice_samples import espeak_available, speak_ogg, word_error_rate
from ssmas.assistant.runtime import channel_cipher
from ssmas.assistant.tables import ChatMessage
from ssmas.core.db import UnitOfWork
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import (
    Channel,
    ScriptedBrain,
    open_channel,
    sample_bytes,
)
from tests.integration.assistant_fixtures import deliver

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not espeak_available(), reason="needs Debian espeak-ng to speak"),
]

VOICE_CLOCK = datetime.fromtimestamp(1749416600, tz=UTC)  # just after the sample's timestamp
SPANISH_PHONE = "5215512345678"  # the sample's Mexican customer
ENGLISH_PHONE = "14155550123"
MEDIA_ID = "1148792340021553"
SAID_ES = "Necesito la factura del mes pasado"
SAID_EN = "I need the invoice for last month"


class FaqBrain(ScriptedBrain):
    """The scripted brain (language by keywords, else the hint, else English) answering from
    the shipped FAQ, so a reply shows the question was understood, not only received."""

    knowledge = KnowledgeBase.shipped()

    def reply(self, text: str, u: Understanding, window: ContextWindow) -> str:
        hit = self.knowledge.best(text, u.language)
        return hit.answer if hit is not None else f"[{u.language}] no answer"


@pytest.fixture(scope="module")
def engine() -> WhisperSpeech:
    return WhisperSpeech()


def silence_ogg(seconds: float = 2.0) -> bytes:
    rate = 48_000
    noise = np.random.default_rng(7).normal(0, 0.002, int(rate * seconds)).astype("float32")
    out = io.BytesIO()
    sf.write(out, noise, rate, format="OGG", subtype="OPUS")
    return out.getvalue()


def test_spanish_and_english_notes_are_heard(engine: WhisperSpeech) -> None:
    spanish = engine.recognise(speak_ogg(SAID_ES, "es", 150), "es")
    english = engine.recognise(speak_ogg(SAID_EN, "en-us", 150), "en")
    assert (spanish.language, english.language) == ("es", "en")
    assert word_error_rate([SAID_ES], [spanish.text]) <= 0.25, spanish
    assert word_error_rate([SAID_EN], [english.text]) <= 0.25, english
    assert min(spanish.confidence, english.confidence) >= engine.min_confidence
    # The language comes from the audio: an English note in a Spanish conversation is English.
    assert engine.recognise(speak_ogg(SAID_EN, "en-us", 150), "es").language == "en"


def test_a_note_without_speech_is_not_acted_on(engine: WhisperSpeech) -> None:
    with pytest.raises(CannotTranscribe) as caught:
        engine.transcribe(silence_ogg(), "es")
    assert caught.value.reason in {"no_speech_recognised", "low_confidence"}


@pytest.fixture()
def channel(settings: Settings) -> Iterator[Channel]:
    with open_channel(settings, clock=lambda: VOICE_CLOCK) as opened:
        opened.brain = opened.runtime.pipeline.brain = FaqBrain()
        yield opened


def voice_note_from(phone: str, message_id: str) -> bytes:
    """The sample voice-note webhook, sent by ``phone``."""
    body = json.loads(sample_bytes("05_audio_voice_note.json"))
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = phone
    value["messages"][0]["from"] = phone
    value["messages"][0]["id"] = message_id
    value["messages"][0]["audio"]["id"] = MEDIA_ID
    return json.dumps(body).encode()


def inbound(channel: Channel) -> list[tuple[str, dict[str, object]]]:
    cipher = channel_cipher(channel.platform)
    with UnitOfWork(channel.platform.session_factory) as uow:
        rows = uow.session.scalars(
            sa.select(ChatMessage).where(ChatMessage.direction == "in").order_by(ChatMessage.id)
        ).all()
        return [(cipher.decrypt(r.body_enc), dict(r.meta["media"])) for r in rows]


@pytest.mark.parametrize(
    ("phone", "said", "voice", "language"),
    [(SPANISH_PHONE, SAID_ES, "es", "es"), (ENGLISH_PHONE, SAID_EN, "en-us", "en")],
)
def test_voice_note_is_answered_through_the_live_channel(
    client: TestClient, channel: Channel, phone: str, said: str, voice: str, language: str
) -> None:
    channel.fake.state.add_media(MEDIA_ID, speak_ogg(said, voice, 150), "audio/ogg")
    deliver(client, voice_note_from(phone, f"wamid.voice-{language}"))
    channel.drain()
    [(text, media)] = inbound(channel)
    assert media["transcribed"] is True and not media.get("error")
    assert word_error_rate([said], [text]) <= 0.25, text
    assert channel.brain.seen == [text]  # the brain read the transcript
    typed = FaqBrain.knowledge.best(said, language)
    assert typed is not None and typed.entry.id == "invoices"
    [reply] = channel.fake.state.sent_to(phone)
    # The same answer, in the same language, as if the customer had typed what they said.
    assert reply["body"]["text"]["body"] == typed.answer


@pytest.mark.parametrize(
    ("phone", "opening"),
    [(ENGLISH_PHONE, "Sorry, I couldn't make out"), (SPANISH_PHONE, "Lo siento, no he podido")],
)
def test_unintelligible_note_asks_to_write_in_the_country_language(
    client: TestClient, channel: Channel, phone: str, opening: str
) -> None:
    channel.fake.state.add_media(MEDIA_ID, silence_ogg(), "audio/ogg")
    deliver(client, voice_note_from(phone, "wamid.voice-silence"))
    channel.drain()
    [(text, media)] = inbound(channel)
    assert text == "" and media["transcribed"] is False
    assert channel.brain.seen == []  # nothing was guessed at
    [reply] = channel.fake.state.sent_to(phone)
    body = reply["body"]["text"]["body"]
    if media["error"] == "low_confidence":
        opening = "I'm not sure" if phone == ENGLISH_PHONE else "No estoy seguro"
    assert body.startswith(opening), body
