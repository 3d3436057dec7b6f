"""The offline responder: a reply from intent templates and the FAQ, in the customer's language.

Order: hand-off when the escalation said so; greetings and thanks; a strong FAQ match; the
template of a confident, in-scope intent (or the FAQ entry tied to it); a weaker FAQ match; a
clarifying fallback. Every reply passes ``check_reply`` (length, language, no personal data);
a reply that fails is replaced by the fallback, so nothing unsafe leaves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ssmas.assistant.escalation import EscalationDecision, handoff_message, score_escalation
from ssmas.assistant.knowledge import STOPWORDS, KnowledgeBase
from ssmas.assistant.nlu.analyser import NLU, NluResult

MAX_REPLY_CHARS = 1000
STRONG_FAQ = 0.45
INTENT_CONFIDENCE = 0.5

Source = Literal["handoff", "smalltalk", "faq", "template", "fallback"]

TEMPLATES: dict[str, dict[str, str]] = {
    "greeting": {
        "es": "¡Hola{name}! Soy el asistente de soporte a editores. ¿En qué te puedo ayudar?",
        "en": "Hi{name}! I'm the publisher support assistant. How can I help you?",
    },
    "thanks": {
        "es": "¡Gracias a ti! Si necesitas algo más, escríbeme aquí.",
        "en": "You're welcome! If you need anything else, just write here.",
    },
    "goodbye": {"es": "¡Hasta pronto!", "en": "Goodbye, have a nice day!"},
    "complaint": {
        "es": "Siento mucho lo ocurrido. He registrado tu queja y un agente la revisará; "
        "cuéntame qué pasó con el mayor detalle posible.",
        "en": "I'm sorry about this. I have logged your complaint and an agent will review it; "
        "please tell me what happened in as much detail as you can.",
    },
    "request_refund": {
        "es": "Entiendo que quieres un reembolso. Indícame el número de factura o de pedido "
        "y lo tramitamos.",
        "en": "I understand you would like a refund. Send me the invoice or order number and "
        "we will process it.",
    },
    "refund_not_showing_up": {
        "es": "Los reembolsos aprobados tardan de 5 a 10 días laborables en llegar.",
        "en": "Approved refunds take 5 to 10 working days to arrive.",
    },
    "contact_human_agent": {
        "es": "De acuerdo, te paso con una persona del equipo.",
        "en": "Sure, I'm passing you to a person on our team.",
    },
}
FALLBACK = {
    "es": "No estoy seguro de haberte entendido. ¿Puedes contármelo con otras palabras? "
    "Si prefieres, escribe 'agente' y te atenderá una persona.",
    "en": "I'm not sure I understood. Could you say it in other words? "
    "If you prefer, write 'agent' and a person will help you.",
}
SMALLTALK = {
    "greeting": re.compile(
        r"^\s*(hola|buen[oa]s( d[ií]as| tardes| noches)?|hi|hello|hey|"
        r"good (morning|afternoon|evening))\b[\s!.,]*$",
        re.I,
    ),
    "thanks": re.compile(
        r"^\s*(muchas |mil )?(gracias|thanks?( you)?|thx|ty)( (por todo|for everything|"
        r"a lot|so much|very much))?[\s!.,:)\U0001F44D\U0001F64F]*$",
        re.I,
    ),
    "goodbye": re.compile(r"^\s*(adi[oó]s|chao|hasta luego|bye|goodbye|see you)\b[\s!.,]*$", re.I),
}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<![\w.])\+?\d[\d\s().-]{7,}\d(?![\w.])")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){13,19}(?!\d)")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@dataclass(frozen=True)
class Reply:
    text: str
    language: str
    source: Source
    faq_id: str | None = None


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def language_of(text: str) -> str | None:
    """``es`` / ``en`` by stop words, or ``None`` when the text does not say."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    counts = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    es, en = counts["es"], counts["en"]
    if es + en < 3:
        return None
    return "es" if es > en else "en" if en > es else None


