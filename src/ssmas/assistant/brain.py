"""What the text pipeline asks of the assistant's intelligence, as one small port.

``Brain`` bundles language/intent/sentiment (NLU), the escalation decision and the reply; the
pipeline knows nothing else of them. ``channel_message`` holds the channel's own fixed lines
(handoff, media fallbacks) in Spanish and English.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ssmas.assistant.escalation import HANDOFF_MESSAGES

if TYPE_CHECKING:
    from ssmas.assistant.context import ContextWindow
    from ssmas.assistant.nlu.entities import Entity


@dataclass(frozen=True)
class Understanding:
    """NLU output for one message."""

    language: str
    intent: str
    confidence: float
    sentiment: str = "neutral"
    sentiment_score: float = 0.0
    negative_score: float = 0.0
    out_of_scope: bool = False
    entities: tuple[Entity, ...] = ()


@dataclass(frozen=True)
class EscalationCall:
    """The seed's escalation decision (escalate at a score of 50 or more)."""

    escalate: bool
    score: int
    reasons: list[str] = field(default_factory=list)
    priority: str = "medium"
    department: str = "general"


class Brain(Protocol):
    """Understands a message, decides on escalation and writes the reply.

    Optional: ``prepare(items: Sequence[tuple[str, str | None]]) -> None``. The text pipeline
    calls it (when the brain has it) with the ``(text, language hint)`` pairs of a round before
    calling ``understand`` / ``judge`` / ``reply`` per message, so a brain can do its vector
    work for the whole round at once and cache it. A brain with ``prepare`` must answer those
    calls exactly as it would without it (``SeedBrain`` does; see ``seed_brain``). It is not
    declared here, so brains without it still satisfy the protocol.

    Optional too: ``follow(text, understanding, window) -> Understanding``. The pipeline calls
    it (when the brain has it) right after ``understand``, so the conversation can change what
    a message means (an answer to a form's question); ``judge``, ``reply`` and the stored
    intent then use what it returns.
    """

    def understand(self, text: str, hint_language: str | None) -> Understanding: ...

    def judge(
        self, text: str, understanding: Understanding, window: ContextWindow
    ) -> EscalationCall: ...

    def reply(self, text: str, understanding: Understanding, window: ContextWindow) -> str: ...


_MESSAGES: dict[str, dict[str, str]] = {
    "handoff": HANDOFF_MESSAGES,
    "audio_unsupported_language": {
        "es": "Lo siento, solo entiendo notas de voz en español o en inglés. "
        "¿Podrías escribirme tu consulta?",
        "en": "Sorry, I can only understand voice notes in English or Spanish. "
        "Could you type your question?",
    },
    "audio_no_engine": {
        "es": "Lo siento, ahora mismo no puedo escuchar notas de voz. "
        "¿Podrías escribirme tu consulta?",
        "en": "Sorry, I can't listen to voice notes right now. Could you type your question?",
    },
    "audio_low_confidence": {
        "es": "No estoy seguro de haber entendido bien tu nota de voz y prefiero no adivinar. "
        "¿Podrías escribirme tu consulta?",
        "en": "I'm not sure I understood your voice note and would rather not guess. "
        "Could you type your question?",
    },
    "audio_not_understood": {
        "es": "Lo siento, no he podido entender la nota de voz. ¿Podrías escribirme tu consulta?",
        "en": "Sorry, I couldn't make out your voice note. Could you type your question?",
    },
    "media_not_found": {
        "es": "No he podido descargar el archivo que enviaste. ¿Podrías enviarlo de nuevo?",
        "en": "I couldn't download the file you sent. Could you send it again?",
    },
    "media_unreadable": {
        "es": "He recibido tu archivo, pero no he podido leerlo. ¿Podrías describirme el "
        "problema por escrito?",
        "en": "I got your file but couldn't read it. Could you describe the problem in writing?",
    },
    "unsupported": {
        "es": "Por ahora solo puedo leer texto, fotos, documentos y notas de voz.",
        "en": "For now I can only read text, photos, documents and voice notes.",
    },
}

AUDIO_REASONS = {
    "unsupported_language": "audio_unsupported_language",
    "no_engine": "audio_no_engine",
    "low_confidence": "audio_low_confidence",
}

SPANISH_PREFIXES = (
    "34",
    "52",
    "54",
    "56",
    "57",
    "51",
    "58",
    "593",
    "502",
    "503",
    "504",
    "505",
    "506",
    "507",
    "591",
    "595",
    "598",
    "53",
    "1809",
    "1829",
    "1849",
)


def guess_language(phone: str) -> str:
    """Spanish for Spain and Latin American country codes, English otherwise (a first guess)."""
    return "es" if phone.startswith(SPANISH_PREFIXES) else "en"


def channel_message(name: str, language: str | None, phone: str | None = None) -> str:
    """A fixed channel line in ``language``; when that is unknown, in the language of the
    customer's country code (``phone``), else Spanish."""
    lines = _MESSAGES[name]
    if language is None and phone:
        language = guess_language(phone)
    return lines.get(language or "es", lines["es"])


def media_error_message(
    error: str, language: str | None, *, audio: bool, phone: str | None = None
) -> str:
    """The reply for a media failure code from ``MediaInfo.error``, in the conversation's
    language or, for a customer not yet heard from, that of their country code."""
    if language is None and phone:
        language = guess_language(phone)
    if audio:
        return channel_message(AUDIO_REASONS.get(error, "audio_not_understood"), language)
    if error == "media_not_found":
        return channel_message("media_not_found", language)
    return channel_message("media_unreadable", language)
