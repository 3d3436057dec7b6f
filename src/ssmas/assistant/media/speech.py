"""Speech to text: the ``SpeechToText`` port and an offline English engine (PocketSphinx).

Audio is decoded with libsndfile (``soundfile``: WAV, FLAC, Ogg Vorbis and Opus — WhatsApp voice
notes are Ogg Opus), mixed to mono and resampled to 16 kHz. Languages without an engine raise
``CannotTranscribe``, which the pipeline turns into a clear reply in the customer's language.
"""

from __future__ import annotations

import io
import threading
from math import gcd
from typing import Any, Protocol


class CannotTranscribe(Exception):
    """This audio cannot be transcribed here; ``reason`` is a short code for logs and replies."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class SpeechToText(Protocol):
    """Transcribes audio in one of ``languages``; raises ``CannotTranscribe`` otherwise."""

    languages: frozenset[str]

    def transcribe(self, audio: bytes, language: str) -> str: ...


def decode_audio(audio: bytes, rate: int = 16_000, max_seconds: float = 300.0) -> bytes:
    """16-bit little-endian mono PCM at ``rate`` Hz from any container libsndfile reads."""
    import numpy as np
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        samples, source_rate = sf.read(io.BytesIO(audio), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise CannotTranscribe("unreadable_audio", str(exc)) from exc
    if len(samples) > max_seconds * source_rate:
        raise CannotTranscribe("audio_too_long", f"over {max_seconds:g}s")
    mono = samples.mean(axis=1)
    if source_rate != rate:
        common = gcd(int(source_rate), rate)
        mono = resample_poly(mono, rate // common, int(source_rate) // common)
    pcm: bytes = (np.clip(mono, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return pcm


class PocketSphinxEnglish:
    """Offline US-English recognition with the model that ships in the ``pocketsphinx`` wheel.

    The decoder loads lazily (about a second) and is reused; calls are serialised.
    """

    languages = frozenset({"en"})

    def __init__(self) -> None:
        self._decoder: Any = None
        self._lock = threading.Lock()

    def _get_decoder(self) -> Any:
        if self._decoder is None:
            try:
                from pocketsphinx import Decoder
            except ImportError as exc:
                raise CannotTranscribe("no_engine", "pip install pocketsphinx") from exc
            # Narrower search than the defaults: same words on short voice notes, ~2x faster.
            self._decoder = Decoder(
                samprate=16_000, logfn="/dev/null", maxhmmpf=3000, maxwpf=5, pl_window=5
            )
        return self._decoder

    def transcribe(self, audio: bytes, language: str) -> str:
        if language not in self.languages:
            raise CannotTranscribe("unsupported_language", language)
        pcm = decode_audio(audio)
        with self._lock:
            decoder = self._get_decoder()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            hypothesis = decoder.hyp()
        text = " ".join((hypothesis.hypstr if hypothesis is not None else "").split())
        if not text:
            raise CannotTranscribe("no_speech_recognised")
        return text


class NoSpeechToText:
    """The engine to use when none is installed: every call says so."""

    languages: frozenset[str] = frozenset()

    def transcribe(self, audio: bytes, language: str) -> str:
        raise CannotTranscribe("no_engine")