def check_reply(text: str, language: str) -> list[str]:
    """Problems that stop a reply from being sent; an empty list means it is fine."""
    problems: list[str] = []
    if not text.strip():
        return ["empty"]
    if len(text) > MAX_REPLY_CHARS:
        problems.append("too_long")
    detected = language_of(text)
    if detected is not None and detected != language:
        problems.append("wrong_language")
    if _EMAIL.search(text):
        problems.append("email")
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits):
            problems.append("card_number")
            break
    if "card_number" not in problems and any(
        len(re.sub(r"\D", "", m.group(0))) >= 9 for m in _PHONE.finditer(text)
    ):
        problems.append("phone_number")
    if _PLACEHOLDER.search(text):
        problems.append("placeholder")
    return problems


def smalltalk(text: str) -> str | None:
    return next((kind for kind, rx in SMALLTALK.items() if rx.match(text)), None)


def compose_reply(
    text: str,
    nlu: NluResult,
    knowledge: KnowledgeBase,
    *,
    customer_name: str | None = None,
    escalation: EscalationDecision | None = None,
) -> Reply:
    """The reply to one message, already checked; ``customer_name`` personalises greetings only."""
    lang = nlu.language if nlu.language in FALLBACK else "es"
    reply = _draft(text, nlu, knowledge, lang, customer_name, escalation)
    if check_reply(reply.text, lang):
        return Reply(FALLBACK[lang], lang, "fallback")
    return reply


def _draft(
    text: str,
    nlu: NluResult,
    knowledge: KnowledgeBase,
    lang: str,
    customer_name: str | None,
    escalation: EscalationDecision | None,
) -> Reply:
    if escalation is not None and escalation.escalate:
        return Reply(handoff_message(lang), lang, "handoff")
    kind = smalltalk(text)
    if kind is not None:
        first = (customer_name or "").split(" ")[0]
        name = f" {first}" if kind == "greeting" and first.isalpha() else ""
        return Reply(TEMPLATES[kind][lang].replace("{name}", name), lang, "smalltalk")
    hit = knowledge.best(text, lang)
    if hit is not None and hit.score >= STRONG_FAQ:
        return Reply(hit.answer, lang, "faq", hit.entry.id)
    if not nlu.out_of_scope and nlu.intent_confidence >= INTENT_CONFIDENCE:
        if nlu.intent in TEMPLATES:
            return Reply(TEMPLATES[nlu.intent][lang], lang, "template")
        tied = knowledge.for_intent(nlu.intent, lang)
        if tied is not None:
            return Reply(tied.answer, lang, "faq", tied.entry.id)
    if hit is not None:
        return Reply(hit.answer, lang, "faq", hit.entry.id)
    return Reply(FALLBACK[lang], lang, "fallback")


@dataclass(frozen=True)
class Answer:
    """Everything the pipeline decided about one message."""

    analysis: NluResult
    escalation: EscalationDecision
    reply: Reply


def answer_message(
    text: str,
    nlu: NLU,
    knowledge: KnowledgeBase,
    *,
    context_length: int,
    history: Sequence[str] = (),
    customer_name: str | None = None,
    language: str | None = None,
) -> Answer:
    """Analyse, score escalation, and compose the reply of one customer message.

    ``context_length`` counts the messages already in the conversation context (the seed's
    ``len(context)``); ``history`` holds earlier customer texts, used to pick a department.
    """
    analysis = nlu.analyse(text, language)
    decision = score_escalation(
        text,
        context_length=context_length,
        ai_confidence=analysis.intent_confidence,
        sentiment=analysis.sentiment,
        negative_score=analysis.negative_score,
        intent=None if analysis.out_of_scope else analysis.intent,
        history=history,
    )
    reply = compose_reply(
        text, analysis, knowledge, customer_name=customer_name, escalation=decision
    )
    return Answer(analysis, decision, reply)
