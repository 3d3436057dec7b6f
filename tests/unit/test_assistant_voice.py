"""Voice notes without the model: the word error rate (against jiwer's), the choice of language,
the confidence floor, the engine the settings pick and the fallback replies' language."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from ssmas.assistant.brain import guess_language, media_error_message
from ssmas.assistant.media.speech import (
    CannotTranscribe,
    NoSpeechToText,
    PocketSphinxEnglish,
    WhisperSpeech,
    choose_language,
    directory_loader,
    speech_engine,
    transcript_confidence,
)
from ssmas.assistant.media.voice_samples import normalise_words, word_edits, word_error_rate
from ssmas.settings import SettingsError, WhatsAppSettings, load_settings

PAIRS = [
    ("No he recibido el pago de este mes", "No he recibido el palo de este mes."),
    ("Quiero cambiar la cuenta bancaria", "quiero cambiar la cuenta vancar ya"),
    ("I need the invoice for last month", "I need invoice for the last month"),
    ("My book does not appear in the store", "My book does not appear in the store!"),
    ("Cuál es el pago mínimo", "¿Cuál es el pago minimo para cobrar?"),
    ("When will the next transfer arrive", ""),
]


def test_word_edits_by_hand() -> None:
    assert word_edits(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert word_edits(["a", "b", "c", "d"], ["a", "x", "c"]) == 2  # one substitution, one deletion
    assert word_edits(["a"], ["a", "b", "c"]) == 2  # two insertions
    assert word_edits([], ["a"]) == 1
    assert word_error_rate(["a b c d"], ["a x c"]) == 0.5
    assert word_error_rate(["hello"], ["hello there friend"]) == 2.0  # WER can exceed 1


def test_normalisation_drops_case_and_punctuation_not_accents() -> None:
    assert normalise_words("¿Cuál es el PAGO mínimo?") == ["cuál", "es", "el", "pago", "mínimo"]
    assert word_error_rate(["página"], ["pagina"]) == 1.0


def test_word_error_rate_matches_jiwer() -> None:
    jiwer = pytest.importorskip("jiwer")
    refs = [" ".join(normalise_words(r)) for r, _ in PAIRS]
    hyps = [" ".join(normalise_words(h)) for _, h in PAIRS]
    for (ref, hyp), r, h in zip(PAIRS, refs, hyps, strict=True):
        assert word_error_rate([ref], [hyp]) == pytest.approx(jiwer.wer(r, h))
    assert word_error_rate([r for r, _ in PAIRS], [h for _, h in PAIRS]) == pytest.approx(
        jiwer.wer(refs, hyps)  # corpus-level: all edits over all reference words
    )
    with pytest.raises(ValueError):
        word_error_rate(["a"], [])


def test_language_is_kept_to_spanish_and_english_with_the_hint_winning_close_calls() -> None:
    both = frozenset({"es", "en"})
    assert choose_language({"es": 0.7, "en": 0.2}, both, None) == "es"
    assert choose_language({"pt": 0.5, "es": 0.2, "en": 0.25}, both, None) == "en"
    assert choose_language({"en": 0.4, "es": 0.2}, both, "es") == "es"  # 0.2 x 3 > 0.4
    assert choose_language({"en": 0.7, "es": 0.2}, both, "es") == "en"  # clearly English
    with pytest.raises(CannotTranscribe) as caught:
        choose_language({"fr": 0.9, "es": 0.05}, both, "es")
    assert caught.value.reason == "unsupported_language"


def test_confidence_is_the_mean_token_probability_and_zero_for_a_loop() -> None:
    assert transcript_confidence([(10, -0.1, 1.2)]) == pytest.approx(np.exp(-0.1))
    weighted = transcript_confidence([(30, -0.1, 1.0), (10, -1.3, 1.1)])
    assert weighted == pytest.approx(np.exp((30 * -0.1 + 10 * -1.3) / 40))
    assert transcript_confidence([(10, -0.05, 3.1)]) == 0.0  # "no no no no no ..."
    assert transcript_confidence([]) == 0.0


class FakeWhisper:
    """faster-whisper's two calls, answering what a test sets."""

    def __init__(self, probs: dict[str, float], text: str, logprob: float) -> None:
        self.probs, self.text, self.logprob = probs, text, logprob
        self.languages: list[str | None] = []

    def detect_language(self, audio: Any) -> tuple[str, float, list[tuple[str, float]]]:
        top = max(self.probs, key=lambda k: self.probs[k])
        return top, self.probs[top], list(self.probs.items())

    def transcribe(self, audio: Any, language: str | None = None, **_: Any) -> tuple[Any, Any]:
        self.languages.append(language)
        segment = SimpleNamespace(
            text=self.text, tokens=[1] * 8, avg_logprob=self.logprob, compression_ratio=1.1
        )
        return iter([segment] if self.text else []), None


