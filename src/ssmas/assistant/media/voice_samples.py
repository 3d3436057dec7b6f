"""Voice notes to measure speech to text with: publisher-support phrases in Spanish and English,
spoken by espeak-ng (Debian) in several voices and speeds and encoded as WhatsApp sends them
(Ogg Opus, mono, 48 kHz); and the word error rate to score a transcript with.

Used by ``benchmarks/assistant_voice.py`` and the voice tests; nothing here runs in the channel.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

PHRASES: dict[str, tuple[str, ...]] = {
    "es": (
        "No he recibido el pago de este mes",
        "Quiero cambiar la cuenta bancaria donde me pagan",
        "Mi libro no aparece en la tienda",
        "Necesito la factura del mes pasado",
        "Los ingresos de mi página han bajado mucho",
        "Cuándo llega la próxima transferencia",
        "No puedo entrar en mi cuenta",
        "Quiero hablar con una persona",
        "El anuncio no se muestra en mi web",
        "Cuál es el pago mínimo para cobrar",
    ),
    "en": (
        "I have not received my payment this month",
        "I want to change the bank account you pay me to",
        "My book does not appear in the store",
        "I need the invoice for last month",
        "The revenue of my website dropped a lot",
        "When will the next transfer arrive",
        "I cannot log in to my account",
        "I want to talk to a person",
        "The ad is not showing on my site",
        "What is the minimum payment threshold",
    ),
}

# (espeak-ng voice, words per minute): two accents and a female variant per language, three speeds.
VOICES: dict[str, tuple[tuple[str, int], ...]] = {
    "es": (("es", 150), ("es-419", 130), ("es+f3", 175)),
    "en": (("en-us", 150), ("en-gb", 130), ("en-us+f3", 175)),
}

OPUS_RATE = 48_000


@dataclass(frozen=True)
class VoiceNote:
    """One synthesised voice note and the words it says."""

    language: str
    text: str
    voice: str
    speed: int
    ogg: bytes


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak_ogg(text: str, voice: str, speed: int = 150) -> bytes:
    """``text`` spoken by espeak-ng and encoded as Ogg Opus at 48 kHz, like a WhatsApp voice
    note (libsndfile encodes; espeak-ng's 22.05 kHz output is resampled first)."""
    from math import gcd

    import numpy as np
    import soundfile as sf
    from scipy.signal import resample_poly

    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
    common = gcd(OPUS_RATE, int(rate))
    resampled = resample_poly(samples, OPUS_RATE // common, int(rate) // common)
    out = io.BytesIO()
    sf.write(out, np.asarray(resampled, "float32"), OPUS_RATE, format="OGG", subtype="OPUS")
    return out.getvalue()


def voice_notes(language: str, limit: int | None = None) -> Iterator[VoiceNote]:
    """Each phrase of ``language`` (the first ``limit``) in one voice, the voices taken in turn."""
    voices = VOICES[language]
    for i, text in enumerate(PHRASES[language][:limit]):
        voice, speed = voices[i % len(voices)]
        yield VoiceNote(language, text, voice, speed, speak_ogg(text, voice, speed))


def normalise_words(text: str) -> list[str]:
    """Lower-case words without punctuation (accents kept: "página" and "pagina" differ)."""
    text = unicodedata.normalize("NFC", text.lower())
    return re.sub(r"[^\w\s']|_", " ", text).split()


def word_edits(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level edit distance: substitutions, deletions and insertions to turn one into the
    other (Levenshtein over words, one row at a time)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),  # substitution or match
                )
            )
        previous = current
    return previous[-1]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: all word edits over all reference words (after ``normalise_words``)."""
    if len(references) != len(hypotheses):
        raise ValueError("one hypothesis per reference")
    edits = words = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref = normalise_words(reference)
        edits += word_edits(ref, normalise_words(hypothesis))
        words += len(ref)
    if words == 0:
        raise ValueError("the references have no words")
    return edits / words
