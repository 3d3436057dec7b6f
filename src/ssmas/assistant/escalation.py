"""When to hand a conversation to a human: the seed's escalation score, exactly, with its reasons.

Points (seed ``should_escalate``): negative sentiment with a negative score above 0.8 → 30;
intent confidence below 0.6 → 25; more than 15 messages in the context → 20; an escalation
keyword anywhere in the message (substring, case- and accent-insensitive; English and Spanish)
→ 35; a complex query → 15. Escalate at 50 or more. Priority and department are derived from the
same evidence so the human queue can sort and route without another model.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

THRESHOLD = 50
NEGATIVE_SCORE_MIN = 0.8
CONFIDENCE_MIN = 0.6
LONG_CONVERSATION = 15
COMPLEX_WORDS = 40
COMPLEX_QUESTIONS = 2

POINTS = {
    "negative_sentiment": 30,
    "low_confidence": 25,
    "long_conversation": 20,
    "keywords": 35,
    "complex_query": 15,
}
REASONS = {
    "negative_sentiment": "Negative sentiment detected",
    "low_confidence": "Low AI confidence",
    "long_conversation": "Long conversation without resolution",
    "keywords": "Escalation keywords detected",
    "complex_query": "Complex query detected",
}
KEYWORDS_EN = ("cancel", "refund", "complaint", "manager", "supervisor")
KEYWORDS_ES = (
    "cancelar",
    "cancelacion",
    "reembolso",
    "devolucion",
    "devuelvan",
    "queja",
    "reclamacion",
    "reclamo",
    "gerente",
    "supervisor",
    "encargado",
)
DEPARTMENT_WORDS: dict[str, tuple[str, ...]] = {
    "billing": (
        "refund",
        "invoice",
        "payment",
        "paid",
        "charge",
        "money",
        "reembolso",
        "factura",
        "pago",
        "cobr",
        "dinero",
        "devolucion",
        "devuelvan",
    ),
    "retention": ("cancel", "close my account", "delete", "baja", "cancelar", "borrar"),
    "technical": (
        "error",
        "not working",
        "broken",
        "bug",
        "ads.txt",
        "tag",
        "integration",
        "login",
        "password",
        "no funciona",
        "contrasena",
        "roto",
    ),
}
INTENT_DEPARTMENTS = {
    "request_refund": "billing",
    "refund_not_showing_up": "billing",
    "get_invoice": "billing",
    "payment_issue": "billing",
    "cancel_order": "retention",
    "terminate_account": "retention",
    "passcode_forgotten": "technical",
    # the shipped domain's intents (assistant/data/domain)
    "payment_status": "billing",
    "payment_threshold": "billing",
    "payment_details": "billing",
    "invoice": "billing",
    "account_access": "technical",
    "integration": "technical",
    "ads_txt": "technical",
}
HANDOFF_MESSAGES = {
    "es": "Te estoy conectando con uno de nuestros especialistas. En breve te contactarán.",
    "en": "I'm connecting you with one of our specialists. They will contact you shortly.",
}

Priority = Literal["low", "medium", "high"]
ReasonCode = Literal[
    "negative_sentiment", "low_confidence", "long_conversation", "keywords", "complex_query"
]


def fold(text: str) -> str:
    """Lower case without accents, for keyword matching."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def has_escalation_keyword(message: str) -> bool:
    folded = fold(message)
    return any(k in folded for k in KEYWORDS_EN + KEYWORDS_ES)


def is_complex_query(message: str) -> bool:
    """More than 40 words, or two or more questions in one message."""
    return len(message.split()) > COMPLEX_WORDS or message.count("?") >= COMPLEX_QUESTIONS


@dataclass(frozen=True)
class EscalationDecision:
    """Outcome of ``score_escalation``; ``reasons`` are the seed's sentences, in its order."""

    escalate: bool
    score: int
    codes: tuple[ReasonCode, ...]
    reasons: tuple[str, ...] = field(default=())
    priority: Priority = "low"
    department: str = "customer_service"


def suggest_department(messages: Sequence[str], intent: str | None = None) -> str:
    """The team whose words appear most in the conversation, else the intent's, else general."""
    if intent in INTENT_DEPARTMENTS:
        return INTENT_DEPARTMENTS[intent]
    folded = [fold(m) for m in messages]
    counts = {
        team: sum(word in m for m in folded for word in words)
        for team, words in DEPARTMENT_WORDS.items()
    }
    team, hits = max(counts.items(), key=lambda kv: kv[1])
    return team if hits else "customer_service"


def priority_of(score: int, codes: Sequence[ReasonCode]) -> Priority:
    """High when angry and asking to cancel / refund / complain, or at 80+; else medium at 50+."""
    if score >= 80 or {"negative_sentiment", "keywords"} <= set(codes):
        return "high"
    return "medium" if score >= THRESHOLD else "low"


def score_escalation(
    message: str,
    *,
    context_length: int,
    ai_confidence: float,
    sentiment: str,
    negative_score: float,
    intent: str | None = None,
    history: Sequence[str] = (),
) -> EscalationDecision:
    """Score one incoming message; ``context_length`` is the number of messages in the context."""
    codes: list[ReasonCode] = []
    if sentiment.lower() == "negative" and negative_score > NEGATIVE_SCORE_MIN:
        codes.append("negative_sentiment")
    if ai_confidence < CONFIDENCE_MIN:
        codes.append("low_confidence")
    if context_length > LONG_CONVERSATION:
        codes.append("long_conversation")
    if has_escalation_keyword(message):
        codes.append("keywords")
    if is_complex_query(message):
        codes.append("complex_query")
    score = sum(POINTS[c] for c in codes)
    return EscalationDecision(
        escalate=score >= THRESHOLD,
        score=score,
        codes=tuple(codes),
        reasons=tuple(REASONS[c] for c in codes),
        priority=priority_of(score, codes),
        department=suggest_department([*history, message], intent),
    )


def handoff_message(language: str) -> str:
    return HANDOFF_MESSAGES.get(language, HANDOFF_MESSAGES["es"])