def speech_ogg(seconds: float = 1.0) -> bytes:
    rate = 48_000
    t = np.linspace(0, seconds, int(rate * seconds), endpoint=False)
    out = io.BytesIO()
    wave = (0.2 * np.sin(2 * np.pi * 220 * t)).astype("float32")
    sf.write(out, wave, rate, format="OGG", subtype="OPUS")
    return out.getvalue()


def engine_with(fake: FakeWhisper, min_confidence: float = 0.55) -> WhisperSpeech:
    engine = WhisperSpeech(min_confidence=min_confidence)
    engine._model = fake
    return engine


def test_sure_transcript_is_returned_in_the_chosen_language() -> None:
    fake = FakeWhisper({"es": 0.3, "en": 0.35, "it": 0.2}, " Quiero hablar con una persona.", -0.1)
    assert engine_with(fake).transcribe(speech_ogg(), "es") == "Quiero hablar con una persona."
    assert fake.languages == ["es"]  # the conversation's Spanish won a close call


def test_unsure_transcript_is_refused_not_guessed() -> None:
    fake = FakeWhisper({"es": 0.9}, " No recibimos el palo ASMR.", -0.9)  # p = 0.41
    engine = engine_with(fake)
    with pytest.raises(CannotTranscribe) as caught:
        engine.transcribe(speech_ogg(), "es")
    assert caught.value.reason == "low_confidence"
    heard = engine.recognise(speech_ogg(), "es")  # the benchmark still sees what was heard
    assert heard.text == "No recibimos el palo ASMR." and heard.confidence == pytest.approx(
        np.exp(-0.9)
    )
    assert engine_with(fake, min_confidence=0.4).transcribe(speech_ogg(), "es")


def test_silence_short_clips_and_garbage_are_refused() -> None:
    with pytest.raises(CannotTranscribe) as caught:
        engine_with(FakeWhisper({"en": 0.9}, "", 0.0)).transcribe(speech_ogg(), "en")
    assert caught.value.reason == "no_speech_recognised"
    with pytest.raises(CannotTranscribe) as caught:
        engine_with(FakeWhisper({"en": 0.9}, "hi", 0.0)).transcribe(speech_ogg(0.1), "en")
    assert caught.value.reason == "no_speech_recognised"
    with pytest.raises(CannotTranscribe) as caught:
        engine_with(FakeWhisper({"en": 0.9}, "hi", 0.0)).transcribe(b"not audio", "en")
    assert caught.value.reason == "unreadable_audio"


def test_settings_pick_the_engine(tmp_path: Path) -> None:
    assert isinstance(speech_engine(WhatsAppSettings()), WhisperSpeech)
    assert speech_engine(WhatsAppSettings()).min_confidence == 0.55
    assert isinstance(speech_engine(WhatsAppSettings(voice_engine="none")), NoSpeechToText)
    engine = speech_engine(WhatsAppSettings(voice_engine="pocketsphinx"))
    assert isinstance(engine, PocketSphinxEnglish)
    assert directory_loader(str(tmp_path)) is directory_loader(str(tmp_path))  # loaded once
    empty = speech_engine(WhatsAppSettings(voice_model_dir=str(tmp_path)))
    with pytest.raises(CannotTranscribe) as caught:
        empty.transcribe(speech_ogg(), "es")
    assert caught.value.reason == "no_engine"


def test_bad_voice_settings_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSMAS_WHATSAPP_VOICE_ENGINE", "siri")
    with pytest.raises(SettingsError, match="SSMAS_WHATSAPP_VOICE_ENGINE"):
        load_settings()
    monkeypatch.setenv("SSMAS_WHATSAPP_VOICE_ENGINE", "whisper")
    monkeypatch.setenv("SSMAS_WHATSAPP_VOICE_MIN_CONFIDENCE", "1.5")
    with pytest.raises(SettingsError, match="SSMAS_WHATSAPP_VOICE_MIN_CONFIDENCE"):
        load_settings()


def test_fallback_replies_speak_the_conversation_or_country_language() -> None:
    assert guess_language("5215512345678") == "es" and guess_language("14155550123") == "en"
    english = media_error_message("low_confidence", None, audio=True, phone="14155550123")
    assert english.startswith("I'm not sure I understood your voice note")
    spanish = media_error_message("low_confidence", None, audio=True, phone="5215512345678")
    assert spanish.startswith("No estoy seguro de haber entendido")
    # The conversation's language beats the country code.
    assert media_error_message("no_speech_recognised", "en", audio=True, phone="34600000000") == (
        "Sorry, I couldn't make out your voice note. Could you type your question?"
    )
    french = media_error_message("unsupported_language", None, audio=True, phone="34600000000")
    assert "español o en inglés" in french
    assert "right now" in media_error_message("no_engine", "en", audio=True)


def test_a_changed_bundled_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ssmas.assistant.media import speech

    assert set(speech.bundled_whisper_files()) == set(speech.BUNDLED_WHISPER_SHA256)
    monkeypatch.setitem(speech.BUNDLED_WHISPER_SHA256, "config.json", "0" * 64)
    with pytest.raises(speech.CannotTranscribe, match="SHA-256"):
        speech.bundled_whisper_files()
